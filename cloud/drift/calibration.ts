/**
 * Null distributions and multiple-testing corrections: how a statistic becomes a p-value whose false-alarm rate
 * holds at the sample sizes actually checked. Pure; randomness from a seeded PRNG, so a threshold is
 * reproducible.
 *
 * - KS needs nothing here: its null law is known (statistics.ts, exact or Kolmogorov).
 * - PSI with bins at reference quantiles depends on the data only through ranks, so its null at (reference bin
 *   counts, n_recent) is the same for every continuous distribution. It is simulated exactly: the reference
 *   quantiles of a uniform sample cut [0, 1] into gaps distributed Dirichlet(reference counts), and the recent
 *   counts are Multinomial(n_recent, gaps).
 * - Wasserstein-1 depends on the distribution's shape. Its null comes from the limit law (del Barrio, Giné and
 *   Matrán 1999): √(m·n/(m+n)) · W1 → ∫₀¹ |B(u)| dQ(u), B a Brownian bridge and Q the quantile function, taken
 *   from the reference. One simulation per reference serves every sample size (the threshold scales with
 *   1/√en).
 *
 * A simulated null with R replicates gives p = (1 + #{null ≥ s}) / (R + 1); beyond the top `tailSize`
 * replicates the p-value follows an exponential tail fitted to them (mean excess), so corrected levels such as
 * 0.01 / 20 are resolved without 10⁵ replicates.
 */
import { Prng } from '../../lib/prng.ts';
import { psiFromCounts } from './statistics.ts';

/** A simulated null distribution of a statistic: p-values from its sorted replicates. */
export class NullDistribution {
  readonly #s: Float64Array;
  readonly #tail: number;
  readonly #u: number;
  readonly #meanExcess: number;

