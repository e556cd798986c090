/**
 * Fixed-memory latency distribution: log-spaced buckets (5 % wide) from 0.05 ms to ~1 h, exact count, min, max
 * and mean, plus the largest `exactTail` samples themselves. A percentile whose rank falls among those samples
 * is the measured value (p99 stays exact up to 100 × exactTail samples, p99.9 up to 1000 ×; every percentile
 * while the count is at most exactTail); below them it is interpolated within its bucket (5 % wide). Used where
 * keeping every sample would not fit (10^5 readings/s for an hour). Pure.
 */
const MIN = 0.05;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(3_600_000 / MIN) / LOG_GROWTH) + 2;

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/** The k largest values seen: a binary min-heap (the smallest kept value at the root). */
class TopK {
  readonly #h: Float64Array;
  #n = 0;
  #sorted: Float64Array | undefined;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.#h = new Float64Array(capacity);
  }
  get size(): number {
    return this.#n;
  }
  offer(v: number): void {
    const h = this.#h;
    if (this.#n < this.capacity) {
      let i = this.#n++;
      h[i] = v;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p]! <= h[i]!) break;
        [h[p], h[i]] = [h[i]!, h[p]!];
        i = p;
      }
    } else if (this.capacity > 0 && v > h[0]!) {
      h[0] = v;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.#n && h[l]! < h[m]!) m = l;
        if (r < this.#n && h[r]! < h[m]!) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    } else return;
    this.#sorted = undefined;
  }
  /** the j-th largest kept value (j = 1 is the maximum) */
  largest(j: number): number {
    this.#sorted ??= this.#h.slice(0, this.#n).sort();
    return this.#sorted[this.#n - j]!;
  }
  values(): Float64Array {
    return this.#h.subarray(0, this.#n);
  }
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  readonly #tail: TopK;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** `exactTail`: how many of the largest samples are kept as they are (8 bytes each); default 100 000 */
  constructor(opts: { exactTail?: number } = {}) {
    this.#tail = new TopK(Math.max(0, Math.floor(opts.exactTail ?? 100_000)));
  }

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(0, ms);
    this.#counts[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
    this.#tail.offer(v);
  }

  merge(other: LatencyHistogram): void {
    const o = other.#counts;
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += o[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
    for (const v of other.#tail.values()) this.#tail.offer(v);
  }

  get count(): number {
    return this.#count;
  }

  /** Whether percentile p is a measured sample (its rank is among the kept largest samples). */
  isExact(p: number): boolean {
    if (this.#count === 0) return false;
    const rank = nearestRank(p, this.#count);
    return this.#count - rank + 1 <= this.#tail.size;
  }

  /**
   * Value at percentile p (0-100), nearest-rank: the measured sample of that rank when it is among the kept
   * largest samples; otherwise interpolated within the bucket holding the rank, clamped to [min, max].
   */
  percentile(p: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = nearestRank(p, this.#count);
    const fromTop = this.#count - rank + 1;
    if (fromTop <= this.#tail.size) return this.#tail.largest(fromTop);
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.#counts[i]!;
      if (acc + c >= rank) {
        const lo = i === 0 ? 0 : upperEdge(i - 1);
        const v = lo + ((rank - acc) / c) * (upperEdge(i) - lo);
        return Math.min(this.#max, Math.max(this.#min, v));
      }
      acc += c;
    }
    return this.#max;
  }

  summary(): LatencySummary {
    const r = (x: number): number => (Number.isFinite(x) ? Math.round(x * 100) / 100 : Number.NaN);
    return {
      count: this.#count,
      min: r(this.#count ? this.#min : Number.NaN),
      mean: r(this.#count ? this.#sum / this.#count : Number.NaN),
      p50: r(this.percentile(50)),
      p90: r(this.percentile(90)),
      p95: r(this.percentile(95)),
      p99: r(this.percentile(99)),
      p999: r(this.percentile(99.9)),
      max: r(this.#count ? this.#max : Number.NaN),
    };
  }

  /** Non-empty buckets as [upper edge ms, count], for charts. */
  buckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++)
      if (this.#counts[i]! > 0) out.push([Math.round(upperEdge(i) * 1000) / 1000, this.#counts[i]!]);
    return out;
  }
}

/** 1-based nearest rank of percentile p among n samples (99.9 % of 10 000 is rank 9990, not 9991 by rounding error) */
function nearestRank(p: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil((p * n) / 100 - 1e-9)));
}

function bucketOf(v: number): number {
  if (v <= MIN) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(v / MIN) / LOG_GROWTH));
}
function upperEdge(i: number): number {
  return i === 0 ? MIN : MIN * GROWTH ** i;
}
