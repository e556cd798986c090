/**
 * Decision thresholds and score post-processing. Pure.
 *
 * Rule: threshold = quantile_q(training scores) × margin. The default (q = 0.99, margin 1.5) flags a window whose
 * reconstruction error is half as large again as the 99th percentile of the normal data the model was fitted on.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface ThresholdRule {
  /** quantile of the training scores, in (0, 1]; 1 = the maximum */
  quantile: number;
  /** factor applied to that quantile, > 0 */
  margin: number;
  /**
   * leave out training scores above median + trimMads × MAD before taking the quantile: training data that may hold
   * anomalies (a retraining slice after a drift keeps the stale model's alarms, real faults among them) would
   * otherwise put the threshold on the faults' own scores. Undefined: no trimming.
   */
  trimMads?: number | undefined;
}

export const DEFAULT_THRESHOLD_RULE: ThresholdRule = { quantile: 0.99, margin: 1.5 };

/** Quantile with linear interpolation between order statistics (numpy's default); NaN entries are ignored. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const v = Float64Array.from(values as ArrayLike<number>)
    .filter((x) => !Number.isNaN(x))
    .sort();
  if (v.length === 0) throw new EdgeloopError('EL_ERR_DATA_INVALID', 'no scores to take a quantile of');
  const pos = q * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(v.length - 1, lo + 1);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

export function calibrateThreshold(
  trainingScores: ArrayLike<number>,
  rule: ThresholdRule = DEFAULT_THRESHOLD_RULE,
): number {
  checkRule(rule);
  if (rule.trimMads === undefined) return quantile(trainingScores, rule.quantile) * rule.margin;
  const sorted = Float64Array.from(trainingScores)
    .filter((x) => !Number.isNaN(x))
    .sort();
  const median = quantile(sorted, 0.5);
  const mad = quantile(sorted.map((x) => Math.abs(x - median)).sort(), 0.5);
  const cutoff = median + rule.trimMads * mad;
  const kept = sorted.filter((x) => x <= cutoff);
  return quantile(kept.length > 0 ? kept : sorted, rule.quantile) * rule.margin;
}

export function describeRule(rule: ThresholdRule, smoothing = 1): string {
  const q = rule.quantile === 1 ? 'max' : `${+(rule.quantile * 100).toFixed(3)}th percentile`;
  const trim = rule.trimMads === undefined ? '' : ` at most median + ${rule.trimMads} MAD`;
  return `${q} of training window scores${trim}${smoothing > 1 ? ` (trailing mean over ${smoothing} windows)` : ''} x ${rule.margin}`;
}

export function checkRule(rule: ThresholdRule): void {
  if (!(rule.quantile > 0 && rule.quantile <= 1))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `threshold quantile must be in (0, 1], got ${rule.quantile}`);
  if (rule.trimMads !== undefined && !(rule.trimMads > 0 && Number.isFinite(rule.trimMads)))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `threshold trimMads must be > 0, got ${rule.trimMads}`);
  if (!(rule.margin > 0 && Number.isFinite(rule.margin)))
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `threshold margin must be a finite number > 0, got ${rule.margin}`,
    );
}

/**
 * Trailing mean over the last `k` scores (causal: uses only the current and past windows, so it runs online).
 * NaN entries (rows before the first full window) stay NaN and are not averaged in.
 */
export function smoothScores(scores: ArrayLike<number>, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `smoothing must be an integer >= 1, got ${k}`);
  const out = new Float64Array(scores.length);
  let sum = 0;
  let n = 0;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (!Number.isNaN(v)) {
      sum += v;
      n++;
    }
    if (i >= k) {
      const old = scores[i - k]!;
      if (!Number.isNaN(old)) {
        sum -= old;
        n--;
      }
    }
    out[i] = Number.isNaN(v) || n === 0 ? Number.NaN : sum / n;
  }
  return out;
}
