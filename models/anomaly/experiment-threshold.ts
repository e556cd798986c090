/**
 * Per-experiment decision rules and their cross-validation by file. Pure.
 *
 * An experiment (one SKAB file, one run of a machine) gets its own model and its own threshold, calibrated only on
 * that experiment's training prefix: the rows the model was fitted on, or, with a calibration part, the prefix rows
 * after the fitted ones (scores the model has not seen, so the threshold reflects out-of-sample error). Two rules:
 * - `quantile`: threshold = quantile_q(calibration scores) × margin (threshold.ts);
 * - `robust-z`: the scores are normalised per experiment by the median and MAD of its calibration scores, and a row
 *   is flagged when (score − median) / (1.4826 × MAD) > z; one z then means the same thing in every experiment,
 *   whatever the level and spread of its reconstruction error.
 * Smoothing is a trailing mean over K row scores (causal). `crossValidateByFile` picks a decision rule from a
 * grid on all files but one and applies it to the one left out, for every file: figures that show how the choice
 * transfers to an experiment it was not tuned on.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { addConfusion, binaryMetrics, confusion } from './binary-metrics.ts';
import type { BinaryMetrics, Confusion } from './binary-metrics.ts';
import { calibrateThreshold, quantile, smoothScores } from './threshold.ts';

export type ExperimentRule = { kind: 'quantile'; quantile: number; margin: number } | { kind: 'robust-z'; z: number };

/**
 * Smoothing that adapts to the experiment: the shortest trailing mean among `choose` whose smoothed calibration
 * scores stay within `maxSpread` × their median (max / median), else the longest. A noisy experiment gets a
 * longer mean, a quiet one keeps a short onset delay.
 */
export interface AdaptiveSmoothing {
  choose: readonly number[];
  maxSpread: number;
}

export interface ExperimentDecision {
  /** trailing mean over this many row scores (>= 1), or chosen per experiment from its calibration rows */
  smoothing: number | AdaptiveSmoothing;
  rule: ExperimentRule;
}

/** MAD to standard deviation for normal data. */
const MAD_TO_STD = 1.4826;

/** Threshold on (smoothed) scores from the calibration scores of one experiment. NaN entries are ignored. */
export function experimentThreshold(calibration: ArrayLike<number>, rule: ExperimentRule): number {
  if (rule.kind === 'quantile') return calibrateThreshold(calibration, rule);
  if (!(rule.z > 0 && Number.isFinite(rule.z)))
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `robust-z threshold z must be a finite number > 0, got ${rule.z}`,
    );
  const median = quantile(calibration, 0.5);
  const deviations = Float64Array.from(calibration as ArrayLike<number>, (v) => Math.abs(v - median));
  // a perfectly flat calibration part (MAD 0) would flag any change at all: floor the scale at 1e-9 of the level
  const scale = Math.max(MAD_TO_STD * quantile(deviations, 0.5), Math.abs(median) * 1e-9, Number.MIN_VALUE);
  return median + rule.z * scale;
}

export function describeDecision(d: ExperimentDecision): string {
  const r = d.rule;
  const rule =
    r.kind === 'quantile' ? `${r.quantile === 1 ? 'max' : `q${r.quantile}`} x ${r.margin}` : `robust z > ${r.z}`;
  const sm = d.smoothing;
  return `${typeof sm === 'number' ? `smooth ${sm}` : `smooth adaptive ${sm.choose.join('/')} at spread ${sm.maxSpread}`}, ${rule}`;
}

/** One experiment's row scores (NaN where no window ends) and labels, with the rows that calibrate its threshold. */
export interface ScoredExperiment {
  key: string;
  /** window score per row (unsmoothed) */
  scores: ArrayLike<number>;
  /** 0/1 per row; only rows >= testStart are scored */
  labels: ArrayLike<number>;
  /** calibration rows [calibrationStart, testStart) */
  calibrationStart: number;
  /** first test row (the protocol's training prefix length) */
  testStart: number;
}

export interface ExperimentOutcome {
  key: string;
  threshold: number;
  /** row of the first test row */
  testStart: number;
  /** 0/1 label per test row */
  labels: Uint8Array;
  /** smoothed score per test row */
  scores: Float64Array;
  /** 0/1 per test row */
  predicted: Uint8Array;
  confusion: Confusion;
}

/** Applies a decision to one experiment: smooth, calibrate on its own calibration rows, flag test rows above. */
export function decideExperiment(e: ScoredExperiment, d: ExperimentDecision): ExperimentOutcome {
  if (!(e.calibrationStart >= 0 && e.calibrationStart < e.testStart && e.testStart < e.scores.length)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `${e.key}: calibration rows [${e.calibrationStart}, ${e.testStart}) and test rows from ${e.testStart} do not fit ${e.scores.length} rows`,
    );
  }
  const smoothed =
    typeof d.smoothing === 'number' ? smoothScores(e.scores, d.smoothing) : adaptiveSmoothed(e, d.smoothing).smoothed;
  const threshold = experimentThreshold(smoothed.subarray(e.calibrationStart, e.testStart), d.rule);
  const scores = smoothed.slice(e.testStart);
  const predicted = Uint8Array.from(scores, (s) => (s > threshold ? 1 : 0));
  const labels = Uint8Array.from({ length: scores.length }, (_, i) => e.labels[e.testStart + i]!);
  return {
    key: e.key,
    threshold,
    testStart: e.testStart,
    labels,
    scores,
    predicted,
    confusion: confusion(predicted, labels),
  };
}

