/**
 * SKAB evaluation, following the benchmark's published protocol (waico/SKAB): for each experiment file, the first
 * 400 rows are the training part and the rest the test part; predictions on the test rows of all files are scored
 * together as binary classification (F1, FAR, MAR) against the `anomaly` column.
 *
 * The detector is the anomaly model of this package, trained per file on its 400 training rows (so normalisation
 * is per file), scoring each test row with the window ending at it (online: only that row and earlier rows), then
 * a trailing mean over `smoothing` row scores; the threshold comes from the same smoothed scores of the training
 * rows by the stated rule. Labels are read only to score the predictions.
 */
import { basename } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { OrtModelRunner } from '../runtime/ort-model-runner.ts';
import { parseManifest } from '../../protocol/manifest.ts';
import { scoreTableRows } from './anomaly-scorer.ts';
import { addConfusion, binaryMetrics, confusion } from './binary-metrics.ts';
import type { BinaryMetrics, Confusion } from './binary-metrics.ts';
import { loadSensorTables, sliceTable } from './sensor-table.ts';
import { calibrateThreshold, smoothScores } from './threshold.ts';
import type { ThresholdRule } from './threshold.ts';
import { trainAnomalyModel } from './train-anomaly.ts';
import type { TrainAnomalyOptions } from './train-anomaly.ts';

export const SKAB_TRAIN_ROWS = 400;

/** Defaults tuned on SKAB valve1 (development data); see docs/models.md for the experiments. */
export const SKAB_DEFAULTS = {
  window: 8,
  smoothing: 10,
  threshold: { quantile: 1, margin: 1.5 } satisfies ThresholdRule,
  epochs: 30,
  batchSize: 64,
  learningRate: 0.01,
  hidden: [32, 8],
} as const;

export interface SkabEvalOptions extends Omit<TrainAnomalyOptions, 'onEpoch' | 'name' | 'version' | 'createdAt'> {
  /** sensor columns; default all numeric columns except datetime, anomaly, changepoint */
  sensors?: string[];
  /** rows of each file used for training; the protocol's 400 */
  trainRows?: number;
  /** trailing mean over this many row scores; default 10 */
  smoothing?: number;
  labelColumn?: string;
  separator?: string;
  /** called once the files are read, with their count */
  onStart?: (files: number) => void;
  /** called after each file */
  onFile?: (result: SkabFileResult, index: number, total: number) => void;
}

export interface SkabFileResult extends BinaryMetrics {
  file: string;
  rows: number;
  testRows: number;
  anomalousTestRows: number;
  threshold: number;
  finalLoss: number;
  trainMs: number;
}

export interface SkabRow {
  file: string;
  row: number;
  score: number;
  predicted: 0 | 1;
  label: number;
}

export interface SkabResult {
  files: SkabFileResult[];
  total: BinaryMetrics;
  rows: SkabRow[];
  settings: Record<string, unknown>;
}

export async function evaluateSkab(dataDir: string, opts: SkabEvalOptions = {}): Promise<SkabResult> {
  const { sensors, trainRows = SKAB_TRAIN_ROWS, smoothing = SKAB_DEFAULTS.smoothing, labelColumn = 'anomaly', separator, onStart, onFile, ...rest } = opts;
  const train: TrainAnomalyOptions = {
    window: SKAB_DEFAULTS.window,
    epochs: SKAB_DEFAULTS.epochs,
    batchSize: SKAB_DEFAULTS.batchSize,
    learningRate: SKAB_DEFAULTS.learningRate,
    hidden: [...SKAB_DEFAULTS.hidden],
    threshold: SKAB_DEFAULTS.threshold,
    ...rest,
    createdAt: '1970-01-01T00:00:00.000Z',
  };
  const rule = train.threshold!;
  const tables = loadSensorTables(dataDir, {
    labelColumn,
    ...(sensors ? { sensors } : {}),
    ...(separator ? { separator } : {}),
  });
  onStart?.(tables.length);
  const files: SkabFileResult[] = [];
  const rows: SkabRow[] = [];
  let total: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const [i, table] of tables.entries()) {
    if (table.rows <= trainRows) {
      throw new EdgeloopError('EL_ERR_DATA_INVALID', `${table.file}: ${table.rows} rows, the protocol needs more than ${trainRows} (training part) to have a test part`);
    }
    const started = performance.now();
    const trained = await trainAnomalyModel([sliceTable(table, 0, trainRows)], train);
    const trainMs = performance.now() - started;
    const manifest = parseManifest(trained.manifest);
    const runner = await OrtModelRunner.forManifest(trained.onnx, manifest);
    let scores: Float64Array;
    try {
      scores = smoothScores(await scoreTableRows(runner, manifest, table), smoothing);
    } finally {
      await runner.close();
    }
    const threshold = calibrateThreshold(scores.subarray(0, trainRows), rule);
    const labels = table.labels!.subarray(trainRows);
    const predicted = new Uint8Array(table.rows - trainRows);
    for (let r = trainRows; r < table.rows; r++) {
      const p: 0 | 1 = scores[r]! > threshold ? 1 : 0;
      predicted[r - trainRows] = p;
      rows.push({ file: basename(table.file), row: r, score: scores[r]!, predicted: p, label: table.labels![r]! });
    }
    const c = confusion(predicted, labels);
    total = addConfusion(total, c);
    const result: SkabFileResult = {
      file: basename(table.file),
      rows: table.rows,
      testRows: table.rows - trainRows,
      anomalousTestRows: labels.reduce((a, v) => a + v, 0),
      threshold,
      finalLoss: trained.losses[trained.losses.length - 1]!,
      trainMs,
      ...binaryMetrics(c),
    };
    files.push(result);
    onFile?.(result, i, tables.length);
  }
  return {
    files,
    total: binaryMetrics(total),
    rows,
    settings: {
      sensors: tables[0]!.sensors,
      trainRows,
      window: train.window,
      smoothing,
      threshold: rule,
      epochs: train.epochs,
      batchSize: train.batchSize,
      learningRate: train.learningRate,
      hidden: train.hidden,
      activation: train.activation ?? 'tanh',
      minRelativeStd: train.normalization?.minRelativeStd ?? 0.01,
      seed: train.seed ?? 1,
    },
  };
}
