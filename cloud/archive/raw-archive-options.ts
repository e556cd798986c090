/** RawArchive's options (one schema with the defaults) and counters. */
import { z } from 'zod';
import { clockAndLogger, optionsParser, requiredString } from '../../lib/options.ts';
import { parquetCompressionOption } from '../feature-store/parquet-offline-store-options.ts';
import type { Stream } from '../stream/stream.ts';
import type { ArchiveTableName } from './archive-tables.ts';

/** The archive's tuning, also the cloud config's `archive` section (cloud/config.ts): each default stated once. */
export const RawArchiveTuningSchema = z.strictObject({
  /** write when this many rows are buffered */
  flushRows: z.number().int().min(1).default(50_000),
  /** write at least this often while rows are buffered, ms */
  flushIntervalMs: z.number().int().min(1).default(60_000),
  /** compacted file size target, bytes (128 MiB) */
  targetFileBytes: z
    .number()
    .int()
    .min(1)
    .default(128 * 1024 * 1024),
  /** compact an hour partition this long after its hour ended, ms (10 minutes) */
  compactSettleMs: z.number().int().min(0).default(600_000),
});

export const RawArchiveOptionsSchema = RawArchiveTuningSchema.extend({
  stream: z.custom<Stream>((v) => typeof (v as Stream | null)?.read === 'function', { error: 'required (a Stream)' }),
  /** root directory (`<dataDir>/archive`) */
  dir: requiredString('a directory'),
  /** checkpoint name on the stream */
  consumer: z.string().min(1).default('archive'),
  /** records read per shard per step */
  batchSize: z.number().int().min(1).default(500),
  /** longest idle wait when the stream is empty, ms */
  idleWaitMs: z.number().int().min(1).default(1000),
  compression: parquetCompressionOption,
  ...clockAndLogger,
});

export type RawArchiveOptions = z.input<typeof RawArchiveOptionsSchema>;
export type ResolvedRawArchiveOptions = z.output<typeof RawArchiveOptionsSchema>;

export const resolveRawArchiveOptions = optionsParser(RawArchiveOptionsSchema, { where: 'RawArchive' });

export interface RawArchiveStats {
  rowsWritten: Record<ArchiveTableName, number>;
  recordsRead: number;
  /** records at or before the committed positions, read again after a restart and skipped */
  recordsSkipped: number;
  /** messages in records that did not validate (the ingest validated them: another producer wrote them) */
  invalidMessages: number;
  commits: number;
  filesWritten: number;
  filesCompacted: number;
  buffered: number;
  writeErrors: number;
  loopErrors: number;
}
