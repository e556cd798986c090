/** RawArchive's options and counters, and how one archive value is appended to a DuckDB table. */
import type { DuckDBAppender } from '@duckdb/node-api';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { micros, type ParquetCompression } from '../feature-store/parquet-offline-store.ts';
import type { Stream } from '../stream/stream.ts';
import type { ArchiveTableName } from './archive-tables.ts';

export interface RawArchiveOptions {
  stream: Stream;
  /** root directory (`<dataDir>/archive`). Required. */
  dir: string;
  /** checkpoint name on the stream. Default 'archive'. */
  consumer?: string;
  /** write when this many rows are buffered. Default 50 000. */
  flushRows?: number;
  /** write at least this often while rows are buffered, ms. Default 60 000. */
  flushIntervalMs?: number;
  /** compacted file size target, bytes. Default 128 MiB. */
  targetFileBytes?: number;
  /** compact an hour partition this long after its hour ended, ms. Default 10 minutes. */
  compactSettleMs?: number;
  /** records read per shard per step. Default 500. */
  batchSize?: number;
  /** longest idle wait when the stream is empty, ms. Default 1000. */
  idleWaitMs?: number;
  compression?: ParquetCompression;
  clock?: Clock;
  logger?: Logger;
}

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

/** every option name, for the unknown-option check */
export const KNOWN = [
  'stream',
  'dir',
  'consumer',
  'flushRows',
  'flushIntervalMs',
  'targetFileBytes',
  'compactSettleMs',
  'batchSize',
  'idleWaitMs',
  'compression',
  'clock',
  'logger',
] as const;

/** Append one value of an archive column of SQL type `type`. */
export function appendValue(app: DuckDBAppender, type: string, v: string | number | boolean | null): void {
  if (v === null) app.appendNull();
  else if (type === 'VARCHAR') app.appendVarchar(String(v));
  else if (type === 'BIGINT') app.appendBigInt(BigInt(Math.trunc(v as number)));
  else if (type === 'DOUBLE') app.appendDouble(v as number);
  else if (type === 'BOOLEAN') app.appendBoolean(v as boolean);
  else app.appendTimestampTZ(micros(v as number));
}
