/**
 * Processor: the streaming feature processor. It consumes every shard of a Stream as consumer `consumer`, turns
 * device messages into per-device feature records (FeatureAggregator), writes them to a FeatureStore (group
 * `device_features` by default), raises threshold alerts, appends to an offline store, and then checkpoints.
 *
 * Delivery into the online store: at-least-once. The checkpoint is written after the feature store write, so a
 * crash in between re-processes those records on restart. That is safe: ingest already deduplicated device
 * messages, feature puts are last-write-wins by event time, and after a restart a device's state is re-seeded
 * from its stored record (see FeatureAggregator for what that means for windows).
 *
 * Delivery into the offline history: exactly-once when the offline store reports committed stream positions
 * (DurableOfflineSink, as ParquetOfflineStore does). Each step's rows are appended with the step's positions;
 * the checkpoint advances only to positions whose rows are in committed files, so a crash re-reads every record
 * whose rows were still buffered; and records at or before the committed positions found at start are
 * re-processed for state only, their rows not appended again. With a plain OfflineSink the checkpoint does not
 * wait for it (at-most-once into it on a crash).
 *
 * The processor neither starts nor closes the stream, the store or the offline store: the wiring owns them
 * (cloud/create-cloud.ts), and closes the processor first. Its close() flushes a DurableOfflineSink, so that the
 * final checkpoint covers everything processed.
 */
import { systemClock, type Clock } from '../../lib/clock.ts';
import { runConsumerLoop } from '../stream/consumer-loop.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureRecord, FeatureStore } from '../feature-store/feature-store.ts';
import type { ReadBatch, Stream } from '../stream/stream.ts';
import { AlertEvaluator } from './alert-rules.ts';
import { FeatureAggregator, type AggregatorStats } from './feature-aggregator.ts';
import { resolveProcessorOptions, type ProcessorOptions, type ResolvedProcessorOptions } from './processor-options.ts';
import { FeatureBatch, type BatchItem, type FeatureBatchCounters, type OfflineSink } from './feature-batch.ts';

export type { ProcessorOptions } from './processor-options.ts';

/** An offline store that commits rows together with the stream positions they came from (ParquetOfflineStore). */
export interface DurableOfflineSink extends OfflineSink {
  append(
    group: string,
    records: FeatureRecord[],
    source?: { consumer: string; positions: Record<string, string> },
  ): void | Promise<void>;
  /** per shard, the last record of `consumer` whose rows of `group` are in committed files */
  committedPositions(group: string, consumer: string): Record<string, string>;
  flush(): Promise<void>;
}

function isDurable(sink: OfflineSink | undefined): sink is DurableOfflineSink {
  const s = sink as Partial<DurableOfflineSink> | undefined;
  return typeof s?.committedPositions === 'function' && typeof s.flush === 'function';
}

/**
 * Order of two sequence numbers of one shard. LocalStream's (zero-padded) and Kinesis' are decimal integers of
 * any length: compared as numbers; anything else compares as text.
 */
