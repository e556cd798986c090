/**
 * Fixed-memory latency distribution: log-spaced buckets (5 % wide) from 0.05 ms to ~1 h, exact count, min, max
 * and mean; percentiles within one bucket width. Used where keeping every sample would not fit (10^5 readings/s
 * for an hour). Pure.
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

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(0, ms);
    this.#counts[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  merge(other: LatencyHistogram): void {
    const o = other.#counts;
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += o[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  get count(): number {
    return this.#count;
  }

  /** value at percentile p (0-100): the upper edge of the bucket holding that rank, clamped to [min, max] */
  percentile(p: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      acc += this.#counts[i]!;
      if (acc >= rank) return Math.min(this.#max, Math.max(this.#min, upperEdge(i)));
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
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]! > 0) out.push([Math.round(upperEdge(i) * 1000) / 1000, this.#counts[i]!]);
    return out;
  }
}

function bucketOf(v: number): number {
  if (v <= MIN) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(v / MIN) / LOG_GROWTH));
}
function upperEdge(i: number): number {
  return i === 0 ? MIN : MIN * GROWTH ** i;
}
