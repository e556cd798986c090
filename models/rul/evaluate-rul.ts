/**
 * The C-MAPSS evaluation protocol: predict at the last cycle of each test unit and score against the true RUL
 * with RMSE, the NASA score and the coverage of the p10–p90 interval. Two ways to get test units:
 * - `evaluateOnTest`: train on the whole training file, score the standard test file + RUL file;
 * - `crossValidate`: k-fold by whole units of the training file; each held-out unit is cut at a seeded random
 *   cycle (cmapss-data.ts truncateUnits) and scored at the cut, so every figure is out-of-fold.
 * No file I/O here.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import {
  intervalCoverage,
  lastWindows,
  nasaScore,
  rmse,
  sensorIndexes,
  truncateUnits,
  unitFolds,
} from './cmapss-data.ts';
import type { CmapssUnit, TruncateOptions } from './cmapss-data.ts';
import { trainRul } from './train-rul.ts';
import type { TrainRulOptions, TrainedRul } from './train-rul.ts';

export interface UnitPrediction {
  unit: number;
  /** fold the unit was held out in (cross-validation); 0 on a test file */
  fold: number;
  /** cycles seen (the cut) */
  cycles: number;
  trueRul: number;
  rul: number;
  p10: number;
  p90: number;
}

export interface RulScores {
  units: number;
  rmse: number;
  nasaScore: number;
  /** share of units whose true RUL is inside [p10, p90] */
  coverage: number;
  /** mean p90 - p10, cycles */
  meanIntervalWidth: number;
}

export interface RulEvaluation {
  predictions: UnitPrediction[];
  scores: RulScores;
}

/** Predictions at the last cycle of each unit; `trueRul[i]` belongs to `units[i]`. */
export function predictUnits(
  model: TrainedRul,
  units: readonly CmapssUnit[],
  trueRul: readonly number[],
  fold = 0,
): UnitPrediction[] {
  if (units.length !== trueRul.length) {
    throw new EdgeloopError(
      'EL_ERR_RUL_DATA',
      `${units.length} test units but ${trueRul.length} RUL values: the RUL file needs one line per test unit, in order`,
    );
  }
  const o = model.options;
  const out = model.predict(lastWindows(units, o.window, sensorIndexes(o.sensors)), units.length);
  return units.map((u, i) => {
    const a = out[i * 3]!;
    const b = out[i * 3 + 1]!;
    const c = out[i * 3 + 2]!;
    // the quantile heads are trained apart and may cross on rare inputs: report an ordered interval
    return {
      unit: u.unit,
      fold,
      cycles: u.length,
      trueRul: trueRul[i]!,
      rul: a,
      p10: Math.min(b, c),
      p90: Math.max(b, c),
    };
  });
}

export function scorePredictions(p: readonly UnitPrediction[]): RulScores {
  const pred = p.map((x) => x.rul);
  const truth = p.map((x) => x.trueRul);
  return {
    units: p.length,
    rmse: rmse(pred, truth),
    nasaScore: nasaScore(pred, truth),
    coverage: intervalCoverage(
      p.map((x) => x.p10),
      p.map((x) => x.p90),
      truth,
    ),
    meanIntervalWidth: p.reduce((s, x) => s + x.p90 - x.p10, 0) / p.length,
  };
}

export async function evaluateOnTest(
  train: readonly CmapssUnit[],
  test: readonly CmapssUnit[],
  trueRul: readonly number[],
  opts: TrainRulOptions = {},
): Promise<RulEvaluation> {
  if (test.length !== trueRul.length) {
    throw new EdgeloopError(
      'EL_ERR_RUL_DATA',
      `${test.length} test units but ${trueRul.length} RUL values: the RUL file needs one line per test unit, in order`,
    );
  }
  const model = await trainRul(train, opts);
  try {
    const predictions = predictUnits(model, test, trueRul);
    return { predictions, scores: scorePredictions(predictions) };
  } finally {
    model.dispose();
  }
}

export interface CrossValidateOptions {
  /** number of folds by unit; default 5 */
  folds?: number;
  /** seed of the fold assignment and of the cuts; default 1 */
  splitSeed?: number;
  /** how held-out units are cut (seed taken from splitSeed) */
  truncate?: Omit<TruncateOptions, 'seed'>;
  training?: TrainRulOptions;
  onFold?: (fold: number, folds: number) => void;
}

export async function crossValidate(
  units: readonly CmapssUnit[],
  opts: CrossValidateOptions = {},
): Promise<RulEvaluation> {
  const k = opts.folds ?? 5;
  const seed = opts.splitSeed ?? 1;
  const fold = unitFolds(units.length, k, seed);
  // the cuts are drawn once for all units (independent of the fold count), so figures for different k compare
  // the cuts are the protocol, not the model: they keep 30 cycles (the FD001 test file's shortest unit has 31)
  // whatever the window; a longer window is padded at the front for short units
  const cut = truncateUnits(units, { minCycles: 30, ...opts.truncate, seed: seed + 7919 });
  const predictions: UnitPrediction[] = [];
  for (let f = 0; f < k; f++) {
    opts.onFold?.(f, k);
    const train = units.filter((_, i) => fold[i] !== f);
    const held = units.map((_, i) => i).filter((i) => fold[i] === f);
    const model = await trainRul(train, opts.training ?? {});
    try {
      predictions.push(
        ...predictUnits(
          model,
          held.map((i) => cut.units[i]!),
          held.map((i) => cut.rul[i]!),
          f,
        ),
      );
    } finally {
      model.dispose();
    }
  }
  predictions.sort((a, b) => a.unit - b.unit);
  return { predictions, scores: scorePredictions(predictions) };
}

/** CSV of the per-unit predictions: unit,predicted_rul,p10,p90,true_rul,cycles,fold. */
export function predictionsCsv(p: readonly UnitPrediction[]): string {
  const r = (x: number): string => String(Math.round(x * 100) / 100);
  return (
    [
      'unit,predicted_rul,p10,p90,true_rul,cycles,fold',
      ...p.map((x) => `${x.unit},${r(x.rul)},${r(x.p10)},${r(x.p90)},${x.trueRul},${x.cycles},${x.fold}`),
    ].join('\n') + '\n'
  );
}
