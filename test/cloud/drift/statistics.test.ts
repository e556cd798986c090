/**
 * The statistics against published reference values:
 * - KS two-sample (exact p-values): scipy/stats/tests/test_stats.py, class TestKSTwoSamples (testSmall,
 *   testTwoVsThree, testTwoVsFour, testEqualSizes, testRepeatedValues), two-sided cases.
 * - Kolmogorov distribution: scipy/special/tests/test_kolmogorov.py, TestKolmogorov.test_basic.
 * - Wasserstein-1: the three examples of the scipy.stats.wasserstein_distance docstring.
 */
import { describe, expect, it } from 'vitest';
import {
  binCounts,
  kolmogorovSf,
  ksAsymptoticPValue,
  ksTwoSample,
  psi,
  psiFromCounts,
  quantileEdges,
  sortedFinite,
  prefixSums,
  wasserstein1Prefix,
  wasserstein1Sorted,
  wassersteinDistance,
} from '../../../cloud/drift/statistics.ts';
import { Prng } from '../../../lib/prng.ts';

const ks = (a: number[], b: number[]) => ksTwoSample(sortedFinite(a), sortedFinite(b));
const rep = (v: number, k: number): number[] => Array<number>(k).fill(v);

describe('KS two-sample test (scipy TestKSTwoSamples, two-sided)', () => {
  it.each([
    ['testSmall [0] vs [1]', [0], [1], 1, 1],
    ['testSmall [1] vs [0]', [1], [0], 1, 1],
    ['testTwoVsThree data1p', [1.01, 2.01], [1, 2, 3], 1 / 3, 1],
    ['testTwoVsThree data1m', [0.99, 1.99], [1, 2, 3], 2 / 3, 0.6],
    ['testTwoVsFour data1p', [1.01, 2.01], [1, 2, 3, 4], 2 / 4, 14 / 15],
    ['testTwoVsFour data1m', [0.99, 1.99], [1, 2, 3, 4], 3 / 4, 6 / 15],
    ['testEqualSizes +1', [1, 2, 3], [2, 3, 4], 1 / 3, 1],
    ['testEqualSizes +0.5', [1, 2, 3], [1.5, 2.5, 3.5], 1 / 3, 1],
  ])('%s', (_name, a, b, d, p) => {
    const r = ks(a, b);
    expect(r.method).toBe('exact');
    expect(r.statistic).toBeCloseTo(d, 14);
    expect(r.pValue).toBeCloseTo(p, 12);
  });

  it('testRepeatedValues: ties taken over the union of values', () => {
    const x2233 = [...rep(2, 3), ...rep(3, 4), ...rep(5, 5), ...rep(6, 4)];
    const x3344 = x2233.map((v) => v + 1);
    const x2356 = [...rep(2, 3), ...rep(3, 4), ...rep(5, 10), ...rep(6, 4)];
    const x3467 = [...rep(3, 10), ...rep(4, 2), ...rep(6, 10), ...rep(7, 4)];
    const a = ks(x2233, x3344);
    expect(a.statistic).toBeCloseTo(5 / 16, 14);
    expect(a.pValue).toBeCloseTo(0.4262934613454952, 12);
    const b = ks(x2356, x3467);
    expect(b.statistic).toBeCloseTo(190 / 21 / 26, 14);
    expect(b.pValue).toBeCloseTo(0.0919245790168125, 12);
  });

  it('Kolmogorov survival function (scipy TestKolmogorov.test_basic)', () => {
    expect(kolmogorovSf(0)).toBe(1);
    expect(kolmogorovSf(0.5)).toBeCloseTo(0.96394524366487511, 12);
    expect(kolmogorovSf(0.8275735551899077)).toBeCloseTo(0.5, 12);
    expect(kolmogorovSf(1)).toBeCloseTo(0.26999967167735456, 12);
    expect(kolmogorovSf(2)).toBeCloseTo(0.00067092525577969533, 15);
  });

  it('large samples use the limit law; the exact and asymptotic p-values agree where both apply', () => {
    const a = Float64Array.from({ length: 300 }, (_, i) => i / 300);
    const b = Float64Array.from({ length: 300 }, (_, i) => 0.06 + i / 300);
    const exact = ksTwoSample(a, b, 'exact');
    const asym = ksTwoSample(a, b, 'asymptotic');
    expect(asym.statistic).toBe(exact.statistic);
    expect(asym.pValue / exact.pValue).toBeGreaterThan(0.8);
    expect(asym.pValue / exact.pValue).toBeLessThan(1.25);
    expect(
      ksTwoSample(
        new Float64Array(1000).map((_, i) => i),
        new Float64Array(1000).map((_, i) => i + 0.5),
      ).method,
    ).toBe('asymptotic');
    expect(ksAsymptoticPValue(100, 100, 0)).toBe(1);
    // 'auto' with exactBelow: the exact count only where the p-value is small enough to matter
    expect(ksTwoSample(a, b, 'auto', 0.1).method).toBe(asym.pValue < 0.1 ? 'exact' : 'asymptotic');
    expect(ksTwoSample(a, a, 'auto', 0.1)).toEqual({ statistic: 0, pValue: 1, method: 'asymptotic' });
    expect(() => ksTwoSample(new Float64Array(0), b)).toThrow(/both samples/);
  });
});

