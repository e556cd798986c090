/** KinesisStream's options: what may be passed (checked and defaulted in the KinesisStream constructor). */
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { RetryPolicy } from '../../lib/backoff.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { CheckpointStore } from './checkpoint-store.ts';

/** The subset of KinesisClient this adapter uses (lets a test wrap the real client). */
export interface KinesisLike {
  send(command: unknown): Promise<unknown>;
  destroy?(): void;
}

export interface KinesisStreamOptions {
  /** the Kinesis stream name. Required. */
  streamName: string;
  /** a client to use (not destroyed on close); default: a KinesisClient built from clientConfig */
  client?: KinesisLike;
  /** config for the default client (region, endpoint, credentials, requestHandler) */
  clientConfig?: KinesisClientConfig;
  /** shorthand for clientConfig.region */
  region?: string;
  /** shorthand for clientConfig.endpoint; a plain-HTTP endpoint (kinesalite, LocalStack) gets an HTTP/1.1 handler */
  endpoint?: string;
  /** checkpoint store (not closed on close when passed); default SqliteCheckpointStore at checkpointPath */
  checkpoints?: CheckpointStore;
  /** SQLite file for the default checkpoint store. Default ':memory:' (checkpoints do not survive a restart). */
  checkpointPath?: string;
  /** re-sending of records that failed inside a PutRecords response. Default 100 ms .. 5 s, full jitter, 10 attempts. */
  retry?: Partial<RetryPolicy>;
  /** records per PutRecords request, at most 500. Default 500. */
  maxRecordsPerRequest?: number;
  /** bytes per PutRecords request, at most 5 MiB. Default 5 MiB. */
  maxBytesPerRequest?: number;
  /** default records per read(), at most 10 000. Default 1000. */
  defaultReadLimit?: number;
  /** least time between two GetRecords calls on one shard, ms (Kinesis allows 5 per second per shard). Default 200. */
  minReadIntervalMs?: number;
  /** waitForRecords() sleeps at most this long when no put of this process wakes it, ms. Default 1000 (Kinesis allows 5 GetRecords/s per shard). */
  pollIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** randomness of the backoff jitter (tests) */
  random?: () => number;
}

/** every option name, for the unknown-option check */
export const KNOWN = [
  'streamName',
  'client',
  'clientConfig',
  'region',
  'endpoint',
  'checkpoints',
  'checkpointPath',
  'retry',
  'maxRecordsPerRequest',
  'maxBytesPerRequest',
  'defaultReadLimit',
  'pollIntervalMs',
  'minReadIntervalMs',
  'clock',
  'logger',
  'random',
] as const;
