/**
 * Flow control for a transport's publish path, without I/O: a bound on in-flight publishes (QoS 1 messages sent
 * and not yet acknowledged) and an optional publish-rate cap (token bucket). Publishes that cannot go now wait in
 * a bounded FIFO and are granted in order as slots free up and tokens refill. Time comes from an injected Clock,
 * so the rate cap is exact under a ManualClock.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';

export interface PublishGateOptions<T> {
  /** most publishes sent and not yet acknowledged at once (>= 1) */
  maxInFlight: number;
  /** publishes per second; 0 = no rate cap */
  ratePerSecond: number;
  /** bucket size: publishes that may go back to back after an idle period (>= 1); ignored when no rate cap */
  burst: number;
  /** most publishes waiting for a slot or a token; beyond that enqueue() throws EL_ERR_TRANSPORT_QUEUE_FULL */
  maxWaiting: number;
  clock: Clock;
  /** called (synchronously, in FIFO order) when a waiting item may be sent; the item now holds a slot */
  onGrant: (item: T) => void;
}

export class PublishGate<T> {
  readonly #maxInFlight: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxWaiting: number;
  readonly #clock: Clock;
  readonly #onGrant: (item: T) => void;
  #inFlight = 0;
  #tokens: number;
  #refilledAt: number;
  /** FIFO as an array with a head index: O(1) dequeue without shift() */
  #queue: (T | undefined)[] = [];
  #head = 0;
  #timer: TimerHandle | undefined;
  #pumping = false;

  constructor(opts: PublishGateOptions<T>) {
    if (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `maxInFlight must be an integer >= 1, got ${opts.maxInFlight}`,
      );
    }
    if (!(opts.ratePerSecond >= 0) || !Number.isFinite(opts.ratePerSecond)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `ratePerSecond must be a finite number >= 0, got ${opts.ratePerSecond}`,
      );
    }
    if (!(opts.burst >= 1)) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `burst must be >= 1, got ${opts.burst}`);
    }
    if (!(opts.maxWaiting >= 0)) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `maxWaiting must be >= 0, got ${opts.maxWaiting}`);
    }
    this.#maxInFlight = opts.maxInFlight;
    this.#rate = opts.ratePerSecond;
    this.#burst = opts.burst;
    this.#maxWaiting = opts.maxWaiting;
    this.#clock = opts.clock;
    this.#onGrant = opts.onGrant;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#clock.now();
  }

  get inFlight(): number {
    return this.#inFlight;
  }
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Take a slot (and a token) now if nobody waits ahead and both are available. */
  tryAcquire(): boolean {
    if (this.#head !== this.#queue.length || this.#inFlight >= this.#maxInFlight || !this.#takeToken()) return false;
    this.#inFlight++;
    return true;
  }

  /**
   * What a transport does with a publish: `onGrant(item)` now when nobody waits ahead and a slot and a token are
   * free, otherwise wait in the FIFO (throws EL_ERR_TRANSPORT_QUEUE_FULL when it is full).
   */
  submit(item: T): void {
    if (this.tryAcquire()) this.#onGrant(item);
    else this.enqueue(item);
  }

  /** Wait for a slot; `onGrant(item)` runs when it is this item's turn. */
  enqueue(item: T): void {
    if (this.waiting >= this.#maxWaiting) {
      throw new EdgeloopError(
        'EL_ERR_TRANSPORT_QUEUE_FULL',
        `${this.waiting} publishes already wait for an in-flight slot or a rate token (maxWaiting ${this.#maxWaiting})`,
      );
    }
    this.#queue.push(item);
    this.#pump();
  }

  /** A granted publish finished (acked, failed or abandoned): free its slot and let the next one go. */
  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
    if (this.#head !== this.#queue.length) this.#pump();
  }

  /** Forget every slot (the connection that held them is gone). */
  resetInFlight(): void {
    this.#inFlight = 0;
  }

  /** Remove and return every waiting item (to reject them), cancel the refill timer. */
  drain(): T[] {
    const items = this.#queue.slice(this.#head) as T[];
    this.#queue = [];
    this.#head = 0;
    this.#cancelTimer();
    return items;
  }

  #takeToken(): boolean {
    if (this.#rate === 0) return true;
    const now = this.#clock.now();
    if (now > this.#refilledAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000);
      this.#refilledAt = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  #pump(): void {
    // onGrant may publish synchronously and complete synchronously (release() re-enters): loop, don't recurse
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#head !== this.#queue.length && this.#inFlight < this.#maxInFlight) {
        if (!this.#takeToken()) {
          this.#armTimer();
          break;
        }
        const item = this.#queue[this.#head] as T;
        this.#queue[this.#head++] = undefined;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        this.#inFlight++;
        this.#onGrant(item);
      }
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return;
    const ms = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#rate));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, ms);
    this.#timer.unref?.();
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