  constructor(replicates: Float64Array, tailSize = Math.max(10, Math.floor(replicates.length / 50))) {
    this.#s = Float64Array.from(replicates).sort();
    const r = this.#s.length;
    if (r < 100) throw new RangeError(`NullDistribution: need at least 100 replicates, got ${r}`);
    this.#tail = Math.min(tailSize, r - 1);
    this.#u = this.#s[r - this.#tail - 1]!;
    let excess = 0;
    for (let k = r - this.#tail; k < r; k++) excess += this.#s[k]! - this.#u;
    this.#meanExcess = Math.max(excess / this.#tail, Number.MIN_VALUE);
  }

  get replicates(): number {
    return this.#s.length;
  }

  /** The threshold at level alpha: statistics above it have p ≤ alpha. */
  quantile(alpha: number): number {
    const r = this.#s.length;
    const pu = (this.#tail + 1) / (r + 1);
    if (alpha < pu) return this.#u + this.#meanExcess * Math.log(pu / alpha);
    // p(s) = (1 + #{null ≥ s}) / (r + 1) ≤ alpha  ⇔  at most c replicates are ≥ s  ⇔  s > sorted[r - 1 - c]
    const c = Math.floor(alpha * (r + 1) - 1);
    return this.#s[r - 1 - c]!;
  }

  pValue(stat: number): number {
    const r = this.#s.length;
    if (stat > this.#u) {
      const pu = (this.#tail + 1) / (r + 1);
      return Math.min(pu, pu * Math.exp(-(stat - this.#u) / this.#meanExcess));
    }
    // count of replicates ≥ stat
    let lo = 0;
    let hi = r;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#s[mid]! < stat) lo = mid + 1;
      else hi = mid;
    }
    return (1 + (r - lo)) / (r + 1);
  }
}

/** Gamma(shape, 1) (Marsaglia and Tsang 2000; shape < 1 through the boost U^(1/shape)). */
export function gammaSample(prng: Prng, shape: number): number {
  if (shape < 1) return gammaSample(prng, shape + 1) * prng.next() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = prng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - prng.next();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export interface PsiNullOptions {
  /** reference counts per bin (PSI's reference side) */
  refCounts: ArrayLike<number>;
  nRecent: number;
  replicates?: number;
  seed?: number;
  eps?: number;
}

/** Null distribution of PSI (reference-quantile bins) at these reference bin counts and recent sample size. */
export function psiNull(o: PsiNullOptions): NullDistribution {
  const prng = new Prng(o.seed ?? 0x5eed);
  const bins = o.refCounts.length;
  const r = o.replicates ?? 2000;
  const gaps = new Float64Array(bins);
  const cum = new Float64Array(bins);
  const counts = new Float64Array(bins);
  const out = new Float64Array(r);
  for (let rep = 0; rep < r; rep++) {
    let total = 0;
    for (let b = 0; b < bins; b++) {
      // the last gap runs from the top reference order statistic to 1: one more spacing than its count
      gaps[b] = gammaSample(prng, o.refCounts[b]! + (b === bins - 1 ? 1 : 0));
      total += gaps[b]!;
    }
    let c = 0;
    for (let b = 0; b < bins; b++) cum[b] = c += gaps[b]! / total;
    counts.fill(0);
    for (let k = 0; k < o.nRecent; k++) {
      const u = prng.next();
      let b = 0;
      while (b < bins - 1 && u >= cum[b]!) b++;
      counts[b]!++;
    }
    out[rep] = psiFromCounts(o.refCounts, counts, o.eps);
  }
  return new NullDistribution(out);
}

export interface WassersteinNullOptions {
  /** the reference sample, sorted */
  refSorted: Float64Array;
  /** divide by this (the reference standard deviation) to get the normalised statistic's null */
  scale: number;
  replicates?: number;
  seed?: number;
  /**
   * points of the Brownian-bridge grid on (0, 1). Default 1024: a coarser grid smooths the bridge and makes the
   * null too light (1.45 % false alarms for 1 % at 256 points against 1.05 % at 1024, n_ref = n = 1000).
   */
  grid?: number;
}

/**
 * Null distribution of √en · W1 / scale: replicates of Σ |B(u_k)| ΔQ_k over a grid of the reference quantiles
 * (trapezoid rule, B(0) = B(1) = 0). Multiply a check's W1/scale by √en before asking for its p-value.
 */
export function wassersteinNull(o: WassersteinNullOptions): NullDistribution {
  const prng = new Prng(o.seed ?? 0x5eed);
  const g = o.grid ?? 1024;
  const r = o.replicates ?? 2000;
  const ref = o.refSorted;
  const q = new Float64Array(g + 1);
  for (let k = 0; k <= g; k++) q[k] = quantileAt(ref, k / g);
  const tails = tailScales(ref, q[1]!, q[g - 1]!);
  const w = new Float64Array(g + 1);
  const steps = new Float64Array(g);
  const sd = Math.sqrt(1 / g);
  const out = new Float64Array(r);
  for (let rep = 0; rep < r; rep++) {
    fillNormal(prng, steps);
    for (let k = 1; k <= g; k++) w[k] = w[k - 1]! + sd * steps[k - 1]!;
    const end = w[g]!;
    let prev = Math.abs(w[1]! - end / g);
    // outer cells: exponential tails, ∫ |B(u)| dQ(u) over (0, 1/g) ≈ 2 β |B(1/g)|
    let z = 2 * tails.low * prev;
    for (let k = 2; k < g; k++) {
      const b = Math.abs(w[k]! - (k / g) * end);
      z += ((prev + b) / 2) * (q[k]! - q[k - 1]!);
      prev = b;
    }
    z += 2 * tails.high * prev;
    out[rep] = z / o.scale;
  }
  return new NullDistribution(out);
}

/**
 * Mean excess of the reference beyond its outer grid quantiles: the scale β of an exponential tail, whose
 * quantile function Q(u) = Q(u₁) + β ln(u / u₁) goes on past the sample's extremes (a sample's range
 * understates the distribution's, and W1's null depends on the tails).
 */
function tailScales(ref: Float64Array, lowEdge: number, highEdge: number): { low: number; high: number } {
  let low = 0;
  let nl = 0;
  let high = 0;
  let nh = 0;
  for (const x of ref) {
    if (x < lowEdge) (low += lowEdge - x), nl++;
    else if (x > highEdge) (high += x - highEdge), nh++;
  }
  return { low: nl ? low / nl : 0, high: nh ? high / nh : 0 };
}

/** Fill with standard normals, two per accepted pair (Marsaglia's polar method: no trigonometry). */
function fillNormal(prng: Prng, out: Float64Array): void {
  for (let i = 0; i < out.length; ) {
    const u = 2 * prng.next() - 1;
    const v = 2 * prng.next() - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = u * f;
    if (i < out.length) out[i++] = v * f;
  }
}

/** Linear-interpolated quantile of a sorted sample at probability p ∈ [0, 1]. */
export function quantileAt(sorted: Float64Array, p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

export type Correction = 'holm' | 'bonferroni' | 'none';

/** Which hypotheses are rejected at family-wise level alpha (Holm's step-down, Bonferroni, or none). */
export function rejectAt(pValues: readonly number[], alpha: number, correction: Correction = 'holm'): boolean[] {
  const k = pValues.length;
  if (correction === 'none') return pValues.map((p) => p <= alpha);
  if (correction === 'bonferroni') return pValues.map((p) => p <= alpha / k);
  const order = pValues.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<boolean>(k).fill(false);
  for (let r = 0; r < k; r++) {
    const [p, i] = order[r]!;
    if (p > alpha / (k - r)) break;
    out[i] = true;
  }
  return out;
}

/** Per-hypothesis level after correction: what each p-value was compared with (Holm: its step's level). */
export function levelsAt(pValues: readonly number[], alpha: number, correction: Correction = 'holm'): number[] {
  const k = pValues.length;
  if (correction === 'none') return pValues.map(() => alpha);
  if (correction === 'bonferroni') return pValues.map(() => alpha / k);
  const rank = pValues.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(k);
  rank.forEach(([, i], r) => (out[i] = alpha / (k - r)));
  return out;
}

/** A bounded cache of computed nulls (least recently used evicted). */
export class NullCache {
  readonly #max: number;
  readonly #m = new Map<string, NullDistribution>();
  constructor(max = 256) {
    this.#max = max;
  }
  get(key: string, make: () => NullDistribution): NullDistribution {
    const hit = this.#m.get(key);
    if (hit) {
      this.#m.delete(key);
      this.#m.set(key, hit);
      return hit;
    }
    const made = make();
    this.#m.set(key, made);
    if (this.#m.size > this.#max) this.#m.delete(this.#m.keys().next().value!);
    return made;
  }
  get size(): number {
    return this.#m.size;
  }
}
