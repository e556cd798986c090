/**
 * DedupRecovery: rebuilds the ingest's dedup state from the stream's tail, and keeps a recovery checkpoint.
 *
 * A kill -9 between a stream commit and the dedup commit leaves records in the stream whose seqs the persisted
 * dedup state does not hold. At start, the records put after the recovery checkpoint are read back (data parsed
 * only for deviceId, type and seqs) and handed to the owner; an empty dedup store is rebuilt from the oldest record
 * in the stream. Every checkpointMs the checkpoint advances to where the previous tick read up to.
 */
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Stream } from '../stream/stream.ts';
import type { SqliteDedupStore } from './sqlite-dedup-store.ts';

/** Stream consumer name under which the ingest keeps its dedup-recovery checkpoints. */
export const DEDUP_RECOVERY_CONSUMER = 'edgeloop-ingest-dedup';

export interface DedupRecoveryOptions {
  stream: Stream;
  /** the persisted dedup state; undefined when it is kept in memory only */
  store: SqliteDedupStore | undefined;
  /** how often the recovery checkpoint advances, ms */
  checkpointMs: number;
  clock: Clock;
  logger: Logger;
  /** seqs of one device found in a stream record: add them to the working and committed dedup state */
  apply: (deviceId: string, seqs: readonly number[]) => void;
  /** the committed dedup state of a device, to persist */
  committedState: (deviceId: string) => { intervals: number[] };
}

type RecordBody = {
  deviceId?: unknown;
  type?: unknown;
  readings?: Array<{ seq: number }>;
  events?: Array<{ seq: number }>;
};

export class DedupRecovery {
  readonly #o: DedupRecoveryOptions;
  #timer: TimerHandle | undefined;
  #tick: Promise<void> | undefined;
  #closed = false;
  /** per shard: position reached by the last follow tick (checkpointed one tick later) */
  readonly #followPos = new Map<string, string | undefined>();
  readonly #checkpointable = new Map<string, string | undefined>();

  constructor(opts: DedupRecoveryOptions) {
    this.#o = opts;
  }

  /** Re-apply the stream's tail, then advance the checkpoint every checkpointMs. Resolves with the records read. */
  async start(): Promise<number> {
    const n = await this.#recover();
    this.#scheduleTick();
    return n;
  }

  /** Stop the checkpoint ticks; resolves once a running tick has finished. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#tick ?? Promise.resolve();
  }

  async #recover(): Promise<number> {
    const { stream, store } = this.#o;
    const touched = new Set<string>();
    let n = 0;
    // an empty dedup store (first start, or the file was deleted) is rebuilt from the oldest record in the stream:
    // read under a consumer name that never checkpoints; otherwise from the recovery checkpoint
    const rebuild = !store || store.deviceCount() === 0;
    const readAs = rebuild ? `${DEDUP_RECOVERY_CONSUMER}:rebuild` : DEDUP_RECOVERY_CONSUMER;
    for (const shardId of await stream.listShards()) {
      let position: string | undefined;
      let last: string | undefined;
      for (;;) {
        const b = await stream.read(shardId, { consumer: readAs, position, limit: 1000 });
        for (const r of b.records) {
          n++;
          let m: RecordBody;
          try {
            m = JSON.parse(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('utf8'));
          } catch {
            continue; // not written by this ingest
          }
          const items = m.type === 'telemetry' ? m.readings : m.type === 'events' ? m.events : undefined;
          if (typeof m.deviceId !== 'string' || !Array.isArray(items)) continue;
          const seqs: number[] = [];
          for (const it of items) if (typeof it?.seq === 'number') seqs.push(it.seq);
          this.#o.apply(m.deviceId, seqs);
          touched.add(m.deviceId);
        }
        if (b.records.length > 0) last = b.records[b.records.length - 1]!.sequenceNumber;
        if (b.records.length === 0 || b.endOfShard) break;
        position = b.position;
      }
      if (last !== undefined) {
        if (store && touched.size > 0) {
          store.saveMany(
            [...touched].map((id) => [id, this.#o.committedState(id)]),
            this.#o.clock.now(),
          );
          touched.clear();
        }
        await stream.checkpoint(DEDUP_RECOVERY_CONSUMER, shardId, last);
      }
      this.#followPos.set(shardId, last);
    }
    if (n > 0) this.#o.logger.info({ records: n, rebuild }, 'dedup state recovered from the stream');
    return n;
  }

  #scheduleTick(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#tick = this.#followTail().catch((err: unknown) =>
        this.#o.logger.warn({ err }, 'dedup recovery checkpoint failed'),
      );
      void this.#tick.then(() => this.#scheduleTick());
    }, this.#o.checkpointMs);
    this.#timer.unref?.();
  }

  /**
   * Advance the recovery checkpoint to where the previous tick read up to: records that old had their dedup
   * state committed long ago (the gap is microseconds), so a restart only re-applies the last ticks' records.
   */
  async #followTail(): Promise<void> {
    const { stream } = this.#o;
    for (const shardId of await stream.listShards()) {
      const prev = this.#followPos.get(shardId);
      let position = prev;
      let last = prev;
      for (let i = 0; i < 100 && !this.#closed; i++) {
        const b = await stream.read(shardId, { consumer: DEDUP_RECOVERY_CONSUMER, position, limit: 10_000 });
        if (b.records.length === 0) break;
        last = b.records[b.records.length - 1]!.sequenceNumber;
        position = b.position;
        if (b.endOfShard) break;
      }
      const cp = this.#checkpointable.get(shardId);
      if (cp !== undefined) await stream.checkpoint(DEDUP_RECOVERY_CONSUMER, shardId, cp);
      this.#checkpointable.set(shardId, last);
      this.#followPos.set(shardId, last);
    }
  }
}
