/**
 * Stream: the owned interface between ingest and the processor. LocalStream (SQLite) is the embedded default,
 * KinesisStream (@aws-sdk/client-kinesis) the cloud one; both pass test/cloud/stream/stream-contract.ts.
 *
 * Semantics (Kinesis-shaped): records are partitioned by key into shards; order is kept per shard; a consumer
 * reads each shard from its checkpoint and commits checkpoints after it has processed records (at-least-once).
 */
export interface StreamRecord {
  partitionKey: string;
  data: Uint8Array;
}

export interface StoredRecord extends StreamRecord {
  shardId: string;
  /** opaque, ordered within a shard */
  sequenceNumber: string;
  /** when the stream accepted the record, ms */
  arrivedAt: number;
}

export interface PutResult {
  /** records accepted; put() retries partial failures internally and rejects if some never succeed */
  count: number;
}

export interface ReadBatch {
  records: StoredRecord[];
  /** pass back to read() to continue after these records */
  position: string | undefined;
  /** the shard is closed and fully read */
  endOfShard: boolean;
}

export interface Stream {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Append records; resolves only when every record is durably stored (at-least-once for the producer). */
  put(records: StreamRecord[]): Promise<PutResult>;
  listShards(): Promise<string[]>;
  /**
   * Read from a shard after `position` (undefined = from the consumer's checkpoint, or the oldest record if none).
   */
  read(shardId: string, opts: { consumer: string; position?: string | undefined; limit?: number }): Promise<ReadBatch>;
  /** Persist that `consumer` has processed `shardId` up to and including `sequenceNumber`. */
  checkpoint(consumer: string, shardId: string, sequenceNumber: string): Promise<void>;
  getCheckpoint(consumer: string, shardId: string): Promise<string | undefined>;
  /**
   * Optional (added by the stream part): checkpoint several shards at once, in one transaction where the backend
   * allows (one fsync instead of one per shard). Consumers fall back to checkpoint() per shard.
   */
  checkpointMany?(consumer: string, entries: { shardId: string; sequenceNumber: string }[]): Promise<void>;
  /**
   * Optional (added by the stream part): resolve when new records may be readable, or after `timeoutMs`, or when
   * `signal` aborts or the stream closes. Resolves true when woken by new data, false otherwise. Lets a consumer
   * idle without polling hot; consumers fall back to sleeping when a Stream does not implement it.
   */
  waitForRecords?(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<boolean>;
}
