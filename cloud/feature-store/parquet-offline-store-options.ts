/** ParquetOfflineStore's options (one schema with the defaults), the provenance of appended records, and its counters. */
import { z } from 'zod';
import { clockAndLogger, optionsParser, requiredString } from '../../lib/options.ts';

/** The Parquet codecs the writers offer (DuckDB's COPY … (COMPRESSION x)). */
export const PARQUET_COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;
export type ParquetCompression = (typeof PARQUET_COMPRESSIONS)[number];

/** A Parquet codec option, default zstd (the offline store, the raw archive, the backfill). */
export const parquetCompressionOption = z.enum(PARQUET_COMPRESSIONS).default('zstd');

export const ParquetOfflineStoreOptionsSchema = z.strictObject({
  /** root directory */
  dir: requiredString('a directory'),
  /** write a group's buffer when it holds this many rows */
  flushRows: z.number().int().min(1).default(10_000),
  /** write every buffer at least this often, ms */
  flushIntervalMs: z.number().int().min(10).default(60_000),
  /** rows kept per group while writes fail; beyond it append() returns a promise that waits for a write */
  maxBufferedRows: z.number().int().min(1).default(200_000),
  /** Parquet compression */
  compression: parquetCompressionOption,
  ...clockAndLogger,
});

export type ParquetOfflineStoreOptions = z.input<typeof ParquetOfflineStoreOptionsSchema>;
export type ResolvedParquetOfflineStoreOptions = z.output<typeof ParquetOfflineStoreOptionsSchema>;

export const resolveParquetOfflineStoreOptions = optionsParser(ParquetOfflineStoreOptionsSchema, {
  where: 'ParquetOfflineStore',
});

/** Where appended records came from: the consumer and, per shard, the sequence number of its last record. */
export interface OfflineSource {
  consumer: string;
  positions: Record<string, string>;
}

export interface OfflineStoreStats {
  rowsWritten: number;
  filesWritten: number;
  /** older files rewritten to a new group schema */
  filesRewritten: number;
  buffered: number;
  writeErrors: number;
}

/** one buffered row of a group */
export interface Row {
  entityId: string;
  eventTime: number;
  writeTime: number;
  features: Record<string, number | string>;
}
