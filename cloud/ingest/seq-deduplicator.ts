/**
 * Per-device record deduplication on (deviceId, seq). Pure: no I/O, no clock.
 *
 * Each device keeps a sorted set of disjoint, non-adjacent closed intervals [lo, hi] of seqs already accepted.
 * Agents send in seq order, so the common case is "extend the last interval" (O(1)); out-of-order arrivals
 * (events sent ahead of telemetry, a resend after a reconnect) open gaps that close when the missing seqs come.
 *
 * Memory is bounded per device by `maxIntervals`: when a device has more open gaps than that, the two lowest
 * intervals are merged, i.e. the oldest gap is declared "seen". A seq that arrives later inside that collapsed gap
 * is treated as a duplicate and counted in `collapsedGaps`. The number of devices kept in memory is bounded by the
 * caller (IngestDedup evicts and reloads device states from SQLite).
 */

export interface DeviceSeqState {
  /** flattened [lo0, hi0, lo1, hi1, ...], sorted, disjoint and non-adjacent */
  intervals: number[];
}

export interface SeqDeduplicatorOptions {
  /** open intervals per device before the oldest gap is collapsed; default 64 */
  maxIntervals?: number;
}

export class SeqDeduplicator {
  readonly maxIntervals: number;
  readonly #devices = new Map<string, number[]>();
  #collapsedGaps = 0;

  constructor(opts: SeqDeduplicatorOptions = {}) {
    const max = opts.maxIntervals ?? 64;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxIntervals must be an integer >= 1, got ${max}`);
    this.maxIntervals = max;
  }

  /** How many times an old gap was declared seen to keep memory bounded. */
  get collapsedGaps(): number {
    return this.#collapsedGaps;
  }

  get deviceCount(): number {
    return this.#devices.size;
  }

  has(deviceId: string): boolean {
    return this.#devices.has(deviceId);
  }

  /** true when (deviceId, seq) was already added. */
  seen(deviceId: string, seq: number): boolean {
    const iv = this.#devices.get(deviceId);
    if (!iv || iv.length === 0) return false;
    // fast path: at or after the last interval
    const lastHi = iv[iv.length - 1]!;
    if (seq > lastHi) return false;
    const i = findInterval(iv, seq);
    return i >= 0;
  }

  /** Highest seq seen for the device, or -1. */
  highest(deviceId: string): number {
    const iv = this.#devices.get(deviceId);
    return iv && iv.length > 0 ? iv[iv.length - 1]! : -1;
  }

  /** Mark [lo, hi] as seen. */
  addRange(deviceId: string, lo: number, hi: number): void {
    let iv = this.#devices.get(deviceId);
    if (!iv) {
      iv = [];
      this.#devices.set(deviceId, iv);
    }
    addInterval(iv, lo, hi);
    while (iv.length / 2 > this.maxIntervals) {
      // collapse the oldest gap: merge interval 0 and 1
      iv.splice(1, 2);
      this.#collapsedGaps++;
    }
  }

  /** Un-mark [lo, hi] (used to roll back records whose stream put failed). */
  removeRange(deviceId: string, lo: number, hi: number): void {
    const iv = this.#devices.get(deviceId);
    if (!iv) return;
    removeInterval(iv, lo, hi);
    if (iv.length === 0) this.#devices.delete(deviceId);
  }

  /** Snapshot of one device's state (a copy), for persistence. */
  export(deviceId: string): DeviceSeqState | undefined {
    const iv = this.#devices.get(deviceId);
    return iv ? { intervals: iv.slice() } : undefined;
  }

  /** Replace one device's state (loading from persistence). Validates the shape. */
  import(deviceId: string, state: DeviceSeqState): void {
    const iv = state.intervals;
    if (!Array.isArray(iv) || iv.length % 2 !== 0) throw new RangeError(`bad interval state for ${deviceId}`);
    for (let i = 0; i < iv.length; i += 2) {
      const lo = iv[i]!;
      const hi = iv[i + 1]!;
      if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi || (i > 0 && lo <= iv[i - 1]! + 1)) {
        throw new RangeError(`bad interval state for ${deviceId} at ${i / 2}`);
      }
    }
    this.#devices.set(deviceId, iv.slice());
  }

  /** Forget a device's state in memory (eviction; the caller keeps it persisted). */
  evict(deviceId: string): void {
    this.#devices.delete(deviceId);
  }

  deviceIds(): IterableIterator<string> {
    return this.#devices.keys();
  }
}

/** Index (even) of the interval containing seq, or -1. */
function findInterval(iv: number[], seq: number): number {
  let lo = 0;
  let hi = iv.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const a = iv[mid * 2]!;
    const b = iv[mid * 2 + 1]!;
    if (seq < a) hi = mid - 1;
    else if (seq > b) lo = mid + 1;
    else return mid * 2;
  }
  return -1;
}

/** First interval index k (pair index) whose hi >= x, or n when none. */
function lowerBoundHi(iv: number[], x: number): number {
  let lo = 0;
  let hi = iv.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (iv[mid * 2 + 1]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function addInterval(iv: number[], lo: number, hi: number): void {
  const n = iv.length;
  // fast paths: append or extend the last interval
  if (n === 0 || lo > iv[n - 1]! + 1) {
    iv.push(lo, hi);
    return;
  }
  if (lo >= iv[n - 2]! && lo <= iv[n - 1]! + 1) {
    if (hi > iv[n - 1]!) iv[n - 1] = hi;
    return;
  }
  // general case: merge every interval touching [lo - 1, hi + 1]
  const first = lowerBoundHi(iv, lo - 1);
  let last = first;
  let newLo = lo;
  let newHi = hi;
  while (last < n / 2 && iv[last * 2]! <= hi + 1) {
    newLo = Math.min(newLo, iv[last * 2]!);
    newHi = Math.max(newHi, iv[last * 2 + 1]!);
    last++;
  }
  iv.splice(first * 2, (last - first) * 2, newLo, newHi);
}

function removeInterval(iv: number[], lo: number, hi: number): void {
  const out: number[] = [];
  for (let i = 0; i < iv.length; i += 2) {
    const a = iv[i]!;
    const b = iv[i + 1]!;
    if (b < lo || a > hi) {
      out.push(a, b);
      continue;
    }
    if (a < lo) out.push(a, lo - 1);
    if (b > hi) out.push(hi + 1, b);
  }
  iv.length = 0;
  for (const x of out) iv.push(x);
}
