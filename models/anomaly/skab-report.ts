/**
 * Text reports of the SKAB evaluation (`edgeloop models eval skab`): the per-file table with totals, and the
 * per-fold table of the cross-validation by file; plus the held-out rows of a cross-validation for --out. Pure.
 */
import type { BinaryMetrics } from './binary-metrics.ts';
import { describeDecision } from './experiment-threshold.ts';
import type { SkabCrossValidation, SkabResult, SkabRow } from './skab-eval.ts';

const LEADERBOARD =
  'leaderboard (F1 / FAR / MAR): Conv-AE 0.78 / 13.55 / 28.02, MSET 0.78 / 39.73 / 14.13, T2+Q 0.76 / 26.62 / 24.92';

const pct = (x: number): string => (x * 100).toFixed(2).padStart(6);

function totals(t: BinaryMetrics, seconds: number): string {
  return `F1 ${t.f1.toFixed(3)}  FAR ${(t.far * 100).toFixed(2)} %  MAR ${(t.mar * 100).toFixed(2)} %  (TP ${t.tp} FP ${t.fp} FN ${t.fn} TN ${t.tn}; ${seconds.toFixed(1)} s)`;
}

function skippedLine(skipped: readonly string[]): string[] {
  return skipped.length ? [`skipped (no label column): ${skipped.join(', ')}`] : [];
}

export function formatSkabResult(dir: string, r: SkabResult, seconds: number): string[] {
  const width = Math.max(10, ...r.files.map((f) => f.file.length));
  return [
    `SKAB ${dir}: ${r.files.length} files, first ${String(r.settings.trainRows)} rows of each train, the rest test`,
    `settings: ${JSON.stringify(r.settings)}`,
    ...skippedLine(r.skipped),
    '',
    `${'file'.padEnd(width)}  test  anomalous     F1   FAR %   MAR %  threshold`,
    ...r.files.map(
      (f) =>
        `${f.file.padEnd(width)} ${String(f.testRows).padStart(5)} ${String(f.anomalousTestRows).padStart(10)}  ${f.f1.toFixed(3)}  ${pct(f.far)}  ${pct(f.mar)}  ${f.threshold.toPrecision(4)}`,
    ),
    '',
    `total: ${totals(r.total, seconds)}`,
    LEADERBOARD,
  ];
}

export function formatSkabCrossValidation(dir: string, cv: SkabCrossValidation, seconds: number): string[] {
  const width = Math.max(10, ...cv.folds.map((f) => f.key.length));
  return [
    `SKAB ${dir}: leave-one-file-out cross-validation over ${cv.folds.length} files; per fold, the decision (of ${cv.gridSize}) with the best F1 at FAR <= ${(cv.maxFar * 100).toFixed(1)} % on the other files is applied to the file left out`,
    ...cv.variants.map((v) => `${v.name}: ${JSON.stringify(v.settings)}`),
    ...skippedLine(cv.skipped),
    '',
    `${'held out'.padEnd(width)}  F1     FAR %   MAR %  chosen on the others (their F1 / FAR %)`,
    ...cv.folds.map(
      (f) =>
        `${f.key.padEnd(width)}  ${f.heldOut.f1.toFixed(3)}  ${pct(f.heldOut.far)}  ${pct(f.heldOut.mar)}  ${f.variant}, ${describeDecision(f.chosen)} (${f.inner.f1.toFixed(3)} / ${(f.inner.far * 100).toFixed(2)})`,
    ),
    '',
    `out-of-fold total: ${totals(cv.outOfFold, seconds)}`,
    LEADERBOARD,
  ];
}

/** The held-out test rows of every fold, each decided by the setting chosen without its file. */
export function crossValidationRows(cv: SkabCrossValidation): SkabRow[] {
  const rows: SkabRow[] = [];
  for (const f of cv.folds) {
    const oc = f.outcome;
    for (let i = 0; i < oc.predicted.length; i++)
      rows.push({
        file: f.key,
        row: oc.testStart + i,
        score: oc.scores[i]!,
        predicted: oc.predicted[i] as 0 | 1,
        label: oc.labels[i]!,
      });
  }
  return rows;
}
