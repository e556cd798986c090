/**
 * Record validation shared by LocalStream and KinesisStream, so both refuse the same input with the same error.
 * Limits are Kinesis Data Streams' own: partition key 1-256 Unicode characters, data + key <= 1 MiB per record.
 */
import { createHash } from 'node:crypto';
import { EdgeloopError } from '../../protocol/errors.ts';
import { MAX_STREAM_RECORD_BYTES } from '../../protocol/messages.ts';
import type { StreamRecord } from './stream.ts';

export const MAX_PARTITION_KEY_CHARS = 256;
export { MAX_STREAM_RECORD_BYTES };

/** Bytes a record counts against the 1 MiB limit (data + UTF-8 partition key, as Kinesis counts it). */
export function recordBytes(r: StreamRecord): number {
  return r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8');
}

export function validateRecords(records: StreamRecord[]): void {
  if (!Array.isArray(records)) {
    throw new EdgeloopError('EL_ERR_STREAM_RECORD_INVALID', 'put(): expected an array of records');
  }
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (typeof r !== 'object' || r === null) {
      throw new EdgeloopError('EL_ERR_STREAM_RECORD_INVALID', `records[${i}]: expected an object`);
    }
    const key = r.partitionKey;
    if (
      typeof key !== 'string' ||
      key.length === 0 ||
      (key.length > MAX_PARTITION_KEY_CHARS && [...key].length > MAX_PARTITION_KEY_CHARS)
    ) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_RECORD_INVALID',
        `records[${i}].partitionKey: expected 1-${MAX_PARTITION_KEY_CHARS} characters, got ${JSON.stringify(key)?.slice(0, 40)}`,
        { details: { index: i } },
      );
    }
    if (!(r.data instanceof Uint8Array)) {
      throw new EdgeloopError('EL_ERR_STREAM_RECORD_INVALID', `records[${i}].data: expected a Uint8Array (Buffer)`, {
        details: { index: i },
      });
    }
    const bytes = recordBytes(r);
    if (bytes > MAX_STREAM_RECORD_BYTES) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_RECORD_TOO_LARGE',
        `records[${i}] (partition key ${JSON.stringify(key.slice(0, 40))}) is ${bytes} bytes, over the ${MAX_STREAM_RECORD_BYTES}-byte per-record limit`,
        { details: { index: i, bytes, limit: MAX_STREAM_RECORD_BYTES } },
      );
    }
  }
}

/**
 * Shard for a partition key, the way Kinesis does it for evenly split shards: the MD5 of the key is a 128-bit
 * hash key and shard i owns [i * 2^128 / n, (i + 1) * 2^128 / n). The top 48 bits are enough to pick the range.
 */
export function shardIndexForKey(partitionKey: string, shardCount: number): number {
  const h = createHash('md5').update(partitionKey, 'utf8').digest();
  const top48 = h.readUIntBE(0, 6);
  return Math.min(shardCount - 1, Math.floor((top48 * shardCount) / 2 ** 48));
}

/** Shard ids look like Kinesis' (`shardId-000000000003`), so logs and checkpoints read the same on both. */
export function shardIdFor(index: number): string {
  return `shardId-${String(index).padStart(12, '0')}`;
}
