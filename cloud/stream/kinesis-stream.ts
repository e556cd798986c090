/**
 * KinesisStream: the Stream on Amazon Kinesis Data Streams (@aws-sdk/client-kinesis).
 *
 * put(): PutRecords in requests of at most 500 records and 5 MiB (records over 1 MiB are refused up front);
 * records that fail inside a successful request (FailedRecordCount > 0, ErrorCode
 * ProvisionedThroughputExceededException or InternalFailure) are re-sent with full-jitter backoff until they
 * succeed or the retry policy gives up (EL_ERR_STREAM_PUT_FAILED). A retried record may land after a later record
 * of the same key: per-key order holds only without partial failures (the processor works in event time).
 *
 * read(): GetShardIterator (AFTER_SEQUENCE_NUMBER from the position or the consumer's checkpoint, TRIM_HORIZON
 * otherwise) + GetRecords; the next shard iterator is cached per shard so a consumer that keeps reading does one
 * GetRecords per call. Checkpoints live in an injected CheckpointStore (SQLite by default).
 *
 * Against a local endpoint (kinesalite, LocalStack) pass `clientConfig: { endpoint, region, credentials,
 * requestHandler: new NodeHttpHandler() }`: the SDK's default HTTP/2 handler fails against kinesalite.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClientConfig,
  type ListShardsCommandOutput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { DEFAULT_RETRY, type RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { retry } from '../../lib/retry.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { CheckpointStore } from './checkpoint-store.ts';
import {
  KINESIS_RETRY_DEFAULTS,
  resolveKinesisStreamOptions,
  type KinesisLike,
  type KinesisStreamOptions,
} from './kinesis-stream-options.ts';
import { SqliteCheckpointStore } from './checkpoint-store.ts';
import { awsClientConfig, intOption } from './options.ts';
import type { PutResult, ReadBatch, StoredRecord, Stream, StreamRecord } from './stream.ts';
import { recordBytes, validateRecords } from './stream-limits.ts';

export type { KinesisLike, KinesisStreamOptions } from './kinesis-stream-options.ts';

interface CachedIterator {
  /** the position this iterator continues after ('' = from the trim horizon) */
  after: string;
  iterator: string;
}

function errName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

export class KinesisStream implements Stream {
  readonly name: string;
  readonly #clientConfig: KinesisClientConfig;
  #client: KinesisLike | undefined;
  readonly #ownsClient: boolean;
  #checkpoints: CheckpointStore;
  readonly #ownsCheckpoints: boolean;
  readonly #retry: Partial<RetryPolicy>;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #readLimit: number;
  readonly #pollMs: number;
  readonly #minReadMs: number;
  readonly #lastRead = new Map<string, number>();
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #random: () => number;
  /** aborted by close(): ends a wait between PutRecords retries */
  readonly #closing = new AbortController();
  readonly #iterators = new Map<string, CachedIterator>();
  readonly #waiters = new Set<(woken: boolean) => void>();
  #state: 'new' | 'started' | 'closed' = 'new';
  #retriedRecords = 0;

  constructor(opts: KinesisStreamOptions) {
    const o = resolveKinesisStreamOptions(opts);
    this.name = o.streamName;
    this.#client = o.client;
    this.#ownsClient = o.client === undefined;
    this.#clientConfig = awsClientConfig(o);
    this.#ownsCheckpoints = o.checkpoints === undefined;
    this.#checkpoints = o.checkpoints ?? new SqliteCheckpointStore({ path: o.checkpointPath });
    this.#retry = { ...KINESIS_RETRY_DEFAULTS, ...o.retry };
    this.#maxRecords = o.maxRecordsPerRequest;
    this.#maxBytes = o.maxBytesPerRequest;
    this.#readLimit = o.defaultReadLimit;
    this.#pollMs = o.pollIntervalMs;
    this.#minReadMs = o.minReadIntervalMs;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#random = o.random ?? Math.random;
  }

