/**
 * The ingest's options, its message and stats types, and the check of the options (unknown names, required
 * parts, numeric limits) that the Ingest constructor runs first.
 */
import { checkKnownOptions } from '../../lib/options.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { MAX_MQTT_PAYLOAD_BYTES } from '../../protocol/messages.ts';
import type { Clock } from '../../lib/clock.ts';
import type { RetryPolicy } from '../../lib/backoff.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Stream } from '../stream/stream.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';
import type { TimeBounds } from './time-bounds.ts';

/** Where refused messages go (SqliteDlq implements it). Must commit synchronously. */
export interface DeadLetterSink {
  add(d: DeadLetterInput): number;
}

export interface IngestOptions {
  stream: Stream;
  dlq: DeadLetterSink;
  /** SQLite file for the persisted dedup state; ':memory:' disables persistence (tests only) */
  dedupPath: string;
  topicPrefix?: string;
  /** payloads above this are dead-lettered as oversized; bytes, default 131072 (AWS IoT Core's limit) */
  maxPayloadBytes?: number;
  /** records per Stream.put; default 500 (Kinesis PutRecords' limit) */
  maxBatchRecords?: number;
  /** bytes per Stream.put; default 1 MiB (smaller puts keep the group-commit latency low) */
  maxBatchBytes?: number;
  /** wait this long for a batch to fill when no put is in flight; ms, default 0 (group commit only) */
  lingerMs?: number;
  /** concurrent Stream.put calls; default 1 (keeps per-device order; raise for Kinesis) */
  maxInFlightPuts?: number;
  /** records accepted but not yet put before accept() waits (backpressure to publishers); default 20000 */
  maxPendingRecords?: number;
  /** open seq gaps kept per device; default 64 */
  dedupMaxIntervals?: number;
  /** devices whose dedup state stays in memory (others reload from SQLite); default 100000 */
  dedupMaxDevices?: number;
  /** retry of a failed Stream.put before the batch is refused; maxAttempts counts puts; default 5 attempts, 50 ms .. 2 s */
  putRetry?: Partial<RetryPolicy>;
  /**
   * Rebuild dedup state from the stream's tail at start (records put after the recovery checkpoint), closing the
   * window between a stream commit and the dedup commit that a kill -9 can hit. Costs one extra read of the
   * stream (data not decoded) every recoveryCheckpointMs. Default true; turn off for Kinesis (read quota).
   */
  recoverFromStream?: boolean;
  /** how often the recovery checkpoint advances, ms; default 5000 */
  recoveryCheckpointMs?: number;
  /**
   * Device timestamps accepted around the arrival time (ms ahead / behind); readings and events outside go to the
   * dead-letter store as `ts-out-of-range`. Default 5 minutes ahead, 7 days behind; Infinity turns a bound off.
   */
  timeBounds?: Partial<TimeBounds>;
  clock?: Clock;
  logger?: Logger;
  /** observer for each successful put (metrics) */
  onPut?: (info: { records: number; bytes: number; ms: number }) => void;
}

export type IngestOutcome = 'stored' | 'duplicate' | 'dead-letter' | 'ignored';

export interface AcceptInput {
  topic: string;
  payload: Uint8Array;
  clientId?: string | undefined;
}

export interface IngestStats {
  messages: number;
  stored: number;
  readings: number;
  events: number;
  duplicateRecords: number;
  duplicateMessages: number;
  deadLetters: number;
  ignored: number;
  /** messages stored without the fields the protocol does not define */
  strippedMessages: number;
  puts: number;
  putFailures: number;
  pendingRecords: number;
  inFlightPuts: number;
  dedupDevices: number;
  collapsedGaps: number;
  /** now - sentAt of the last telemetry/events message (device clock), ms */
  lastLagMs: number;
  putLatencyMs: Record<string, number>;
}

const KNOWN = new Set([
  'stream',
  'dlq',
  'dedupPath',
  'topicPrefix',
  'maxPayloadBytes',
  'maxBatchRecords',
  'maxBatchBytes',
  'lingerMs',
  'maxInFlightPuts',
  'maxPendingRecords',
  'dedupMaxIntervals',
  'dedupMaxDevices',
  'putRetry',
  'clock',
  'logger',
  'onPut',
  'recoverFromStream',
  'recoveryCheckpointMs',
  'timeBounds',
]);

/** The defaults of the numeric limits: one place, used here and by the cloud config's `ingest` section. */
export const INGEST_DEFAULTS = Object.freeze({
  maxPayloadBytes: MAX_MQTT_PAYLOAD_BYTES,
  maxBatchRecords: 500,
  maxBatchBytes: 1024 * 1024,
  lingerMs: 0,
  maxInFlightPuts: 1,
  maxPendingRecords: 20_000,
  dedupMaxDevices: 100_000,
});

/** The numeric limits, defaults applied. */
export interface IngestLimits {
  maxPayloadBytes: number;
  maxBatchRecords: number;
  maxBatchBytes: number;
  lingerMs: number;
  maxInFlightPuts: number;
  maxPendingRecords: number;
  dedupMaxDevices: number;
}

/** Throws EL_ERR_INVALID_ARGUMENT naming the first bad option; returns the limits with their defaults. */
export function checkIngestOptions(opts: IngestOptions): IngestLimits {
  checkKnownOptions('Ingest', opts, KNOWN, 'EL_ERR_INVALID_ARGUMENT');
  if (!opts.stream) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: stream is required');
  if (!opts.dlq) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: dlq is required');
  if (!opts.dedupPath) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: dedupPath is required');
  const d = INGEST_DEFAULTS;
  const o = {
    maxPayloadBytes: opts.maxPayloadBytes ?? d.maxPayloadBytes,
    maxBatchRecords: opts.maxBatchRecords ?? d.maxBatchRecords,
    maxBatchBytes: opts.maxBatchBytes ?? d.maxBatchBytes,
    lingerMs: opts.lingerMs ?? d.lingerMs,
    maxInFlightPuts: opts.maxInFlightPuts ?? d.maxInFlightPuts,
    maxPendingRecords: opts.maxPendingRecords ?? d.maxPendingRecords,
    dedupMaxDevices: opts.dedupMaxDevices ?? d.dedupMaxDevices,
  };
  for (const [k, v] of Object.entries(o)) {
    const min = k === 'lingerMs' ? 0 : 1;
    if (!Number.isFinite(v) || v < min) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `Ingest: ${k} must be a number >= ${min}, got ${v}`);
    }
  }
  return o;
}
