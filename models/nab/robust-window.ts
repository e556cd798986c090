/**
 * Rolling robust statistics for the NAB detectors: a sorted sliding window (median, MAD) and the dominant period of
 * a series by autocorrelation. Pure.
 */
/** Sorted sliding window with O(log n) search and O(n) memmove updates; median and MAD on demand. */
export class SlidingRobust {
  readonly #cap: number;
  readonly #ring: Float64Array;
  readonly #sorted: Float64Array;
  #n = 0;
  #head = 0;

  constructor(cap: number) {
    this.#cap = cap;
    this.#ring = new Float64Array(cap);
    this.#sorted = new Float64Array(cap);
  }

  get size(): number {
    return this.#n;
  }

  push(x: number): void {
    if (this.#n === this.#cap) {
      const old = this.#ring[this.#head]!;
      const i = lowerBound(this.#sorted, this.#n, old);
      this.#sorted.copyWithin(i, i + 1, this.#n);
      this.#n--;
    }
    this.#ring[this.#head] = x;
    this.#head = (this.#head + 1) % this.#cap;
    const j = lowerBound(this.#sorted, this.#n, x);
    this.#sorted.copyWithin(j + 1, j, this.#n);
    this.#sorted[j] = x;
    this.#n++;
  }

  median(): number {
    return quantileSorted(this.#sorted, this.#n, 0.5);
  }

  /** robust scale: 1.4826 x MAD, falling back to the mean absolute deviation, then to a tiny relative scale */
  scale(median: number): number {
    const n = this.#n;
    const a = this.#sorted;
    // Deviations from the median of sorted data are two sorted runs (walking out from the median): merge them up
    // to the middle instead of sorting, O(n).
    const want = (n - 1) / 2;
    const k0 = Math.floor(want);
    let lo = lowerBound(a, n, median) - 1;
    let hi = lo + 1;
    let d0 = 0;
    let d1 = 0;
    for (let k = 0; k <= k0 + 1 && k < n; k++) {
      const dl = lo >= 0 ? median - a[lo]! : Infinity;
      const dh = hi < n ? a[hi]! - median : Infinity;
      let d: number;
      if (dl <= dh) {
        d = dl;
        lo--;
      } else {
        d = dh;
        hi++;
      }
      if (k === k0) d0 = d;
      if (k === k0 + 1) d1 = d;
    }
    const madRaw = k0 + 1 < n ? d0 + (d1 - d0) * (want - k0) : d0;
    const mad = 1.4826 * madRaw;
    if (mad > 0) return mad;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.abs(a[i]! - median);
    const meanAbs = (sum / Math.max(1, n)) * 1.2533;
    if (meanAbs > 0) return meanAbs;
    return 1e-6 * (1 + Math.abs(median));
  }
}

function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function quantileSorted(a: Float64Array, n: number, q: number): number {
  if (n === 0) return 0;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
}

/** Autocorrelation of `x` at `lag` (0 for a constant series or a lag past its end). */
export function autocorrelation(x: ArrayLike<number>, lag: number): number {
  const n = x.length;
  if (lag >= n) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  let c = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) ** 2;
  for (let i = lag; i < n; i++) c += (x[i]! - mean) * (x[i - lag]! - mean);
  return v === 0 ? 0 : c / v;
}

/**
 * Lag in [2, maxLag] with the highest autocorrelation of `x`, and that correlation. With `minRise` > 0 a lag only
 * counts when its correlation rises at least that much above the lowest correlation at a shorter lag: a smooth
 * series whose correlation decays slowly, with small wiggles, has no period.
 */
export function dominantPeriod(x: ArrayLike<number>, maxLag: number, minRise = 0): { lag: number; r: number } {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) ** 2;
  let best = { lag: 0, r: 0 };
  if (v === 0) return best;
  // Start past the first local minimum of the ACF so a smooth series' lag-2 correlation does not win.
  let prev = Infinity;
  let descending = true;
  let low = Infinity;
  for (let lag = 2; lag <= Math.min(maxLag, n - 2); lag++) {
    let c = 0;
    for (let i = lag; i < n; i++) c += (x[i]! - mean) * (x[i - lag]! - mean);
    const r = c / v;
    if (r < low) low = r;
    if (descending) {
      if (r > prev) descending = false;
      prev = r;
      if (descending) continue;
    }
    if (r > best.r && r - low >= minRise) best = { lag, r };
  }
  return best;
}
