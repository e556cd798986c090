/** ParquetOfflineStore's options, the provenance of appended records, and its counters. */
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';

export interface ParquetOfflineStoreOptions {
  /** root directory. Required. */
  dir: string;
  /** write a group's buffer when it holds this many rows. Default 10 000. */
  flushRows?: number;
  /** write every buffer at least this often, ms. Default 60 000. */
  flushIntervalMs?: number;
  /** rows kept per group while writes fail; beyond it append() returns a promise that waits for a write. Default 200 000. */
  maxBufferedRows?: number;
  /** Parquet compression. Default 'zstd'. */
  compression?: ParquetCompression;
  clock?: Clock;
  logger?: Logger;
}

/** Where appended records came from: the consumer and, per shard, the sequence number of its last record. */
export interface OfflineSource {
  consumer: string;
  positions: Record<string, string>;
}

/** The Parquet codecs the writers offer (DuckDB's COPY … (COMPRESSION x)). */
export const PARQUET_COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;
export type ParquetCompression = (typeof PARQUET_COMPRESSIONS)[number];

export interface OfflineStoreStats {
  rowsWritten: number;
  filesWritten: number;
  /** older files rewritten to a new group schema */
  filesRewritten: number;
  buffered: number;
  writeErrors: number;
}

/** every option name, for the unknown-option check */
export const KNOWN = [
  'dir',
  'flushRows',
  'flushIntervalMs',
  'maxBufferedRows',
  'compression',
  'clock',
  'logger',
] as const;

/** one buffered row of a group */
export interface Row {
  entityId: string;
  eventTime: number;
  writeTime: number;
  features: Record<string, number | string>;
}
