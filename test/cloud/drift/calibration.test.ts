/**
 * Calibration: with null data (reference and recent drawn from the same distribution: a fresh recent sample for
 * every check, a fresh reference for every check (KS, PSI) or every 20 checks (Wasserstein)) the measured false-alarm rate of each statistic stays within the stated 1 % (one-sided 99.9 % binomial
 * bound over 2 000 checks), at n = 100 and at n = 10 000, while PSI's fixed 0.1 rule fires on most unchanged
 * batches of 100 and on none of 10 000 (where a real shift of 0.1 σ passes it unseen). Power: a 0.5 σ shift of
 * one feature among 20, at n = 500, is detected in more than 95 % of checks after the Holm correction.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../lib/prng.ts';
import { NullCache, NullDistribution, rejectAt } from '../../../cloud/drift/calibration.ts';
import { InputDriftTester, type DriftStatistic } from '../../../cloud/drift/input-drift.ts';
import { binomialUpper } from '../../../cloud/drift/rate-tests.ts';
import { buildReference } from '../../../cloud/drift/reference.ts';
import { meanStd, psi } from '../../../cloud/drift/statistics.ts';

const ALPHA = 0.01;
const CHECKS = 2000;

/** Smallest count c with P(X ≥ c) ≤ 0.001 for X ~ Binomial(checks, alpha): more alarms than that is a failure. */
function upperBound(checks: number, alpha: number): number {
  let c = Math.ceil(checks * alpha);
  while (binomialUpper(c, checks, alpha) > 0.001) c++;
  return c;
}

const uniform = (prng: Prng, n: number, shift = 0): Float64Array =>
  Float64Array.from({ length: n }, () => prng.next() + shift).sort();
const normal = (prng: Prng, n: number, shift = 0): Float64Array =>
  Float64Array.from({ length: n }, () => prng.normal() + shift).sort();
// the sorted sample itself as the reference (buildReference's JSON copy is tested elsewhere)
const tester = (ref: Float64Array, statistic: DriftStatistic, cache?: NullCache): InputDriftTester =>
  new InputDriftTester(
    { x: { values: ref, std: meanStd(ref).std } },
    { statistic, alpha: ALPHA, ...(cache ? { cache } : {}) },
  );

describe('false-alarm rate on null data', () => {
  const bound = upperBound(CHECKS, ALPHA);

  it.for([100, 10_000])(
    'KS and PSI hold the 1 per cent rate at n = %i; the fixed PSI 0.1 rule does not',
    { timeout: 180_000 },
    async (n, { annotate }) => {
      // KS and reference-quantile PSI depend on ranks only: uniform draws stand for any continuous distribution
      const prng = new Prng(n);
      const cache = new NullCache();
      let ks = 0;
      let psiCal = 0;
      let psiFixed = 0;
      for (let c = 0; c < CHECKS; c++) {
        const ref = uniform(prng, n);
        const recent = uniform(prng, n);
        if (tester(ref, 'ks').check({ x: recent }).drifted) ks++;
        if (tester(ref, 'psi', cache).check({ x: recent }).drifted) psiCal++;
        if (psi(ref, recent) > 0.1) psiFixed++;
      }
      // the measured rates, shown by the reporter (docs/drift.md quotes them)
      await annotate(
        `n_ref = n = ${n}, ${CHECKS} checks: KS ${ks}, PSI calibrated ${psiCal}, PSI > 0.1 ${psiFixed} (bound ${bound})`,
      );
      expect(ks).toBeLessThanOrEqual(bound);
      expect(psiCal).toBeLessThanOrEqual(bound);
      if (n === 100)
        expect(psiFixed / CHECKS).toBeGreaterThan(0.5); // most unchanged batches of 100 "drift"
      else expect(psiFixed).toBe(0);
    },
  );

  it('at n = 10 000 a 0.1 σ shift: calibrated PSI sees it, the fixed 0.1 rule never does', () => {
    const prng = new Prng(10);
    const cache = new NullCache();
    let cal = 0;
    let fixed = 0;
    for (let c = 0; c < 50; c++) {
      const ref = normal(prng, 10_000);
      const recent = normal(prng, 10_000, 0.1);
      if (tester(ref, 'psi', cache).check({ x: recent }).drifted) cal++;
      if (psi(ref, recent) > 0.1) fixed++;
    }
    expect(cal).toBeGreaterThan(45);
    expect(fixed).toBe(0);
  });

  it.for([
    [100, 100, 20],
    [10_000, 100, 20],
  ] as const)(
    'Wasserstein (reference of 10 000) holds the 1 per cent rate at n = %i',
    { timeout: 180_000 },
    async ([n, references, windows], { annotate }) => {
      // W1 depends on the shape: normal data, a fresh reference every `windows` checks (each brings its own null)
      const prng = new Prng(n + 1);
      let fired = 0;
      for (let r = 0; r < references; r++) {
        const t = tester(normal(prng, 10_000), 'wasserstein');
        for (let w = 0; w < windows; w++) if (t.check({ x: normal(prng, n) }).drifted) fired++;
      }
      await annotate(
        `n_ref = 10000, n = ${n}, ${CHECKS} checks (${references} references): Wasserstein ${fired} (bound ${bound})`,
      );
      expect(references * windows).toBe(CHECKS);
      expect(fired).toBeLessThanOrEqual(bound);
    },
  );
});

