/**
 * The outbox's public types and its options: defaults and checks (an unknown or out-of-range option throws
 * EL_ERR_INVALID_ARGUMENT naming it).
 */
import { checkKnownOptions } from '../../lib/options.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AnomalyEvent } from '../../protocol/messages.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';

/** accounted bytes of one telemetry row besides its sensor id (about its size on the wire) */
export const TELEMETRY_ROW_OVERHEAD = 48;

export interface OutboxReading {
  sensor: string;
  /** device timestamp, ms */
  ts: number;
  value: number;
}

export type OutboxEvent = Omit<AnomalyEvent, 'seq'>;

export interface SeqRange {
  /** first seq assigned (0 when nothing was appended) */
  firstSeq: number;
  lastSeq: number;
}

export type Lane = 'events' | 'telemetry';

export interface OutboxBatch {
  lane: Lane;
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** accounted bytes of the records */
  bytes: number;
  /** the JSON array of the records, ready to embed in a wire message */
  json: string;
  /** drop counter when the batch was cut (ack takes a fast path when no telemetry was dropped since) */
  dropEpoch: number;
}

export interface OutboxStats {
  telemetry: number;
  events: number;
  bytes: number;
  /** age of the oldest record, ms (0 when empty) */
  oldestAgeMs: number;
  lastSeq: number;
  drops: { bytes: number; age: number; events: 0 };
  refused: number;
  /** seq rollbacks detected at open (lost WAL) and damaged files quarantined, over the outbox's life */
  incidents: { seqRollbacks: number; quarantined: number };
  /** the volume (file outboxes only): bytes free, and whether the reserve file is in place */
  disk?: { freeBytes: number; reserve: boolean };
}

/** Something the outbox found and repaired at open (also logged): a lost WAL, a quarantined file. */
export interface OutboxIncident {
  code: 'EL_ERR_OUTBOX_SEQ_ROLLBACK' | 'EL_ERR_OUTBOX_CORRUPT';
  message: string;
  details: Record<string, unknown>;
}

export interface SqliteOutboxOptions {
  /** database file; ':memory:' for tests that do not need durability */
  path: string;
  durability?: 'normal' | 'full';
  /** bound on accounted bytes (see the header), default 256 MiB */
  maxBytes?: number;
  /** telemetry older than this is dropped (counted), ms, default 7 days; 0 = no age bound */
  maxAgeMs?: number;
  /** commit the intake buffer at this many rows, default 4096 */
  intakeMaxRows?: number;
  /** or after this long, ms, default 5 */
  intakeLingerMs?: number;
  /**
   * SQLite page cache, KiB, default 2048. better-sqlite3 builds SQLite with a 16 MiB default cache; the outbox's
   * working set is the tail of two tables, and on a small board those 14 MiB are better left to the OS.
   */
  cacheKiB?: number;
  /** new records are refused while the volume would keep less than this free, bytes, default 16 MiB */
  minFreeBytes?: number;
  /** size of the reserve file (`<path>.reserve`) given back to the delete path on a full disk, bytes, default 2 MiB; 0 = none */
  reserveBytes?: number;
  /** seqs the high-water mark is advanced by at least (file `<path>.seq-hwm`), default 10,000 */
  seqBlock?: number;
  /** 'quick' (default): PRAGMA quick_check at open, a damaged file is quarantined and salvaged; 'off' */
  integrityCheck?: 'quick' | 'off';
  clock?: Clock;
  logger?: Logger;
}

export type ResolvedOutboxOptions = Readonly<Required<Omit<SqliteOutboxOptions, 'clock' | 'logger'>>>;

/** The outbox's defaults (also the agent config's `outbox` section's). */
export const OUTBOX_DEFAULTS = Object.freeze({
  durability: 'normal',
  maxBytes: 256 * 1024 * 1024,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  intakeMaxRows: 4096,
  intakeLingerMs: 5,
  cacheKiB: 2048,
  minFreeBytes: 16 * 1024 * 1024,
  reserveBytes: 2 * 1024 * 1024,
  seqBlock: 10_000,
  integrityCheck: 'quick',
} as const satisfies Omit<ResolvedOutboxOptions, 'path'>);

/** Defaults filled in, every option checked; frozen. */
export function resolveOutboxOptions(opts: SqliteOutboxOptions): ResolvedOutboxOptions {
  const known = new Set([
    'path',
    'durability',
    'maxBytes',
    'maxAgeMs',
    'intakeMaxRows',
    'intakeLingerMs',
    'cacheKiB',
    'minFreeBytes',
    'reserveBytes',
    'seqBlock',
    'integrityCheck',
    'clock',
    'logger',
  ]);
  checkKnownOptions('SqliteOutbox', opts, known, 'EL_ERR_INVALID_ARGUMENT');
  if (typeof opts.path !== 'string' || opts.path.length === 0) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteOutbox: path must be a file path or ":memory:"');
  }
  const o = {
    path: opts.path,
    durability: opts.durability ?? OUTBOX_DEFAULTS.durability,
    maxBytes: opts.maxBytes ?? OUTBOX_DEFAULTS.maxBytes,
    maxAgeMs: opts.maxAgeMs ?? OUTBOX_DEFAULTS.maxAgeMs,
    intakeMaxRows: opts.intakeMaxRows ?? OUTBOX_DEFAULTS.intakeMaxRows,
    intakeLingerMs: opts.intakeLingerMs ?? OUTBOX_DEFAULTS.intakeLingerMs,
    cacheKiB: opts.cacheKiB ?? OUTBOX_DEFAULTS.cacheKiB,
    minFreeBytes: opts.minFreeBytes ?? OUTBOX_DEFAULTS.minFreeBytes,
    reserveBytes: opts.reserveBytes ?? OUTBOX_DEFAULTS.reserveBytes,
    seqBlock: opts.seqBlock ?? OUTBOX_DEFAULTS.seqBlock,
    integrityCheck: opts.integrityCheck ?? OUTBOX_DEFAULTS.integrityCheck,
  };
  if (o.durability !== 'normal' && o.durability !== 'full') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `SqliteOutbox: durability must be "normal" or "full", got ${JSON.stringify(o.durability)}`,
    );
  }
  if (o.integrityCheck !== 'quick' && o.integrityCheck !== 'off') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `SqliteOutbox: integrityCheck must be "quick" or "off", got ${JSON.stringify(o.integrityCheck)}`,
    );
  }
  for (const k of [
    'maxBytes',
    'maxAgeMs',
    'intakeMaxRows',
    'intakeLingerMs',
    'cacheKiB',
    'minFreeBytes',
    'reserveBytes',
    'seqBlock',
  ] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `SqliteOutbox: ${k} must be a non-negative number, got ${o[k]}`,
      );
    }
  }
  if (!Number.isInteger(o.seqBlock) || o.seqBlock < 1)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `SqliteOutbox: seqBlock must be an integer >= 1, got ${o.seqBlock}`,
    );
  if (o.intakeMaxRows < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteOutbox: intakeMaxRows must be >= 1');
  if (!Number.isInteger(o.cacheKiB) || o.cacheKiB < 64)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `SqliteOutbox: cacheKiB must be an integer >= 64, got ${o.cacheKiB}`,
    );
  return Object.freeze(o);
}
