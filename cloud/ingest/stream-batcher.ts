/**
 * StreamBatcher: group commit of stream records with backpressure, for the ingest.
 *
 *   add(deviceId, data, runs) → current batch → sealed (full, or the event-loop turn / linger ended)
 *     → Stream.put (up to maxInFlightPuts at once, retried) → onCommitted / onRefused → add() settles
 *
 * While a put is in flight, added records gather in the next batch, which is put as soon as the previous one
 * completes (or when it reaches maxBatchRecords / maxBatchBytes). `lingerMs` > 0 waits that long for a batch to
 * fill when no put is in flight. Records added but not yet put are bounded by maxPendingRecords: while `full`,
 * the caller waits on `spaceFreed()` (its backpressure to its publishers).
 *
 * The batcher knows nothing of dedup: each record comes with the seq runs it carries, and the owner's
 * `onCommitted` (the records are in the stream: persist the dedup state) or `onRefused` (roll the runs back) runs
 * synchronously before the callers of add() are resolved or rejected.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { retry } from '../../lib/retry.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Stream, StreamRecord } from '../stream/stream.ts';

/** Consecutive seqs lo..hi of one device carried by a record. */
export interface SeqRun {
  deviceId: string;
  lo: number;
  hi: number;
}

/** One settled put, as the owner's callbacks see it. */
export interface SettledPut {
  runs: readonly SeqRun[];
  records: number;
  bytes: number;
  ms: number;
}

export interface StreamBatcherOptions {
  stream: Stream;
  maxBatchRecords: number;
  maxBatchBytes: number;
  lingerMs: number;
  maxInFlightPuts: number;
  maxPendingRecords: number;
  /** retry of a failed Stream.put; maxAttempts defaults to 5 */
  retry: Partial<RetryPolicy>;
  clock: Clock;
  logger: Logger;
  /** the batch is in the stream; runs before its callers resolve */
  onCommitted: (put: SettledPut) => void;
  /** the batch was refused after retries; runs before its callers reject */
  onRefused: (put: SettledPut, error: unknown) => void;
}

interface Batch {
  records: StreamRecord[];
  bytes: number;
  runs: SeqRun[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  sealed: boolean;
}

export class StreamBatcher {
  readonly #o: StreamBatcherOptions;
  /** per device: the newest batch holding some of its records, while unsettled */
  readonly #pendingByDevice = new Map<string, Batch>();
  readonly #ready: Batch[] = [];
  #current: Batch | undefined;
  #inFlight = 0;
  #pendingRecords = 0;
  #spaceWaiters: Array<() => void> = [];
  #linger: TimerHandle | undefined;
  #scheduled = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: StreamBatcherOptions) {
    this.#o = opts;
  }

  /** records added but not yet put */
  get pendingRecords(): number {
    return this.#pendingRecords;
  }

  get inFlightPuts(): number {
    return this.#inFlight;
  }

  /** Whether some record of this device is in a batch not yet settled. */
  hasPending(deviceId: string): boolean {
    return this.#pendingByDevice.has(deviceId);
  }

  /** Settles with the newest unsettled batch holding records of this device; undefined when there is none. */
  pendingFor(deviceId: string): Promise<void> | undefined {
    return this.#pendingByDevice.get(deviceId)?.promise;
  }

  /** maxPendingRecords records are pending: wait with spaceFreed() before adding more */
  get full(): boolean {
    return this.#pendingRecords >= this.#o.maxPendingRecords;
  }