describe('power', () => {
  it.for(['ks', 'wasserstein', 'psi'] as const)(
    '%s: a 0.5 σ shift of one feature among 20 at n = 500 is detected in more than 95 per cent of checks',
    async (statistic, { annotate }) => {
      const prng = new Prng(500);
      const nRef = statistic === 'wasserstein' ? 10_000 : 500;
      const columns = Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`f${f}`, normal(prng, nRef)]));
      const t = new InputDriftTester(buildReference(columns, { maxSample: nRef }), { statistic, alpha: ALPHA });
      let detected = 0;
      let wrongFeature = 0;
      const checks = 200;
      for (let c = 0; c < checks; c++) {
        const recent = Object.fromEntries(
          Array.from({ length: 20 }, (_, f) => [`f${f}`, normal(prng, 500, f === 7 ? 0.5 : 0)]),
        );
        const r = t.check(recent);
        if (r.features.find((x) => x.feature === 'f7')!.drifted) detected++;
        wrongFeature += r.features.filter((x) => x.drifted && x.feature !== 'f7').length;
      }
      await annotate(`${statistic}: detected ${detected}/${checks}, other features fired ${wrongFeature} times`);
      expect(detected / checks).toBeGreaterThan(0.95);
      expect(wrongFeature).toBeLessThanOrEqual(upperBound(checks, ALPHA));
    },
  );
});

describe('corrections and simulated nulls', () => {
  it('Holm rejects step-down, Bonferroni at alpha/k', () => {
    const p = [0.001, 0.02, 0.004, 0.3];
    // sorted: 0.001 ≤ 0.05/4, 0.004 ≤ 0.05/3, 0.02 ≤ 0.05/2, 0.3 > 0.05
    expect(rejectAt(p, 0.05, 'holm')).toEqual([true, true, true, false]);
    expect(rejectAt(p, 0.05, 'bonferroni')).toEqual([true, false, true, false]);
    expect(rejectAt(p, 0.05, 'none')).toEqual([true, true, true, false]);
  });

  it('a simulated null gives (1 + #≥) / (R + 1) inside and an exponential tail beyond its top replicates', () => {
    const prng = new Prng(3);
    const d = new NullDistribution(Float64Array.from({ length: 1000 }, () => -Math.log(1 - prng.next()))); // Exp(1)
    expect(d.pValue(-1)).toBe(1);
    expect(d.pValue(Math.log(2))).toBeCloseTo(0.5, 1);
    // Exp(1) tail: P(X > 8) = e^-8 ≈ 3.4e-4, far beyond 1 000 replicates
    expect(d.pValue(8)).toBeGreaterThan(3e-5);
    expect(d.pValue(8)).toBeLessThan(1e-3);
    for (const a of [0.5, 0.05, 0.001]) expect(d.pValue(d.quantile(a) * 1.0001 + 1e-9)).toBeLessThanOrEqual(a);
    expect(() => new NullDistribution(new Float64Array(10))).toThrow(/100 replicates/);
  });
});
