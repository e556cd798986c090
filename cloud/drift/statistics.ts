/**
 * Two-sample statistics for input drift. Pure: arrays in, numbers out.
 *
 * - Kolmogorov-Smirnov: D = sup |F_ref - F_recent|, with the exact p-value of the two-sided test (lattice paths,
 *   as scipy.stats.ks_2samp method='exact') for small samples and the Kolmogorov limit law (with Stephens'
 *   small-sample correction) otherwise.
 * - Wasserstein-1 between (optionally weighted) empirical distributions: the area between the two CDFs
 *   (scipy.stats.wasserstein_distance).
 * - PSI with bins at reference quantiles: sum over bins of (q - p) ln(q / p), proportions floored at `eps`.
 *
 * Sorted inputs are Float64Arrays sorted ascending (`sortedFinite()` makes one); the reference side is sorted once
 * and reused for every check.
 */

/** Finite values of `values` (NaN, ±Infinity and null dropped), sorted ascending. */
export function sortedFinite(values: ArrayLike<number | null>): Float64Array {
  const out = new Float64Array(values.length);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) out[k++] = v;
  }
  return out.subarray(0, k).sort();
}

export interface KsResult {
  /** sup |F_ref(x) - F_recent(x)| */
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymptotic';
}

export type KsMethod = 'auto' | 'exact' | 'asymptotic';

/** Below this many lattice cells (n_ref × n_recent) 'auto' computes the exact p-value. */
export const KS_EXACT_MAX_CELLS = 100_000;

/**
 * Two-sided two-sample KS test on sorted samples. Ties are handled as scipy does: the statistic is taken over the
 * union of values, the p-value is that of a continuous distribution with the same D.
 */
export function ksTwoSample(a: Float64Array, b: Float64Array, method: KsMethod = 'auto', exactBelow = 1): KsResult {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError(`ksTwoSample: both samples need values (got ${m} and ${n})`);
  // h = max |i·n - j·m| over the union: D = h / (m·n), an integer so the exact count needs no tolerance
  let i = 0;
  let j = 0;
  let h = 0;
  while (i < m && j < n) {
    const x = a[i]! <= b[j]! ? a[i]! : b[j]!;
    while (i < m && a[i]! === x) i++;
    while (j < n && b[j]! === x) j++;
    const d = Math.abs(i * n - j * m);
    if (d > h) h = d;
  }
  const statistic = h / (m * n);
  if (method === 'exact') return { statistic, pValue: ksExactPValue(m, n, h), method: 'exact' };
  const asymptotic = ksAsymptoticPValue(m, n, statistic);
  // 'auto' spends the O(m·n) exact count only where the p-value can matter (below `exactBelow`)
  if (method === 'auto' && m * n <= KS_EXACT_MAX_CELLS && asymptotic < exactBelow)
    return { statistic, pValue: ksExactPValue(m, n, h), method: 'exact' };
  return { statistic, pValue: asymptotic, method: 'asymptotic' };
}

/**
 * P(D ≥ h / (m·n)) under the null, exactly: a random monotone lattice path from (0, 0) to (m, n) (each of the
 * C(m+n, m) paths equally likely) leaves the band |i·n - j·m| < h. The mass that steps outside is accumulated
 * (a sum of positive terms, so tiny p-values keep their precision). O(m·n).
 */
export function ksExactPValue(m: number, n: number, h: number): number {
  if (h <= 0) return 1;
  // D takes few distinct values at given sizes: the same (m, n, h) recurs check after check
  const key = `${m},${n},${h}`;
  const hit = EXACT_CACHE.get(key);
  if (hit !== undefined) return hit;
  const p = ksExactCount(m, n, h);
  if (EXACT_CACHE.size >= 10_000) EXACT_CACHE.clear();
  EXACT_CACHE.set(key, p);
  return p;
}

const EXACT_CACHE = new Map<string, number>();

