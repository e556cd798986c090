/**
 * The outbox's public types and its options: one lib/options.ts schema with what each option means and its default
 * (an unknown option is refused with a suggestion, a bad value names the field; EL_ERR_INVALID_ARGUMENT).
 */
import { z } from 'zod';
import { clockAndLogger, parseOptions } from '../../lib/options.ts';
import type { AnomalyEvent } from '../../protocol/messages.ts';

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

const nonNegative = z.number().min(0);

/** The outbox's tuning: every option but the file and the injected parts (also the agent config's `outbox` defaults). */
export const OutboxTuningSchema = z.strictObject({
  durability: z.enum(['normal', 'full']).default('normal'),
  /** bound on accounted bytes (see the header) */
  maxBytes: nonNegative.default(256 * 1024 * 1024),
  /** telemetry older than this is dropped (counted), ms; 0 = no age bound */
  maxAgeMs: nonNegative.default(7 * 24 * 3600 * 1000),
  /** commit the intake buffer at this many rows */
  intakeMaxRows: z.number().min(1).default(4096),
  /** or after this long, ms */
  intakeLingerMs: nonNegative.default(5),
  /**
   * SQLite page cache, KiB. better-sqlite3 builds SQLite with a 16 MiB default cache; the outbox's working set is
   * the tail of two tables, and on a small board those 14 MiB are better left to the OS.
   */
  cacheKiB: z.number().int().min(64).default(2048),
  /** new records are refused while the volume would keep less than this free, bytes */
  minFreeBytes: nonNegative.default(16 * 1024 * 1024),
  /** size of the reserve file (`<path>.reserve`) given back to the delete path on a full disk, bytes; 0 = none */
  reserveBytes: nonNegative.default(2 * 1024 * 1024),
  /** seqs the high-water mark is advanced by at least (file `<path>.seq-hwm`) */
  seqBlock: z.number().int().min(1).default(10_000),
  /** 'quick': PRAGMA quick_check at open, a damaged file is quarantined and salvaged; 'off' */
  integrityCheck: z.enum(['quick', 'off']).default('quick'),
});

export const SqliteOutboxOptionsSchema = OutboxTuningSchema.extend({
  /** database file; ':memory:' for tests that do not need durability */
  path: z.string({ error: 'a file path or ":memory:" is required' }).min(1, 'a file path or ":memory:" is required'),
  ...clockAndLogger,
});

export type SqliteOutboxOptions = z.input<typeof SqliteOutboxOptionsSchema>;

export type ResolvedOutboxOptions = Readonly<Omit<z.output<typeof SqliteOutboxOptionsSchema>, 'clock' | 'logger'>>;

/** The outbox's defaults (also the agent config's `outbox` section's). */
export const OUTBOX_DEFAULTS = Object.freeze(OutboxTuningSchema.parse({}));

/** Defaults filled in, every option checked (EL_ERR_INVALID_ARGUMENT naming it); frozen, without clock and logger. */
export function resolveOutboxOptions(opts: SqliteOutboxOptions): ResolvedOutboxOptions {
  const {
    clock: _clock,
    logger: _logger,
    ...o
  } = parseOptions(SqliteOutboxOptionsSchema, opts, {
    where: 'SqliteOutbox',
    code: 'EL_ERR_INVALID_ARGUMENT',
  });
  return Object.freeze(o);
}
