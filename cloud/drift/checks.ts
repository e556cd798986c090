/**
 * One check of each monitor kind on a subject's windows, as plain functions: windows and references in, a
 * CheckEvidence (fired or not, every test with its statistic, threshold and n) out. Pure.
 */
import { levelsAt, quantileAt, rejectAt, type Correction } from './calibration.ts';
import type { CheckEvidence, TestEvidence } from './drift-store.ts';
import type { InputDriftTester } from './input-drift.ts';
import type { FeatureReference } from './reference.ts';
import { binomialTwoSided, binomialUpper, isStuck, poissonTwoSided } from './rate-tests.ts';
import { binCounts } from './statistics.ts';
import type { FeatureWindows, ValueWindow } from './windows.ts';

export interface CheckResult {
  evidence: CheckEvidence;
  fired: boolean;
}

/** A test on a count, not yet corrected. */
function countTest(
  feature: string,
  statistic: 'binomial' | 'poisson',
  value: number,
  pValue: number,
  n: number,
  nRef: number,
  threshold: number,
): TestEvidence {
  return { feature, statistic, value, pValue, level: Number.NaN, threshold, n, nRef, drifted: false };
}

/** Holm (or the chosen correction) over a family of tests; fills in level and drifted. */
function correct(tests: TestEvidence[], alpha: number, correction: Correction): TestEvidence[] {
  const pv = tests.map((t) => t.pValue);
  const rej = rejectAt(pv, alpha, correction);
  const lv = levelsAt(pv, alpha, correction);
  return tests.map((t, i) => ({ ...t, level: lv[i]!, drifted: rej[i]! }));
}

/** Input drift: the tester's corrected family of feature tests (recent: sorted values per feature), with reference vs recent histograms. */
export function checkInput(
  tester: InputDriftTester,
  recent: Record<string, Float64Array>,
  refs: Record<string, FeatureReference>,
  o: { alpha: number; minSamples: number; minEffect?: number; model?: { name: string; version: string } | undefined },
): CheckResult | undefined {
  const r = tester.check(recent, o.minSamples, o.minEffect ?? 0);
  if (r.features.length === 0) return undefined;
  const tests: TestEvidence[] = r.features.map((t) => ({
    ...t,
    histogram: histogram(refs[t.feature]!, recent[t.feature]!),
  }));
  return {
    fired: r.drifted,
    evidence: { alpha: o.alpha, n: Math.min(...r.features.map((t) => t.n)), tests, model: o.model },
  };
}

/** Display histogram: 20 equal-width bins over the reference's 0.5 %–99.5 % range, plus one bin below and above. */
export function histogram(
  ref: FeatureReference,
  recentSorted: Float64Array,
): { edges: number[]; reference: number[]; recent: number[] } {
  let h = DISPLAY_BINS.get(ref);
  if (!h) {
    const sorted = Float64Array.from(ref.values);
    const lo = quantileAt(sorted, 0.005);
    const hi = quantileAt(sorted, 0.995);
    const step = hi > lo ? (hi - lo) / 20 : 1;
    const edges = Float64Array.from({ length: 21 }, (_, k) => lo + k * step);
    h = { edges, reference: Array.from(binCounts(sorted, edges)) };
    DISPLAY_BINS.set(ref, h);
  }
  return {
    edges: Array.from(h.edges),
    reference: h.reference.slice(),
    recent: Array.from(binCounts(recentSorted, h.edges)),
  };
}

// display bins of a reference, computed once per reference object
const DISPLAY_BINS = new WeakMap<FeatureReference, { edges: Float64Array; reference: number[] }>();

export interface OutputWindow {
  scores: ValueWindow;
  /** inference windows and anomalies since the window opened (from status deltas) */
  windows: number;
  anomalies: number;
}

/**
 * Output drift: the score distribution against the validation scores (at alpha/2) and the anomaly rate against
 * the validation anomaly rate (binomial, at alpha/2): Bonferroni over the two.
 */
export function checkOutput(
  scoreTester: InputDriftTester | undefined,
  w: OutputWindow,
  baselineRate: number | undefined,
  o: { alpha: number; minSamples: number; model?: { name: string; version: string } | undefined },
): CheckResult | undefined {
  const tests: TestEvidence[] = [];
  if (scoreTester) {
    const r = scoreTester.check({ score: w.scores.sorted() }, o.minSamples);
    tests.push(...r.features);
  }
  if (baselineRate !== undefined && w.windows >= o.minSamples) {
    const p = binomialTwoSided(w.anomalies, w.windows, baselineRate);
    const level = o.alpha / 2;
    tests.push({
      feature: 'anomaly_rate',
      statistic: 'binomial',
      value: w.anomalies / w.windows,
      pValue: p,
      level,
      threshold: baselineRate,
      n: w.windows,
      nRef: 0,
      drifted: p <= level,
    });
  }
  if (tests.length === 0) return undefined;
  return {
    fired: tests.some((t) => t.drifted),
    evidence: { alpha: o.alpha, n: Math.min(...tests.map((t) => t.n)), tests, model: o.model },
  };
}

/** Missing rates below this are treated as this when testing (a reference without any missing value). */
export const MISSING_RATE_FLOOR = 1e-3;

/**
 * Data-quality drift: per feature the missing/NaN rate (binomial, upper tail, against the reference's rate) and
 * stuck values (zero variance where the reference varies); for the subject the record rate (Poisson, against
 * `baselinePerMs`). Holm over the p-value tests; a stuck feature fires on its own.
 */
export function checkQuality(
  windows: FeatureWindows,
  recent: Record<string, Float64Array>,
  refs: Record<string, FeatureReference>,
  o: {
    alpha: number;
    minSamples: number;
    correction: Correction;
    now: number;
    baselinePerMs?: number | undefined;
    model?: { name: string; version: string } | undefined;
  },
): CheckResult | undefined {
  let tests: TestEvidence[] = [];
  const stuck: TestEvidence[] = [];
  for (const [feature, ref] of Object.entries(refs)) {
    const w = windows.byFeature.get(feature);
    if (!w || w.total < o.minSamples) continue;
    const p0 = Math.max(ref.missingRate, MISSING_RATE_FLOOR);
    tests.push(
      countTest(
        `${feature}:missing`,
        'binomial',
        w.missing / w.total,
        binomialUpper(w.missing, w.total, p0),
        w.total,
        ref.count,
        p0,
      ),
    );
    const sorted = recent[feature] ?? w.sorted();
    if (isStuck(sorted, ref.std, o.minSamples)) {
      stuck.push({
        feature: `${feature}:stuck`,
        statistic: 'stuck',
        value: 0,
        pValue: 0,
        level: 0,
        threshold: 0,
        n: sorted.length,
        nRef: ref.count,
        drifted: true,
      });
    }
  }
  const elapsed = o.now - windows.openedAt;
  if (o.baselinePerMs !== undefined && elapsed > 0) {
    const expected = o.baselinePerMs * elapsed;
    // n of the rate test is the count the window should hold: a silent device's check still has a sample size
    tests.push(
      countTest(
        'record_rate',
        'poisson',
        (windows.records / elapsed) * 60_000,
        poissonTwoSided(windows.records, expected),
        Math.round(expected),
        0,
        o.baselinePerMs * 60_000,
      ),
    );
  }
  if (tests.length === 0 && stuck.length === 0) return undefined;
  tests = [...correct(tests, o.alpha, o.correction), ...stuck];
  return {
    fired: tests.some((t) => t.drifted),
    evidence: { alpha: o.alpha, n: Math.min(...tests.map((t) => t.n)), tests, model: o.model },
  };
}
