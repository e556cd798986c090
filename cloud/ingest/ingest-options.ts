/**
 * The ingest's options, its message and stats types: one lib/options.ts schema with what each option means and its
 * default, checked first by the Ingest constructor (an unknown option is refused with a suggestion, a missing part
 * or a bad value names the field; EL_ERR_INVALID_ARGUMENT). Its limits are also the cloud config's `ingest` defaults.
 */
import { z } from 'zod';
import { callback, clockAndLogger, dependency, numberOrInfinity, optionsParser } from '../../lib/options.ts';
import { MAX_MQTT_PAYLOAD_BYTES } from '../../protocol/messages.ts';
import type { RetryPolicy } from '../../lib/backoff.ts';
import type { Stream } from '../stream/stream.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';

/** Where refused messages go (SqliteDlq implements it). Must commit synchronously. */
export interface DeadLetterSink {
  add(d: DeadLetterInput): number;
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

/** retry of a failed Stream.put, under what `putRetry` gives (maxAttempts counts puts) */
export const PUT_RETRY_DEFAULTS: Partial<RetryPolicy> = Object.freeze({ minMs: 50, maxMs: 2000, maxAttempts: 5 });

const atLeast1 = z.number().min(1);

/** The numeric limits: also the cloud config's `ingest` section's defaults. */
export const IngestLimitsSchema = z.strictObject({
  /** payloads above this are dead-lettered as oversized; bytes (AWS IoT Core's limit) */
  maxPayloadBytes: atLeast1.default(MAX_MQTT_PAYLOAD_BYTES),
  /** records per Stream.put (Kinesis PutRecords' limit) */
  maxBatchRecords: atLeast1.default(500),
  /** bytes per Stream.put (smaller puts keep the group-commit latency low) */
  maxBatchBytes: atLeast1.default(1024 * 1024),
  /** wait this long for a batch to fill when no put is in flight; ms, 0 = group commit only */
  lingerMs: z.number().min(0).default(0),
  /** concurrent Stream.put calls (1 keeps per-device order; raise for Kinesis) */
  maxInFlightPuts: atLeast1.default(1),
  /** records accepted but not yet put before accept() waits (backpressure to publishers) */
  maxPendingRecords: atLeast1.default(20_000),
  /** open seq gaps kept per device */
  dedupMaxIntervals: z.number().int().min(1).default(64),
  /** devices whose dedup state stays in memory (others reload from SQLite) */
  dedupMaxDevices: atLeast1.default(100_000),
});

/** Device timestamps accepted around the arrival time, ms ahead / behind; Infinity turns a bound off. */
export const TimeBoundsSchema = z.strictObject({
  maxFutureMs: numberOrInfinity(0).default(5 * 60_000),
  maxPastMs: numberOrInfinity(0).default(7 * 24 * 3_600_000),
});

export const IngestOptionsSchema = IngestLimitsSchema.extend({
  stream: dependency<Stream>('a Stream'),
  dlq: dependency<DeadLetterSink>('a DeadLetterSink'),
  /** SQLite file for the persisted dedup state; ':memory:' disables persistence (tests only) */
  dedupPath: z.string({ error: 'required' }).min(1, 'required'),
  topicPrefix: z.string().optional(),
  /** retry of a failed Stream.put before the batch is refused, over PUT_RETRY_DEFAULTS (5 attempts, 50 ms .. 2 s) */
  putRetry: dependency<Partial<RetryPolicy>>('a retry policy', (v) => typeof v === 'object' && v !== null).optional(),
  /**
   * Rebuild dedup state from the stream's tail at start (records put after the recovery checkpoint), closing the
   * window between a stream commit and the dedup commit that a kill -9 can hit. Costs one extra read of the
   * stream (data not decoded) every recoveryCheckpointMs. Turn off for Kinesis (read quota).
   */
  recoverFromStream: z.boolean().default(true),
  /** how often the recovery checkpoint advances, ms */
  recoveryCheckpointMs: z.number().min(0).default(5000),
  /**
   * Device timestamps accepted around the arrival time; readings and events outside go to the dead-letter store
   * as `ts-out-of-range`.
   */
  timeBounds: TimeBoundsSchema.prefault({}),
  ...clockAndLogger,
  /** observer for each successful put (metrics) */
  onPut: callback<(info: { records: number; bytes: number; ms: number }) => void>().optional(),
});

export type IngestOptions = z.input<typeof IngestOptionsSchema>;
export type ResolvedIngestOptions = z.output<typeof IngestOptionsSchema>;

/** The defaults of the numeric limits (the cloud config's `ingest` section reads them). */
export const INGEST_DEFAULTS = Object.freeze(IngestLimitsSchema.parse({}));

/** The defaults of the time bounds. */
export const DEFAULT_TIME_BOUNDS = Object.freeze(TimeBoundsSchema.parse({}));

/** Check `opts` and fill in the defaults (see the header). */
export const resolveIngestOptions = optionsParser(IngestOptionsSchema, {
  where: 'Ingest',
  code: 'EL_ERR_INVALID_ARGUMENT',
});
