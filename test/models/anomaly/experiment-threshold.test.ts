import { describe, expect, it } from 'vitest';
import {
  adaptiveSmoothed,
  crossValidateByFile,
  decideExperiment,
  experimentThreshold,
  selectDecision,
} from '../../../models/anomaly/experiment-threshold.ts';
import type { ExperimentDecision, ScoredExperiment } from '../../../models/anomaly/experiment-threshold.ts';

/** An experiment: `normal` score level with a small ripple, `anomaly` level on rows [a, b) of the test part. */
function experiment(
  key: string,
  o: {
    rows?: number;
    testStart?: number;
    level?: number;
    ripple?: number;
    anomaly?: number;
    a?: number;
    b?: number;
    drift?: number;
    calibrationStart?: number;
  },
): ScoredExperiment {
  const {
    rows = 100,
    testStart = 40,
    level = 1,
    ripple = 0.1,
    anomaly = 5,
    a = 70,
    b = 90,
    drift = 0,
    calibrationStart = 0,
  } = o;
  const scores = Float64Array.from({ length: rows }, (_, i) => {
    if (i < 2) return Number.NaN; // no full window yet
    const base = level + ripple * ((i % 4) - 1.5) + (i >= testStart ? drift * (i - testStart) : 0);
    return i >= a && i < b ? anomaly * level : base;
  });
  const labels = Uint8Array.from({ length: rows }, (_, i) => (i >= a && i < b ? 1 : 0));
  return { key, scores, labels, calibrationStart, testStart };
}

describe('per-experiment thresholds', () => {
  it('quantile rule: quantile of the calibration scores x margin; NaN ignored', () => {
    expect(experimentThreshold([Number.NaN, 1, 2, 3, 4], { kind: 'quantile', quantile: 1, margin: 1.5 })).toBe(6);
    expect(experimentThreshold([1, 2, 3, 4, 5], { kind: 'quantile', quantile: 0.5, margin: 2 })).toBe(6);
  });

  it('robust-z rule: median + z x 1.4826 x MAD, so one z means the same in experiments of any level and spread', () => {
    // median 3, |deviations| 2 1 0 1 2 → MAD 1
    expect(experimentThreshold([1, 2, 3, 4, 5], { kind: 'robust-z', z: 4 })).toBeCloseTo(3 + 4 * 1.4826, 12);
    // the same shape at 100x the level and 10x the spread: the same position relative to it
    const t = experimentThreshold([100, 110, 120, 130, 140], { kind: 'robust-z', z: 4 });
    expect((t - 120) / 10).toBeCloseTo(4 * 1.4826, 9);
    // a flat calibration part (MAD 0) still gives a threshold above its level
    expect(experimentThreshold([2, 2, 2, 2], { kind: 'robust-z', z: 3 })).toBeGreaterThan(2);
    expect(() => experimentThreshold([1, 2], { kind: 'robust-z', z: 0 })).toThrow(/z must be a finite number > 0/);
  });

  it('decides each test row on the smoothed score against its own calibration rows', () => {
    const e = experiment('a', { level: 2 });
    const o = decideExperiment(e, { smoothing: 1, rule: { kind: 'quantile', quantile: 1, margin: 1.5 } });
    // calibration max = 2 + 0.15 → threshold 3.225; the anomaly (10) is flagged exactly on its rows
    expect(o.threshold).toBeCloseTo(3.225, 12);
    expect(o.testStart).toBe(40);
    expect(o.confusion).toEqual({ tp: 20, fp: 0, fn: 0, tn: 40 });
    // a trailing mean of 5 over a strong anomaly: flagged from its first row, and for 4 rows after its end
    const s = decideExperiment(e, { smoothing: 5, rule: { kind: 'quantile', quantile: 1, margin: 1.5 } });
    expect(s.confusion).toEqual({ tp: 20, fn: 0, fp: 4, tn: 36 });
    // the calibration part can exclude the fitted rows
    const late = decideExperiment(
      { ...e, calibrationStart: 30 },
      { smoothing: 1, rule: { kind: 'quantile', quantile: 1, margin: 1 } },
    );
    expect(late.threshold).toBeCloseTo(2.15, 12);
    expect(() =>
      decideExperiment({ ...e, calibrationStart: 40 }, { smoothing: 1, rule: { kind: 'robust-z', z: 3 } }),
    ).toThrow(/calibration rows \[40, 40\)/);
  });
});

describe('adaptive smoothing', () => {
  it('takes the shortest trailing mean whose calibration scores stay within maxSpread x their median', () => {
    const quiet = experiment('quiet', { ripple: 0.05 });
    // spikes every 7th calibration row: a short mean keeps them, a long one averages them out
    const spiky = experiment('spiky', {});
    const scores = Float64Array.from(spiky.scores as Float64Array, (v, i) => (i < 40 && i % 7 === 0 ? 3 : v));
    const noisy = { ...spiky, scores };
    const a = { choose: [10, 1, 5], maxSpread: 1.5 };
    expect(adaptiveSmoothed(quiet, a).k).toBe(1);
    const k = adaptiveSmoothed(noisy, a).k;
    expect(k).toBeGreaterThan(1);
    // what it picks is what the decision uses
    const d = decideExperiment(noisy, { smoothing: a, rule: { kind: 'quantile', quantile: 1, margin: 1.5 } });
    expect(d).toEqual(decideExperiment(noisy, { smoothing: k, rule: { kind: 'quantile', quantile: 1, margin: 1.5 } }));
    // nothing within the spread: the longest
    expect(adaptiveSmoothed(noisy, { choose: [1, 2], maxSpread: 1.01 }).k).toBe(2);
    expect(() => adaptiveSmoothed(quiet, { choose: [], maxSpread: 2 })).toThrow(/adaptive smoothing needs/);
  });
});