function ksExactCount(m: number, n: number, h: number): number {
  let row = new Float64Array(n + 1); // probability of being at (i, j) without having left the band
  let next = new Float64Array(n + 1);
  row[0] = 1;
  let out = 0;
  for (let i = 0; i <= m; i++) {
    next.fill(0);
    for (let j = 0; j <= n; j++) {
      const p = row[j]!;
      if (p === 0) continue;
      const restI = m - i;
      const restJ = n - j;
      const total = restI + restJ;
      if (total === 0) continue;
      if (restJ > 0) {
        const q = (p * restJ) / total;
        if (Math.abs(i * n - (j + 1) * m) >= h) out += q;
        else row[j + 1]! += q; // same row, visited next in this loop
      }
      if (restI > 0) {
        const q = (p * restI) / total;
        if (Math.abs((i + 1) * n - j * m) >= h) out += q;
        else next[j]! += q;
      }
    }
    [row, next] = [next, row];
  }
  return Math.min(1, out);
}

/** Survival function of the Kolmogorov distribution, Q(λ) = P(K > λ). */
export function kolmogorovSf(lambda: number): number {
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    // the theta-function form converges fast for small λ: P(K ≤ λ) = √(2π)/λ Σ exp(-(2k-1)²π²/(8λ²))
    let s = 0;
    for (let k = 1; k <= 10; k++) s += Math.exp((-((2 * k - 1) ** 2) * Math.PI ** 2) / (8 * lambda * lambda));
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * s));
  }
  let s = 0;
  for (let k = 1; k <= 100; k++) {
    const t = Math.exp(-2 * k * k * lambda * lambda);
    s += (k % 2 === 1 ? 2 : -2) * t;
    if (t < 1e-300) break;
  }
  return Math.min(1, Math.max(0, s));
}

/** Effective sample size of two samples, m·n / (m + n). */
export function effectiveSize(m: number, n: number): number {
  return (m * n) / (m + n);
}

/** Two-sided KS p-value from the limit law, λ = (√en + 0.12 + 0.11/√en) · D (Stephens 1970). */
export function ksAsymptoticPValue(m: number, n: number, d: number): number {
  const se = Math.sqrt(effectiveSize(m, n));
  return kolmogorovSf((se + 0.12 + 0.11 / se) * d);
}

/**
 * Wasserstein-1 distance between two weighted empirical distributions given as sorted values (weights in the
 * same order; omitted = equal weights): ∫ |U(x) - V(x)| dx over the union of values.
 */
export function wasserstein1Sorted(
  u: Float64Array,
  v: Float64Array,
  uw?: ArrayLike<number>,
  vw?: ArrayLike<number>,
): number {
  const m = u.length;
  const n = v.length;
  if (m === 0 || n === 0) throw new RangeError(`wasserstein1: both samples need values (got ${m} and ${n})`);
  const uTotal = uw ? sum(uw) : m;
  const vTotal = vw ? sum(vw) : n;
  let i = 0;
  let j = 0;
  let cu = 0; // U(x) · uTotal
  let cv = 0;
  let x = Math.min(u[0]!, v[0]!);
  let area = 0;
  while (i < m || j < n) {
    const next = i < m && (j >= n || u[i]! <= v[j]!) ? u[i]! : v[j]!;
    area += Math.abs(cu / uTotal - cv / vTotal) * (next - x);
    x = next;
    while (i < m && u[i]! === x) cu += uw ? uw[i++]! : (i++, 1);
    while (j < n && v[j]! === x) cv += vw ? vw[j++]! : (j++, 1);
  }
  return area;
}

/** Prefix sums of a sorted sample (length + 1 entries), for wasserstein1Prefix. */
export function prefixSums(sorted: Float64Array): Float64Array {
  const s = new Float64Array(sorted.length + 1);
  for (let i = 0; i < sorted.length; i++) s[i + 1] = s[i]! + sorted[i]!;
  return s;
}

/**
 * Wasserstein-1 between a large sorted reference (with its prefix sums) and a small sorted sample, as
 * ∫₀¹ |Q_ref(u) - Q_x(u)| du: for each x_j the reference mass over u ∈ [j/n, (j+1)/n) is split where the
 * reference crosses x_j, each side summed from the prefix sums. O(n log m) instead of the O(m + n) merge.
 */