export function compareSequenceNumbers(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = a.replace(/^0+(?=.)/, '');
    const y = b.replace(/^0+(?=.)/, '');
    if (x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ProcessorStats extends FeatureBatchCounters {
  aggregator: AggregatorStats;
  evictedDevices: number;
  checkpoints: number;
  checkpointErrors: number;
  loopErrors: number;
  /** device time → feature update, ms, over the last 4096 writes */
  lagMs: Record<string, number>;
}

export class Processor {
  readonly #o: ResolvedProcessorOptions;
  readonly #stream: Stream;
  readonly #store: FeatureStore;
  readonly #consumer: string;
  readonly #group: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #agg: FeatureAggregator;
  readonly #alerts: AlertEvaluator;
  readonly #batch: FeatureBatch;
  readonly #positions = new Map<string, string | undefined>();
  readonly #recent = new Map<string, true>();
  readonly #pendingCheckpoints = new Map<string, string>();
  readonly #durable: DurableOfflineSink | undefined;
  /** per shard, the last record whose offline rows were committed before this process started (found at first step) */
  #replayed: Map<string, string> | undefined;
  /** the last checkpoint written per shard */
  readonly #checkpointed = new Map<string, string>();
  /** true while re-processing records whose offline rows are already committed */
  #offlineMuted = false;
  /** the stream positions of the records being processed, appended with their rows */
  #offlineSource: { consumer: string; positions: Record<string, string> } | undefined;
  #checkpointErrors = 0;
  #shards: string[] = [];
  #shardsAt = -Infinity;
  #state: 'new' | 'running' | 'closed' = 'new';
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #evicted = 0;
  #checkpoints = 0;
  #loopErrors = 0;
  #step: Promise<number> | undefined;

  constructor(opts: ProcessorOptions) {
    const o = resolveProcessorOptions(opts);
    this.#o = o;
    this.#stream = o.stream;
    this.#store = o.store;
    this.#consumer = o.consumer;
    this.#group = o.group;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#agg = new FeatureAggregator(o.aggregation);
    const offline = o.offlineStore;
    this.#durable = isDurable(offline) ? offline : undefined;
    this.#alerts = new AlertEvaluator(o.alertRules);
    this.#batch = new FeatureBatch({
      store: this.#store,
      group: this.#group,
      aggregator: this.#agg,
      alerts: this.#alerts,
      alertSink: o.alertSink,
      offline: offline && {
        // rows and the stream positions they come from go into the store in one call: a flush commits both or neither
        append: (group, records) => {
          if (this.#offlineMuted) return;
          return this.#durable
            ? this.#durable.append(group, records, this.#offlineSource)
            : offline.append(group, records);
        },
      },
      onFeatureWrite: o.onFeatureWrite,
      onMessage: o.onMessage,
      retry: { minMs: 100, maxMs: 5000, maxAttempts: Infinity, ...o.retry },
      clock: this.#clock,
      logger: this.#log,
      stopped: () => this.#state === 'closed',
      signal: this.#abort.signal,
    });
  }

  get group(): string {
    return this.#group;
  }

  /** Begin consuming in the background. The stream and store must be started. */
  async start(): Promise<void> {
    if (this.#state === 'running') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', 'Processor is closed');
    this.#state = 'running';
    this.#loop = this.#run();
  }

  #run(): Promise<void> {
    // the processor's idle timers are unref'd: a process that runs only it is held open by its owner (System keepAlive)
    return runConsumerLoop({
      stream: this.#stream,
      step: () => this.step(),
      running: () => this.#state === 'running',
      onError: (err) => {
        this.#loopErrors++;
        this.#log.error({ err }, 'processor step failed');
      },
      idleWaitMs: this.#o.idleWaitMs,
      clock: this.#clock,
      signal: this.#abort.signal,
      unrefTimers: true,
    });
  }

  /**
   * Read one batch from every shard, process it, write features, checkpoint. Returns the number of records
   * processed (0 when the stream had nothing new). The background loop calls it; tests and tools may call it
   * directly instead of start().
   */
  async step(): Promise<number> {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', 'Processor is closed');
    if (this.#step !== undefined) return this.#step;
    this.#step = this.#stepInner();
    try {
      return await this.#step;
    } finally {
      this.#step = undefined;
    }
  }

  /** Process until the stream has nothing new (for tools and tests). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.step();
      total += n;
      if (n === 0) return total;
    }
  }

  async #stepInner(): Promise<number> {
    const now = this.#clock.now();
    if (now - this.#shardsAt >= this.#o.shardRefreshMs || this.#shards.length === 0) {
      this.#shards = await this.#stream.listShards();
      this.#shardsAt = now;
    }
    let total = 0;
    if (this.#pendingCheckpoints.size > 0) await this.#checkpoint([...this.#pendingCheckpoints]);
    // read every shard, then one aggregation + one feature write + one checkpoint transaction for the whole step:
    // two commits per step instead of two per shard
    const read: { shard: string; batch: ReadBatch }[] = [];
    for (const shard of this.#shards) {
      if (this.#state === 'closed') break;
      const batch = await this.#stream.read(shard, {
        consumer: this.#consumer,
        position: this.#positions.get(shard),
        limit: this.#o.batchSize,
      });
      read.push({ shard, batch });
    }
    // records whose offline rows a previous run committed update state (and the online store) only
    const durable = this.#durable;
    if (durable && !this.#replayed)
      this.#replayed = new Map(Object.entries(durable.committedPositions(this.#group, this.#consumer)));
    const replay: BatchItem[] = [];
    const fresh: BatchItem[] = [];
    const freshPositions: Record<string, string> = {};
    for (const { shard, batch } of read) {
      const upTo = this.#replayed?.get(shard);
      for (const r of batch.records) {
        const item = { data: r.data, arrivedAt: r.arrivedAt, id: `${shard}/${r.sequenceNumber}` };
        if (upTo !== undefined && compareSequenceNumbers(r.sequenceNumber, upTo) <= 0) replay.push(item);
        else {
          fresh.push(item);
          freshPositions[shard] = r.sequenceNumber;
        }
      }
    }
    if (replay.length > 0) {
      this.#offlineMuted = true;
      try {
        await this.#batch.process(replay);
      } finally {
        this.#offlineMuted = false;
      }
    }
    if (fresh.length > 0) {
      this.#offlineSource = { consumer: this.#consumer, positions: freshPositions };
      try {
        await this.#batch.process(fresh);
      } finally {
        this.#offlineSource = undefined;
      }
      // records that produced no rows (not device messages, nothing new) still move the committed positions
      if (durable) await durable.append(this.#group, [], { consumer: this.#consumer, positions: freshPositions });
    }
    const done: [string, string][] = [];
    for (const { shard, batch } of read) {
      // the aggregator has these records now: never read them again in this process, even if the checkpoint fails
      this.#positions.set(shard, batch.position);
      if (batch.records.length === 0) continue;
      for (const r of batch.records) this.#touch(r.partitionKey);
      total += batch.records.length;
      done.push([shard, batch.records.at(-1)!.sequenceNumber]);
    }
    const entries = durable ? this.#committedEntries(durable) : done;
    if (entries.length > 0) await this.#checkpoint(entries);
    this.#evict();
    return total;
  }

  /** checkpoints that the offline store's committed positions allow and that were not written yet */
  #committedEntries(durable: DurableOfflineSink): [string, string][] {
    return Object.entries(durable.committedPositions(this.#group, this.#consumer)).filter(([shard, seqNo]) => {
      const last = this.#checkpointed.get(shard);
      return last === undefined || compareSequenceNumbers(seqNo, last) > 0;
    });
  }

  async #checkpoint(entries: [shard: string, sequenceNumber: string][]): Promise<void> {
    try {
      if (this.#stream.checkpointMany) {
        await this.#stream.checkpointMany(
          this.#consumer,
          entries.map(([shardId, sequenceNumber]) => ({ shardId, sequenceNumber })),
        );
      } else {
        for (const [shard, seqNo] of entries) await this.#stream.checkpoint(this.#consumer, shard, seqNo);
      }
      for (const [shard, seqNo] of entries) {
        if (this.#pendingCheckpoints.get(shard) === seqNo) this.#pendingCheckpoints.delete(shard);
        this.#checkpointed.set(shard, seqNo);
      }
      this.#checkpoints += entries.length;
    } catch (err) {
      // retried at the next step; a crash before then re-processes these records (at-least-once)
      for (const [shard, seqNo] of entries) this.#pendingCheckpoints.set(shard, seqNo);
      this.#checkpointErrors++;
      this.#log.warn({ err, shards: entries.map(([s]) => s) }, 'checkpoint failed; will retry');
    }
  }

  #touch(deviceId: string): void {
    this.#recent.delete(deviceId);
    this.#recent.set(deviceId, true);
  }

  #evict(): void {
    while (this.#agg.deviceCount > this.#o.maxDevices && this.#recent.size > 0) {
      const oldest = this.#recent.keys().next().value as string;
      this.#recent.delete(oldest);
      this.#agg.evict(oldest);
      this.#alerts.forget(oldest);
      this.#evicted++;
    }
  }

  stats(): ProcessorStats {
    return {
      ...this.#batch.counters,
      aggregator: this.#agg.stats(),
      evictedDevices: this.#evicted,
      checkpoints: this.#checkpoints,
      checkpointErrors: this.#checkpointErrors,
      loopErrors: this.#loopErrors,
      lagMs: this.#batch.lag.snapshot([50, 95, 99]),
    };
  }

  /** Stop reading, finish the batch in flight (write + checkpoint), then resolve. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') {
      await this.#loop;
      return;
    }
    this.#state = 'closed';
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
    await this.#step?.catch(() => undefined);
    if (this.#durable) {
      await this.#durable
        .flush()
        .catch((err: unknown) =>
          this.#log.error({ err }, 'offline store flush at close failed; its records are read again at restart'),
        );
      for (const [shard, seqNo] of this.#committedEntries(this.#durable)) this.#pendingCheckpoints.set(shard, seqNo);
    }
    if (this.#pendingCheckpoints.size > 0) await this.#checkpoint([...this.#pendingCheckpoints]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
