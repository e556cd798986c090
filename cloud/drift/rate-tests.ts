/**
 * Tests on counts, for output and data-quality drift. Pure.
 *
 * - binomialTwoSided / binomialUpper: is the share x / n (anomaly rate, missing rate) consistent with the
 *   baseline p0? Exact tail sums in log space up to 20 000 trials, the normal approximation with continuity
 *   correction above.
 * - poissonTwoSided: is a record count consistent with the expected count (rate change)?
 * - stuck: a feature whose recent values are all equal while its reference varies.
 */

const EXACT_MAX = 20_000;

function logFactorial(n: number): number {
  // exact sum for small n, Stirling's series above (error < 1e-10 from n = 30)
  if (n < 30) {
    let s = 0;
    for (let k = 2; k <= n; k++) s += Math.log(k);
    return s;
  }
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3);
}

function binomialLogPmf(k: number, n: number, p: number): number {
  if (p <= 0) return k === 0 ? 0 : Number.NEGATIVE_INFINITY;
  if (p >= 1) return k === n ? 0 : Number.NEGATIVE_INFINITY;
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * Math.log(p) + (n - k) * Math.log(1 - p);
}

/** Standard normal upper tail, P(Z > z) (Abramowitz-Stegun 7.1.26 on erfc, |error| < 1.5e-7). */
export function normalSf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
    Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** P(X ≥ x), X ~ Binomial(n, p0). */
export function binomialUpper(x: number, n: number, p0: number): number {
  if (x <= 0) return 1;
  if (x > n) return 0;
  if (n > EXACT_MAX) return normalSf((x - 0.5 - n * p0) / Math.sqrt(n * p0 * (1 - p0) || Number.MIN_VALUE));
  let s = 0;
  for (let k = x; k <= n; k++) {
    const t = Math.exp(binomialLogPmf(k, n, p0));
    s += t;
    if (k > n * p0 && t < s * 1e-17) break;
  }
  return Math.min(1, s);
}

/** P(X ≤ x), X ~ Binomial(n, p0). */
export function binomialLower(x: number, n: number, p0: number): number {
  return 1 - binomialUpper(x + 1, n, p0);
}

/** Two-sided p-value of x successes in n trials against the rate p0: twice the smaller tail, capped at 1. */
export function binomialTwoSided(x: number, n: number, p0: number): number {
  if (n === 0) return 1;
  return Math.min(1, 2 * Math.min(binomialUpper(x, n, p0), binomialLower(x, n, p0)));
}

/** Two-sided p-value of a count against its expected value (Poisson), twice the smaller tail. */
export function poissonTwoSided(count: number, expected: number): number {
  if (expected <= 0) return count === 0 ? 1 : 0;
  if (expected > EXACT_MAX)
    return Math.min(1, 2 * normalSf(Math.abs(count - expected) / Math.sqrt(expected) - 0.5 / Math.sqrt(expected)));
  // P(X ≤ count) by the pmf recursion in log space
  const logPmf = (k: number): number => k * Math.log(expected) - expected - logFactorial(k);
  let lower = 0;
  for (let k = 0; k <= count; k++) lower += Math.exp(logPmf(k));
  const upper = 1 - lower + Math.exp(logPmf(count));
  return Math.min(1, 2 * Math.min(lower, Math.max(0, upper)));
}

/** All recent values equal (zero variance) over at least `minSamples` values, while the reference varies. */
export function isStuck(sorted: Float64Array, referenceStd: number, minSamples: number): boolean {
  return sorted.length >= minSamples && referenceStd > 0 && sorted[0] === sorted[sorted.length - 1];
}