export function wasserstein1Prefix(ref: Float64Array, prefix: Float64Array, x: Float64Array): number {
  const m = ref.length;
  const n = x.length;
  let area = 0;
  let k = 0;
  let pa = 0; // P(a) carried over: b of one step is a of the next
  for (let j = 0; j < n; j++) {
    const c = x[j]!;
    const a = (j * m) / n;
    const b = ((j + 1) * m) / n;
    k = gallop(ref, c, k); // ref[t] < c for t < k; x is sorted, so k only grows
    const mid = Math.min(Math.max(k, a), b);
    const pm = integralQ(ref, prefix, mid);
    const pb = integralQ(ref, prefix, b);
    area += c * (mid - a) - (pm - pa) + (pb - pm) - c * (b - mid);
    pa = pb;
  }
  return area / m;
}

/** ∫₀ᵗ Q_ref over reference-index time t ∈ [0, m]. */
function integralQ(ref: Float64Array, prefix: Float64Array, t: number): number {
  const k = Math.min(Math.floor(t), ref.length - 1);
  return prefix[k]! + (t - k) * ref[k]!;
}

/** lowerBound(sorted, x) knowing the answer is ≥ from: exponential steps, then bisection. */
function gallop(sorted: Float64Array, x: number, from: number): number {
  let step = 1;
  let hi = from;
  while (hi < sorted.length && sorted[hi]! < x) {
    from = hi + 1;
    hi += step;
    step *= 2;
  }
  let lo = from;
  hi = Math.min(hi, sorted.length);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Wasserstein-1 between unsorted (optionally weighted) samples: scipy.stats.wasserstein_distance. */
export function wassersteinDistance(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  uw?: ArrayLike<number>,
  vw?: ArrayLike<number>,
): number {
  const [us, uws] = sortWithWeights(u, uw);
  const [vs, vws] = sortWithWeights(v, vw);
  return wasserstein1Sorted(us, vs, uws, vws);
}

function sortWithWeights(
  x: ArrayLike<number>,
  w: ArrayLike<number> | undefined,
): [Float64Array, Float64Array | undefined] {
  if (!w) return [Float64Array.from(x).sort(), undefined];
  if (w.length !== x.length) throw new RangeError(`wasserstein1: ${x.length} values but ${w.length} weights`);
  const idx = Array.from({ length: x.length }, (_, k) => k).sort((p, q) => x[p]! - x[q]!);
  return [Float64Array.from(idx, (k) => x[k]!), Float64Array.from(idx, (k) => w[k]!)];
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** Interior bin edges at the reference's quantiles k/bins (k = 1 … bins-1), duplicates removed. */
export function quantileEdges(refSorted: Float64Array, bins: number): Float64Array {
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = refSorted[Math.min(refSorted.length - 1, Math.floor((k * refSorted.length) / bins))]!;
    if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
  }
  return Float64Array.from(edges);
}

/** Counts of `sorted` in the bins (-∞, e1), [e1, e2), …, [e_last, ∞). */
export function binCounts(sorted: Float64Array, edges: Float64Array): Float64Array {
  const counts = new Float64Array(edges.length + 1);
  let at = 0;
  for (let b = 0; b < edges.length; b++) {
    const start = at;
    at = lowerBound(sorted, edges[b]!, at);
    counts[b] = at - start;
  }
  counts[edges.length] = sorted.length - at;
  return counts;
}

/** First index in sorted[from…] whose value is ≥ x. */
export function lowerBound(sorted: Float64Array, x: number, from = 0): number {
  let lo = from;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Proportions below this are raised to it before the logarithm (an empty bin would make PSI infinite). */
export const PSI_EPS = 1e-4;

/** PSI of two count vectors over the same bins. */
export function psiFromCounts(ref: ArrayLike<number>, recent: ArrayLike<number>, eps = PSI_EPS): number {
  const rt = sum(ref);
  const nt = sum(recent);
  let s = 0;
  for (let k = 0; k < ref.length; k++) {
    const p = Math.max(ref[k]! / rt, eps);
    const q = Math.max(recent[k]! / nt, eps);
    s += (q - p) * Math.log(q / p);
  }
  return s;
}

/** PSI of two sorted samples with `bins` bins at the reference's quantiles. */
export function psi(refSorted: Float64Array, recentSorted: Float64Array, bins = 10): number {
  const edges = quantileEdges(refSorted, bins);
  return psiFromCounts(binCounts(refSorted, edges), binCounts(recentSorted, edges));
}

/** Mean and (population) standard deviation. */
export function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  const n = x.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(ss / n) };
}
