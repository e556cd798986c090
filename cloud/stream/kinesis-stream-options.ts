/**
 * KinesisStream's options: one lib/options.ts schema with what each option means and its default, checked by the
 * KinesisStream constructor (an unknown option is refused with a suggestion, a bad value names the field;
 * EL_ERR_CONFIG_INVALID).
 */
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { z } from 'zod';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { callback, clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import type { CheckpointStore } from './checkpoint-store.ts';
import { awsClientFields } from './options.ts';

/** PutRecords' limit per request, bytes */
export const MAX_REQUEST_BYTES = 5 * 1024 * 1024;

/** The subset of KinesisClient this adapter uses (lets a test wrap the real client). */
export interface KinesisLike {
  send(command: unknown): Promise<unknown>;
  destroy?(): void;
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null;

/** re-sending of records that failed inside a PutRecords response, under what `retry` gives */
export const KINESIS_RETRY_DEFAULTS: Partial<RetryPolicy> = Object.freeze({ minMs: 100, maxMs: 5000, maxAttempts: 10 });

export const KinesisStreamOptionsSchema = z.strictObject({
  /** the Kinesis stream name */
  streamName: z.string({ error: 'required' }).min(1, 'required'),
  /** a client to use (not destroyed on close); default: a KinesisClient built from clientConfig */
  client: dependency<KinesisLike>(
    'an object with send()',
    (v) => typeof (v as KinesisLike | null)?.send === 'function',
  ).optional(),
  /** config for the default client (region, endpoint, credentials, requestHandler) */
  clientConfig: dependency<KinesisClientConfig>('a KinesisClient config', isObject).optional(),
  /** shorthands for clientConfig.region / .endpoint; a plain-HTTP endpoint (kinesalite, LocalStack) gets an HTTP/1.1 handler */
  ...awsClientFields,
  /** checkpoint store (not closed on close when passed); default SqliteCheckpointStore at checkpointPath */
  checkpoints: dependency<CheckpointStore>('a CheckpointStore').optional(),
  /** SQLite file for the default checkpoint store (':memory:': checkpoints do not survive a restart) */
  checkpointPath: z.string().min(1).default(':memory:'),
  /** re-sending of records that failed inside a PutRecords response, over KINESIS_RETRY_DEFAULTS (100 ms .. 5 s, full jitter, 10 attempts) */
  retry: dependency<Partial<RetryPolicy>>('a retry policy', isObject).optional(),
  /** records per PutRecords request, at most 500 */
  maxRecordsPerRequest: z.number().int().min(1).max(500).default(500),
  /** bytes per PutRecords request, 1 MiB .. 5 MiB */
  maxBytesPerRequest: z
    .number()
    .int()
    .min(1024 * 1024)
    .max(MAX_REQUEST_BYTES)
    .default(MAX_REQUEST_BYTES),
  /** default records per read(), at most 10 000 */
  defaultReadLimit: z.number().int().min(1).max(10_000).default(1000),
  /** least time between two GetRecords calls on one shard, ms (Kinesis allows 5 per second per shard) */
  minReadIntervalMs: z.number().int().min(0).default(200),
  /** waitForRecords() sleeps at most this long when no put of this process wakes it, ms */
  pollIntervalMs: z.number().int().min(1).default(1000),
  ...clockAndLogger,
  /** randomness of the backoff jitter (tests) */
  random: callback<() => number>().optional(),
});

export type KinesisStreamOptions = z.input<typeof KinesisStreamOptionsSchema>;

/** Check `opts` (see the header) and fill in the defaults. */
export const resolveKinesisStreamOptions = optionsParser(KinesisStreamOptionsSchema, { where: 'KinesisStream' });
