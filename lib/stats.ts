/** Small numeric helpers shared by benchmarks, reports and metrics. Pure. */

/** Percentile by nearest rank on a copy; p in [0, 100]. NaN for an empty input. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function percentiles(values: ArrayLike<number>, ps: number[]): Record<string, number> {
  if (values.length === 0) return Object.fromEntries(ps.map((p) => [`p${p}`, Number.NaN]));
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const out: Record<string, number> = {};
  for (const p of ps) {
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    out[`p${p}`] = sorted[rank]!;
  }
  return out;
}

/**
 * Fixed-memory latency recorder: a ring of the last `capacity` samples (percentiles over a recent window),
 * plus total count. Used on hot paths where keeping every sample would grow without bound.
 */
export class LatencyWindow {
  readonly #buf: Float64Array;
  #n = 0;
  #count = 0;

  constructor(capacity = 4096) {
    this.#buf = new Float64Array(capacity);
  }
  record(v: number): void {
    this.#buf[this.#n % this.#buf.length] = v;
    this.#n++;
    this.#count++;
  }
  get count(): number {
    return this.#count;
  }
  snapshot(ps: number[] = [50, 95, 99]): Record<string, number> {
    const len = Math.min(this.#n, this.#buf.length);
    return percentiles(this.#buf.subarray(0, len), ps);
  }
}