  /** Resolves when a put settles (room may be free again) or drain() starts. */
  spaceFreed(): Promise<void> {
    return new Promise<void>((r) => this.#spaceWaiters.push(r));
  }

  /**
   * Add one record of a device with the seq runs it carries; resolves when the stream holds it, rejects
   * (EL_ERR_INGEST_STREAM_PUT) when its batch was refused after retries.
   */
  add(deviceId: string, data: Uint8Array, runs: readonly SeqRun[]): Promise<void> {
    const batch = this.#batchFor(data.byteLength);
    batch.records.push({ partitionKey: deviceId, data });
    batch.bytes += data.byteLength;
    for (const r of runs) batch.runs.push(r);
    this.#pendingByDevice.set(deviceId, batch);
    this.#pendingRecords++;
    if (batch.records.length >= this.#o.maxBatchRecords || batch.bytes >= this.#o.maxBatchBytes) this.#sealCurrent();
    this.#schedule();
    return batch.promise;
  }

  /** Resolves when nothing is pending or in flight. */
  async idle(): Promise<void> {
    this.#sealCurrent();
    this.#pump();
    while (this.#inFlight > 0 || this.#ready.length > 0 || this.#current) {
      await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
  }

  /** Stop intake: failed puts are no longer retried and the linger timer is cleared. */
  stopIntake(): void {
    this.#closed = true;
    if (this.#linger) this.#o.clock.clearTimeout(this.#linger);
    this.#linger = undefined;
  }

  /** After stopIntake(): release the space waiters, put what is pending and wait for every put to settle. */
  async drain(): Promise<void> {
    for (const w of this.#spaceWaiters.splice(0)) w();
    this.#sealCurrent();
    this.#pump();
    while (this.#inFlight > 0 || this.#ready.length > 0) {
      await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
  }

  #batchFor(bytes: number): Batch {
    const cur = this.#current;
    if (cur && cur.bytes + bytes > this.#o.maxBatchBytes && cur.records.length > 0) this.#sealCurrent();
    if (!this.#current) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // a batch nobody awaits any more (all callers gone) must not raise an unhandled rejection
      promise.catch(() => {});
      this.#current = { records: [], bytes: 0, runs: [], promise, resolve, reject, sealed: false };
    }
    return this.#current;
  }

  #sealCurrent(): void {
    const cur = this.#current;
    if (!cur) return;
    this.#current = undefined;
    if (cur.records.length === 0) return;
    cur.sealed = true;
    this.#ready.push(cur);
  }

  #schedule(): void {
    if (this.#ready.length > 0) {
      this.#pump();
      return;
    }
    if (this.#scheduled || this.#inFlight >= this.#o.maxInFlightPuts) return;
    if (this.#o.lingerMs > 0) {
      if (this.#linger) return;
      this.#linger = this.#o.clock.setTimeout(() => {
        this.#linger = undefined;
        this.#sealCurrent();
        this.#pump();
      }, this.#o.lingerMs);
      return;
    }
    // gather what arrives in this turn of the event loop (a socket chunk's packets) into one put
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#inFlight < this.#o.maxInFlightPuts) {
        this.#sealCurrent();
        this.#pump();
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#o.maxInFlightPuts && this.#ready.length > 0) {
      const b = this.#ready.shift()!;
      this.#inFlight++;
      void this.#put(b);
    }
    if (this.#inFlight === 0 && this.#ready.length === 0 && !this.#current) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  async #put(b: Batch): Promise<void> {
    const t0 = performance.now();
    let err: unknown;
    let ok = false;
    const policy = this.#o.retry;
    try {
      // the wait between puts is a referenced timer: the callers' add() awaits this put
      await retry(() => this.#o.stream.put(b.records), {
        policy: { ...policy, maxAttempts: policy.maxAttempts ?? 5 },
        retryable: () => !this.#closed,
        clock: this.#o.clock,
        onFailedAttempt: ({ error, attempt }) =>
          this.#o.logger.warn({ err: error, records: b.records.length, attempt }, 'stream put failed'),
      });
      ok = true;
    } catch (e) {
      err = e;
    }
    const settled: SettledPut = { runs: b.runs, records: b.records.length, bytes: b.bytes, ms: performance.now() - t0 };
    if (ok) this.#o.onCommitted(settled);
    else this.#o.onRefused(settled, err);
    for (const r of b.records) {
      if (this.#pendingByDevice.get(r.partitionKey) === b) this.#pendingByDevice.delete(r.partitionKey);
    }
    this.#pendingRecords -= b.records.length;
    this.#inFlight--;
    if (ok) b.resolve();
    else {
      b.reject(
        new EdgeloopError(
          'EL_ERR_INGEST_STREAM_PUT',
          `stream put of ${b.records.length} records failed: ${(err as Error)?.message}`,
          { cause: err },
        ),
      );
    }
    const waiters = this.#spaceWaiters.splice(0);
    for (const w of waiters) w();
    if (this.#current && this.#current.records.length > 0 && this.#ready.length === 0 && this.#o.lingerMs === 0) {
      this.#sealCurrent();
    }
    this.#pump();
    if (this.#current && this.#current.records.length > 0) this.#schedule();
  }
}