/** The smoothing AdaptiveSmoothing picks for one experiment, and the scores smoothed with it. */
export function adaptiveSmoothed(e: ScoredExperiment, a: AdaptiveSmoothing): { k: number; smoothed: Float64Array } {
  if (a.choose.length === 0 || !(a.maxSpread > 1))
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      'adaptive smoothing needs candidate lengths and a maxSpread > 1',
    );
  const ks = [...a.choose].sort((x, y) => x - y);
  let last: { k: number; smoothed: Float64Array } | undefined;
  for (const k of ks) {
    const smoothed = smoothScores(e.scores, k);
    const cal = smoothed.subarray(e.calibrationStart, e.testStart);
    last = { k, smoothed };
    if (quantile(cal, 1) <= a.maxSpread * quantile(cal, 0.5)) return last;
  }
  return last!;
}

/** Pooled confusion of a decision over experiments (SKAB scores all test rows of all files together). */
export function pooledConfusion(experiments: readonly ScoredExperiment[], d: ExperimentDecision): Confusion {
  let total: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const e of experiments) total = addConfusion(total, decideExperiment(e, d).confusion);
  return total;
}

/**
 * The selection criterion: the highest pooled F1 among the decisions whose pooled FAR is at most `maxFar`; when
 * none is, the lowest FAR. Ties go to the earlier decision in the grid.
 */
export function selectDecision(
  experiments: readonly ScoredExperiment[],
  grid: readonly ExperimentDecision[],
  maxFar: number,
): { decision: ExperimentDecision; metrics: BinaryMetrics } {
  if (grid.length === 0) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'the decision grid is empty');
  let best: { decision: ExperimentDecision; metrics: BinaryMetrics } | undefined;
  for (const decision of grid) {
    const metrics = binaryMetrics(pooledConfusion(experiments, decision));
    if (!best || isBetter(metrics, best.metrics, maxFar)) best = { decision, metrics };
  }
  return best!;
}

/** `m` beats `b`: within the FAR bound and higher F1, or within it where `b` is not, or both outside and lower FAR. */
function isBetter(m: BinaryMetrics, b: BinaryMetrics, maxFar: number): boolean {
  const ok = m.far <= maxFar;
  const bOk = b.far <= maxFar;
  if (ok !== bOk) return ok;
  return ok ? m.f1 > b.f1 : m.far < b.far;
}

export interface CrossValidationFold {
  /** the experiment left out */
  key: string;
  /** the scoring variant chosen */
  variant: string;
  /** the decision chosen on the other experiments, and its figures there */
  chosen: ExperimentDecision;
  inner: BinaryMetrics;
  /** the chosen decision on the experiment left out */
  outcome: ExperimentOutcome;
  heldOut: BinaryMetrics;
}

export interface CrossValidationResult {
  folds: CrossValidationFold[];
  /** pooled over the held-out experiments: every row scored by a decision chosen without its file */
  outOfFold: BinaryMetrics;
}

/**
 * Leave-one-experiment-out cross-validation of the decision rule. Each candidate list in `variants` is one way of
 * scoring the same experiments (for example models fitted on a different part of the prefix); the grid is the
 * product of variants and decisions, and a fold picks one pair without looking at the held-out file.
 */
export function crossValidateByFile(
  variants: ReadonlyArray<{ name: string; experiments: readonly ScoredExperiment[] }>,
  grid: readonly ExperimentDecision[],
  opts: { maxFar?: number } = {},
): CrossValidationResult {
  const maxFar = opts.maxFar ?? 0.15;
  if (variants.length === 0)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'no scored experiments to cross-validate');
  const keys = variants[0]!.experiments.map((e) => e.key);
  for (const v of variants) {
    if (v.experiments.map((e) => e.key).join('\n') !== keys.join('\n'))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `variant "${v.name}" scores other experiments than "${variants[0]!.name}"`,
      );
  }
  if (keys.length < 2)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `cross-validation by file needs at least 2 experiments, got ${keys.length}`,
    );
  const folds: CrossValidationFold[] = [];
  let total: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  keys.forEach((key, i) => {
    let pick: { variant: number; decision: ExperimentDecision; metrics: BinaryMetrics } | undefined;
    variants.forEach((v, vi) => {
      const inner = selectDecision(
        v.experiments.filter((_, j) => j !== i),
        grid,
        maxFar,
      );
      const cur = { variant: vi, ...inner };
      if (!pick || isBetter(cur.metrics, pick.metrics, maxFar)) pick = cur;
    });
    const outcome = decideExperiment(variants[pick!.variant]!.experiments[i]!, pick!.decision);
    total = addConfusion(total, outcome.confusion);
    folds.push({
      key,
      variant: variants[pick!.variant]!.name,
      chosen: pick!.decision,
      inner: pick!.metrics,
      outcome,
      heldOut: binaryMetrics(outcome.confusion),
    });
  });
  return { folds, outOfFold: binaryMetrics(total) };
}

/** The decision grid `models eval skab --cross-validate` searches. */
export function defaultDecisionGrid(): ExperimentDecision[] {
  const grid: ExperimentDecision[] = [];
  for (const smoothing of [1, 5, 10, 20, 30]) {
    for (const margin of [1, 1.25, 1.5, 2, 3])
      grid.push({ smoothing, rule: { kind: 'quantile', quantile: 1, margin } });
    for (const margin of [1.5, 2, 3]) grid.push({ smoothing, rule: { kind: 'quantile', quantile: 0.99, margin } });
    for (const z of [3, 5, 8, 12, 20, 30]) grid.push({ smoothing, rule: { kind: 'robust-z', z } });
  }
  for (const maxSpread of [1.5, 2, 3]) {
    const smoothing = { choose: [1, 5, 10, 20, 30], maxSpread };
    for (const margin of [1.25, 1.5, 2]) grid.push({ smoothing, rule: { kind: 'quantile', quantile: 1, margin } });
    for (const z of [5, 8, 12]) grid.push({ smoothing, rule: { kind: 'robust-z', z } });
  }
  return grid;
}