describe('cross-validation by file', () => {
  const grid: ExperimentDecision[] = [
    { smoothing: 1, rule: { kind: 'quantile', quantile: 1, margin: 1.01 } },
    { smoothing: 1, rule: { kind: 'quantile', quantile: 1, margin: 3 } },
  ];

  it('selects the best F1 within the FAR bound, else the lowest FAR', () => {
    // drifting normal test rows: margin 1.01 raises false alarms, margin 3 does not
    const ex = [experiment('a', { drift: 0.02 }), experiment('b', { drift: 0.02 })];
    const best = selectDecision(ex, grid, 0.15);
    expect(best.decision).toBe(grid[1]);
    expect(best.metrics.far).toBe(0);
    // with a FAR bound nobody meets, the lowest FAR wins
    const strict = selectDecision([experiment('c', { drift: 0.2, anomaly: 2 })], grid, 0);
    expect(strict.metrics.far).toBeLessThanOrEqual(
      selectDecision([experiment('c', { drift: 0.2, anomaly: 2 })], [grid[0]!], 0).metrics.far,
    );
  });

  it('chooses each fold on the other files only, and pools the held-out rows', () => {
    // a, b: weak anomalies (1.5x) that only the tight margin finds; c: drifting normal rows that only the wide margin survives
    const a = experiment('a', { anomaly: 1.5 });
    const b = experiment('b', { anomaly: 1.5 });
    const c = experiment('c', { drift: 0.05, anomaly: 6 });
    const cv = crossValidateByFile([{ name: 'only', experiments: [a, b, c] }], grid, { maxFar: 0.15 });
    expect(cv.folds.map((f) => f.key)).toEqual(['a', 'b', 'c']);
    // leaving c out, a and b favour the tight margin, which then floods c with false alarms: the out-of-fold
    // figure shows it (an in-sample choice over all three files would hide it)
    expect(cv.folds[2]!.chosen).toBe(grid[0]);
    expect(cv.folds[2]!.heldOut.far).toBeGreaterThan(0.5);
    const tp = cv.folds.reduce((s, f) => s + f.outcome.confusion.tp, 0);
    const fp = cv.folds.reduce((s, f) => s + f.outcome.confusion.fp, 0);
    expect(cv.outOfFold.tp).toBe(tp);
    expect(cv.outOfFold.fp).toBe(fp);
    expect(cv.outOfFold.tp + cv.outOfFold.fp + cv.outOfFold.fn + cv.outOfFold.tn).toBe(3 * 60);
  });

  it('picks among scoring variants too, and refuses mismatched or too few files', () => {
    const tight = [experiment('a', { anomaly: 1.5 }), experiment('b', { anomaly: 1.5 })];
    const noisy = [experiment('a', { anomaly: 1.5, ripple: 1 }), experiment('b', { anomaly: 1.5, ripple: 1 })];
    const cv = crossValidateByFile(
      [
        { name: 'noisy', experiments: noisy },
        { name: 'tight', experiments: tight },
      ],
      grid,
    );
    expect(cv.folds.map((f) => f.variant)).toEqual(['tight', 'tight']);
    expect(() =>
      crossValidateByFile(
        [
          { name: 'x', experiments: tight },
          { name: 'y', experiments: [tight[0]!] },
        ],
        grid,
      ),
    ).toThrow(/variant "y" scores other experiments/);
    expect(() => crossValidateByFile([{ name: 'x', experiments: [tight[0]!] }], grid)).toThrow(
      /at least 2 experiments/,
    );
  });
});

describe('SKAB cross-validation variants', () => {
  it('crosses fit rows, std floors and the sensor set with and without the dropped columns', async () => {
    const { skabVariants } = await import('../../../models/anomaly/skab-eval.ts');
    expect(skabVariants({ fitRows: [400] })).toEqual([{ name: 'fit 400', options: { fitRows: 400 } }]);
    const v = skabVariants({ fitRows: [300, 400], floors: [0.01], drop: ['Temperature', 'Thermocouple'] });
    expect(v.map((x) => x.name)).toEqual([
      'fit 300 floor 0.01',
      'fit 300 floor 0.01 without Temperature+Thermocouple',
      'fit 400 floor 0.01',
      'fit 400 floor 0.01 without Temperature+Thermocouple',
    ]);
    // the base variant keeps every column (not the default drop)
    expect(v[0]!.options).toEqual({ fitRows: 300, normalization: { minRelativeStd: 0.01 }, dropSensors: [] });
    expect(v[1]!.options.dropSensors).toEqual(['Temperature', 'Thermocouple']);
  });
});