describe('Wasserstein-1 (scipy.stats.wasserstein_distance docstring examples)', () => {
  it('matches scipy', () => {
    expect(wassersteinDistance([0, 1, 3], [5, 6, 8])).toBeCloseTo(5, 14);
    expect(wassersteinDistance([0, 1], [0, 1], [3, 1], [2, 2])).toBeCloseTo(0.25, 14);
    expect(wassersteinDistance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5])).toBeCloseTo(
      4.0781331438047861,
      13,
    );
  });

  it('the prefix-sum form equals the merge over the union of values', () => {
    const prng = new Prng(3);
    for (const [m, n] of [
      [10_000, 100],
      [777, 13],
      [5, 5],
      [3, 7],
    ] as const) {
      const a = Float64Array.from({ length: m }, () => prng.normal()).sort();
      const b = Float64Array.from({ length: n }, () => prng.normal() + 0.3).sort();
      expect(wasserstein1Prefix(a, prefixSums(a), b)).toBeCloseTo(wasserstein1Sorted(a, b), 12);
    }
    const ties = Float64Array.from([1, 2, 2, 3]);
    expect(wasserstein1Prefix(ties, prefixSums(ties), Float64Array.from([2, 2]))).toBeCloseTo(0.5, 14);
  });

  it('is a shift for a shifted sample, and symmetric', () => {
    const a = sortedFinite([1, 5, 2, 9, 4]);
    const b = a.map((v) => v + 0.75);
    expect(wasserstein1Sorted(a, b)).toBeCloseTo(0.75, 14);
    expect(wasserstein1Sorted(b, a)).toBeCloseTo(0.75, 14);
    expect(() => wassersteinDistance([1], [2], [1, 2])).toThrow(/weights/);
  });
});

describe('PSI with reference-quantile bins', () => {
  it('computes sum (q - p) ln(q/p) by hand', () => {
    // p = [0.5, 0.5], q = [0.25, 0.75]: (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    expect(psiFromCounts([2, 2], [1, 3])).toBeCloseTo(-0.25 * Math.log(0.5) + 0.25 * Math.log(1.5), 14);
    expect(psiFromCounts([5, 5], [5, 5])).toBe(0);
    // an empty recent bin is floored at 1e-4 instead of making PSI infinite
    expect(Number.isFinite(psiFromCounts([5, 5], [10, 0]))).toBe(true);
  });

  it('bins at the reference deciles put a tenth of the reference in each bin', () => {
    const ref = Float64Array.from({ length: 1000 }, (_, i) => i);
    const edges = quantileEdges(ref, 10);
    expect(Array.from(edges)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(Array.from(binCounts(ref, edges))).toEqual(Array(10).fill(100));
    expect(psi(ref, ref)).toBe(0);
    expect(sortedFinite([3, Number.NaN, null, 1, Infinity])).toEqual(Float64Array.from([1, 3]));
  });
});
