/**
 * Multi-label metrics and per-mode threshold tuning for the AI4I recommender. Pure.
 */
import { FAILURE_MODES } from './ai4i-data.ts';
import { actionsFor, rankCatalog } from './actions.ts';

export interface ModeMetrics {
  support: number;
  predicted: number;
  tp: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface EvalReport {
  rows: number;
  perMode: Record<string, ModeMetrics>;
  /** mean F1 over the five modes (a mode with no positives and no predictions counts F1 = 0; see docs) */
  macroF1: number;
  /** mean F1 over TWF, HDF, PWF, OSF (RNF is random by construction of the data) */
  macroF1NoRnf: number;
  /**
   * binary machine failure: the model's own failure output vs. the "Machine failure" label when `failure` is given
   * to evaluate(), else the same as anyModeFailure
   */
  binaryFailure: { precision: number; recall: number; f1: number; support: number };
  /** any mode predicted vs. any mode true */
  anyModeFailure: { precision: number; recall: number; f1: number; support: number };
  /** rows with at least one true mode whose top-1 / top-2 actions include an action for a true mode */
  hitAt1: number;
  hitAt2: number;
  rowsWithMode: number;
}

function prf(tp: number, predicted: number, support: number): { precision: number; recall: number; f1: number } {
  const precision = predicted > 0 ? tp / predicted : 0;
  const recall = support > 0 ? tp / support : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/** A binary machine failure prediction per row, scored against the "Machine failure" column. */
export interface FailurePrediction {
  /** per row: probability (or 0/1) of a machine failure */
  probs: ArrayLike<number>;
  /** per row: the Machine failure label, 0/1 */
  labels: ArrayLike<number>;
  /** decision point; default 0.5 (the folded threshold of an exported model) */
  threshold?: number;
}

/**
 * Evaluate probabilities (row-major [rows, 5]) against labels with one threshold per mode (default 0.5 each,
 * the folded thresholds of an exported model), and a machine failure prediction when given.
 */
export function evaluate(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  thresholds: readonly number[] = FAILURE_MODES.map(() => 0.5),
  failure?: FailurePrediction,
): EvalReport {
  const k = FAILURE_MODES.length;
  const tp = new Array<number>(k).fill(0);
  const pred = new Array<number>(k).fill(0);
  const sup = new Array<number>(k).fill(0);
  let bTp = 0;
  let bPred = 0;
  let bSup = 0;
  let hit1 = 0;
  let hit2 = 0;
  let withMode = 0;
  for (let i = 0; i < rows; i++) {
    let anyPred = false;
    const trueModes: string[] = [];
    for (let j = 0; j < k; j++) {
      const y = labels[i * k + j]! >= 0.5;
      const p = probs[i * k + j]! >= thresholds[j]!;
      if (y) {
        sup[j]!++;
        trueModes.push(FAILURE_MODES[j]!);
      }
      if (p) {
        pred[j]!++;
        anyPred = true;
      }
      if (y && p) tp[j]!++;
    }
    const anyTrue = trueModes.length > 0;
    if (anyTrue) bSup++;
    if (anyPred) bPred++;
    if (anyTrue && anyPred) bTp++;
    if (anyTrue) {
      withMode++;
      const ranked = rankCatalog(probs, i * k);
      const good = actionsFor(trueModes);
      if (good.has(ranked[0]!.id)) hit1++;
      if (good.has(ranked[0]!.id) || good.has(ranked[1]!.id)) hit2++;
    }
  }
  const perMode: Record<string, ModeMetrics> = {};
  FAILURE_MODES.forEach((m, j) => {
    perMode[m] = { support: sup[j]!, predicted: pred[j]!, tp: tp[j]!, ...prf(tp[j]!, pred[j]!, sup[j]!) };
  });
  const f1s = FAILURE_MODES.map((m) => perMode[m]!.f1);
  const anyModeFailure = { ...prf(bTp, bPred, bSup), support: bSup };
  return {
    rows,
    perMode,
    macroF1: f1s.reduce((a, b) => a + b, 0) / k,
    macroF1NoRnf: (f1s[0]! + f1s[1]! + f1s[2]! + f1s[3]!) / 4,
    binaryFailure: failure ? binaryFailure(failure, rows) : anyModeFailure,
    anyModeFailure,
    hitAt1: withMode > 0 ? hit1 / withMode : 0,
    hitAt2: withMode > 0 ? hit2 / withMode : 0,
    rowsWithMode: withMode,
  };
}

function binaryFailure(f: FailurePrediction, rows: number): EvalReport['binaryFailure'] {
  const t = f.threshold ?? 0.5;
  let tp = 0;
  let predicted = 0;
  let support = 0;
  for (let i = 0; i < rows; i++) {
    const p = f.probs[i]! >= t;
    const y = f.labels[i]! >= 0.5;
    if (p) predicted++;
    if (y) support++;
    if (p && y) tp++;
  }
  return { ...prf(tp, predicted, support), support };
}

/**
 * F1-optimal threshold for one mode from validation scores. Candidate thresholds are midpoints between adjacent
 * distinct scores (so the decision does not sit exactly on a validation point); ties go to the candidate closest
 * to 0.5 in log-odds (least extreme). With no positive in the validation data the threshold is `fallback`.
 */
export function tuneThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  stride = 1,
  offset = 0,
  fallback = 0.5,
): { threshold: number; f1: number } {
  const pts: Array<{ s: number; y: boolean }> = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i * stride + offset]! >= 0.5;
    if (y) pos++;
    pts.push({ s: scores[i * stride + offset]!, y });
  }
  if (pos === 0) return { threshold: fallback, f1: 0 };
  pts.sort((a, b) => b.s - a.s);
  let best = { threshold: fallback, f1: -1, dist: Infinity };
  let tp = 0;
  let predicted = 0;
  for (let i = 0; i < pts.length; i++) {
    predicted++;
    if (pts[i]!.y) tp++;
    const next = pts[i + 1];
    if (next && next.s === pts[i]!.s) continue; // all points with equal score go together
    const thr = next ? (pts[i]!.s + next.s) / 2 : pts[i]!.s / 2;
    const f1 = (2 * tp) / (predicted + pos);
    const dist = Math.abs(logit(thr));
    if (f1 > best.f1 + 1e-12 || (Math.abs(f1 - best.f1) <= 1e-12 && dist < best.dist))
      best = { threshold: thr, f1, dist };
  }
  return { threshold: best.threshold, f1: best.f1 };
}

export function logit(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
}