  /** records re-sent after a partial PutRecords failure, since start */
  get retriedRecords(): number {
    return this.#retriedRecords;
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `KinesisStream ${this.name} is closed`);
    await this.#checkpoints.start();
    this.#client ??= new KinesisClient(this.#clientConfig);
    this.#state = 'started';
  }

  #ready(): KinesisLike {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `KinesisStream ${this.name} is closed`);
    if (this.#state !== 'started' || !this.#client)
      throw new EdgeloopError('EL_ERR_STREAM_NOT_STARTED', `KinesisStream ${this.name}: call start() first`);
    return this.#client;
  }

  #backendError(op: string, err: unknown): EdgeloopError {
    const name = errName(err);
    if (name === 'ResourceNotFoundException') {
      return new EdgeloopError(
        'EL_ERR_STREAM_SHARD_UNKNOWN',
        `${op} on stream ${this.name}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new EdgeloopError(
      'EL_ERR_STREAM_BACKEND',
      `${op} on stream ${this.name} failed: ${name} ${(err as Error)?.message ?? ''}`.trim(),
      { cause: err },
    );
  }

  async put(records: StreamRecord[]): Promise<PutResult> {
    const client = this.#ready();
    validateRecords(records);
    if (records.length === 0) return { count: 0 };
    // chunk by count and bytes, keeping input order
    let chunk: PutRecordsRequestEntry[] = [];
    let bytes = 0;
    for (const r of records) {
      const b = recordBytes(r);
      if (chunk.length > 0 && (chunk.length >= this.#maxRecords || bytes + b > this.#maxBytes)) {
        await this.#putChunk(client, chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push({ PartitionKey: r.partitionKey, Data: r.data });
      bytes += b;
    }
    if (chunk.length > 0) await this.#putChunk(client, chunk);
    for (const w of [...this.#waiters]) w(true);
    return { count: records.length };
  }

  /**
   * PutRecords, then again for the records that failed inside the response, per the retry policy (maxAttempts
   * counts retries here, lib/retry.ts counts calls: hence the + 1). An error of the whole request is not retried:
   * the SDK already retried throttling and transient errors of the request. The wait between attempts is a
   * referenced timer (the caller awaits this put); close() aborts it.
   */
  async #putChunk(client: KinesisLike, entries: PutRecordsRequestEntry[]): Promise<void> {
    const policy = { ...DEFAULT_RETRY, ...this.#retry };
    let pending = entries;
    const attempt = async (n: number): Promise<void> => {
      let out: { FailedRecordCount?: number; Records?: { ErrorCode?: string; ErrorMessage?: string }[] };
      try {
        out = (await client.send(new PutRecordsCommand({ StreamName: this.name, Records: pending }))) as typeof out;
      } catch (err) {
        throw this.#backendError('PutRecords', err);
      }
      if (!out.FailedRecordCount) return;
      const failed: PutRecordsRequestEntry[] = [];
      const codes = new Map<string, number>();
      (out.Records ?? []).forEach((res, i) => {
        if (res.ErrorCode) {
          failed.push(pending[i]!);
          codes.set(res.ErrorCode, (codes.get(res.ErrorCode) ?? 0) + 1);
        }
      });
      if (failed.length === 0) return;
      pending = failed;
      const summary = [...codes].map(([c, k]) => `${k} × ${c}`).join(', ');
      throw new EdgeloopError(
        'EL_ERR_STREAM_PUT_FAILED',
        `PutRecords on stream ${this.name}: ${failed.length} of ${entries.length} records still failing after ${n - 1} retries (${summary})`,
        { details: { failed: failed.length, codes: Object.fromEntries(codes) } },
      );
    };
    await retry(attempt, {
      policy: { ...policy, maxAttempts: policy.maxAttempts + 1 },
      retryable: (err) => (err as EdgeloopError).code === 'EL_ERR_STREAM_PUT_FAILED' && this.#state !== 'closed',
      clock: this.#clock,
      random: this.#random,
      signal: this.#closing.signal,
      onFailedAttempt: ({ error, delayMs }) => {
        if (delayMs === undefined) return;
        const { failed, codes } = (error as EdgeloopError).details as { failed: number; codes: Record<string, number> };
        this.#retriedRecords += failed;
        this.#log.warn(
          { stream: this.name, failed, codes, delayMs },
          'PutRecords partially failed; retrying the failed records',
        );
      },
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#clock.setTimeout(resolve, ms);
      t.unref?.();
    });
  }

  async listShards(): Promise<string[]> {
    const client = this.#ready();
    const ids: string[] = [];
    let token: string | undefined;
    do {
      let out: ListShardsCommandOutput;
      try {
        // with NextToken, StreamName must not be sent
        out = (await client.send(
          new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.name }),
        )) as ListShardsCommandOutput;
      } catch (err) {
        throw this.#backendError('ListShards', err);
      }
      for (const s of out.Shards ?? []) if (s.ShardId) ids.push(s.ShardId);
      token = out.NextToken;
    } while (token);
    return ids;
  }

  async #iterator(client: KinesisLike, shardId: string, after: string): Promise<string> {
    const cached = this.#iterators.get(shardId);
    if (cached && cached.after === after) return cached.iterator;
    try {
      const out = (await client.send(
        new GetShardIteratorCommand(
          after === ''
            ? { StreamName: this.name, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }
            : {
                StreamName: this.name,
                ShardId: shardId,
                ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
                StartingSequenceNumber: after,
              },
        ),
      )) as { ShardIterator?: string };
      if (!out.ShardIterator) throw new Error('no ShardIterator in the response');
      return out.ShardIterator;
    } catch (err) {
      if (errName(err) === 'InvalidArgumentException' && after !== '') {
        throw new EdgeloopError(
          'EL_ERR_STREAM_POSITION_INVALID',
          `read(): position ${after} is not a sequence number of ${shardId}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      throw this.#backendError('GetShardIterator', err);
    }
  }

  async read(
    shardId: string,
    opts: { consumer: string; position?: string | undefined; limit?: number },
  ): Promise<ReadBatch> {
    const client = this.#ready();
    if (typeof shardId !== 'string' || shardId.length === 0) {
      throw new EdgeloopError('EL_ERR_STREAM_SHARD_UNKNOWN', `read(): shard id must be a non-empty string`);
    }
    const limit = intOption('KinesisStream.read', 'limit', opts?.limit, this.#readLimit, 1, 10_000);
    if (opts?.position !== undefined && !/^\d{1,128}$/.test(opts.position)) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_POSITION_INVALID',
        `read(): position ${JSON.stringify(opts.position).slice(0, 40)} is not a Kinesis sequence number`,
      );
    }
    const after = opts?.position ?? (await this.#checkpoints.get(this.name, opts?.consumer ?? '', shardId)) ?? '';
    let out: {
      Records?: {
        Data?: Uint8Array;
        PartitionKey?: string;
        SequenceNumber?: string;
        ApproximateArrivalTimestamp?: Date;
      }[];
      NextShardIterator?: string;
    };
    for (let attempt = 0; ; attempt++) {
      const iterator = await this.#iterator(client, shardId, after);
      // stay under the per-shard GetRecords rate instead of collecting ProvisionedThroughputExceeded errors
      const wait = (this.#lastRead.get(shardId) ?? -Infinity) + this.#minReadMs - this.#clock.now();
      if (wait > 0) await this.#sleep(wait);
      this.#lastRead.set(shardId, this.#clock.now());
      try {
        out = (await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }))) as typeof out;
        break;
      } catch (err) {
        this.#iterators.delete(shardId);
        // iterators expire after 5 minutes: get a fresh one once
        if (errName(err) === 'ExpiredIteratorException' && attempt === 0) continue;
        throw this.#backendError('GetRecords', err);
      }
    }
    const records: StoredRecord[] = (out.Records ?? []).map((r) => ({
      partitionKey: r.PartitionKey ?? '',
      data: r.Data ?? new Uint8Array(0),
      shardId,
      sequenceNumber: r.SequenceNumber ?? '',
      arrivedAt: r.ApproximateArrivalTimestamp?.getTime() ?? this.#clock.now(),
    }));
    const position = records.at(-1)?.sequenceNumber ?? (after === '' ? opts?.position : after);
    if (out.NextShardIterator) this.#iterators.set(shardId, { after: position ?? '', iterator: out.NextShardIterator });
    else this.#iterators.delete(shardId);
    return { records, position, endOfShard: !out.NextShardIterator };
  }

  async checkpoint(consumer: string, shardId: string, sequenceNumber: string): Promise<void> {
    this.#ready();
    if (typeof consumer !== 'string' || consumer.length === 0)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'checkpoint(): consumer must be a non-empty string');
    if (typeof sequenceNumber !== 'string' || !/^\d{1,128}$/.test(sequenceNumber)) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_POSITION_INVALID',
        `checkpoint(): ${JSON.stringify(sequenceNumber)?.slice(0, 40)} is not a Kinesis sequence number`,
      );
    }
    await this.#checkpoints.set(this.name, consumer, shardId, sequenceNumber);
  }

  async checkpointMany(consumer: string, entries: { shardId: string; sequenceNumber: string }[]): Promise<void> {
    this.#ready();
    if (typeof consumer !== 'string' || consumer.length === 0)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'checkpointMany(): consumer must be a non-empty string');
    for (const e of entries) {
      if (typeof e.sequenceNumber !== 'string' || !/^\d{1,128}$/.test(e.sequenceNumber)) {
        throw new EdgeloopError(
          'EL_ERR_STREAM_POSITION_INVALID',
          `checkpointMany(): ${JSON.stringify(e.sequenceNumber)?.slice(0, 40)} is not a Kinesis sequence number`,
        );
      }
    }
    if (this.#checkpoints.setMany) await this.#checkpoints.setMany(this.name, consumer, entries);
    else for (const e of entries) await this.#checkpoints.set(this.name, consumer, e.shardId, e.sequenceNumber);
  }

  async getCheckpoint(consumer: string, shardId: string): Promise<string | undefined> {
    this.#ready();
    return this.#checkpoints.get(this.name, consumer, shardId);
  }

  /** Woken by a put() of this process; otherwise resolves false after min(timeoutMs, pollIntervalMs). */
  async waitForRecords(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<boolean> {
    this.#ready();
    if (opts.signal?.aborted) return false;
    return new Promise<boolean>((resolve) => {
      let timer: TimerHandle | undefined;
      const onAbort = (): void => finish(false);
      const finish = (woken: boolean): void => {
        if (!this.#waiters.delete(finish)) return;
        if (timer) this.#clock.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(woken);
      };
      this.#waiters.add(finish);
      timer = this.#clock.setTimeout(() => finish(false), Math.max(0, Math.min(opts.timeoutMs, this.#pollMs)));
      timer.unref?.();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closing.abort();
    for (const w of [...this.#waiters]) w(false);
    this.#iterators.clear();
    if (this.#ownsClient) this.#client?.destroy?.();
    this.#client = undefined;
    if (this.#ownsCheckpoints) await this.#checkpoints.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
