/**
 * SKAB evaluation, following the benchmark's published protocol (waico/SKAB): for each experiment file, the first
 * 400 rows are the training part and the rest the test part; predictions on the test rows of all files are scored
 * together as binary classification (F1, FAR, MAR) against the `anomaly` column.
 *
 * The detector is the anomaly model of this package, trained per file on its 400 training rows (so normalisation
 * is per file), scoring each test row with the window ending at it (online: only that row and earlier rows), then
 * a trailing mean over `smoothing` row scores; the threshold comes from the same smoothed scores of the training
 * rows by the stated rule. Labels are read only to score the predictions.
 *
 * The data directory is read recursively, so SKAB's own `data/` folder (valve1/, valve2/, other/) works as it is;
 * results are keyed by the path relative to it (`valve1/10.csv`). Files without the label column (SKAB's
 * `anomaly-free/anomaly-free.csv`, which the protocol does not score) are listed as skipped. Scoring (one model per
 * file) and deciding (experiment-threshold.ts) are separate steps, so decision rules can be cross-validated by file
 * on one set of scores.
 */
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { OrtModelRunner } from '../runtime/ort-model-runner.ts';
import { parseManifest } from '../../protocol/manifest.ts';
import { scoreTableRows } from './anomaly-scorer.ts';
import { addConfusion, binaryMetrics } from './binary-metrics.ts';
import type { BinaryMetrics, Confusion } from './binary-metrics.ts';
import { detectSeparator } from './csv-table.ts';
import { crossValidateByFile, decideExperiment, defaultDecisionGrid } from './experiment-threshold.ts';
import type { CrossValidationFold, ExperimentDecision, ScoredExperiment } from './experiment-threshold.ts';
import { listCsvFiles, loadSensorTable, loadSensorTableFiles, sliceTable } from './sensor-table.ts';
import type { ThresholdRule } from './threshold.ts';
import { trainAnomalyModel } from './train-anomaly.ts';
import type { TrainAnomalyOptions } from './train-anomaly.ts';

export const SKAB_TRAIN_ROWS = 400;

/**
 * Defaults: the setting leave-one-file-out cross-validation on SKAB valve1 (development data) chose in 14 of 16
 * folds; see docs/models.md. SKAB's two temperature channels warm up over an experiment, beyond the range its
 * 400-row prefix shows, so a model of them raises false alarms on the normal rows of a new experiment: they are left
 * out where present (`dropSensors: []` keeps them), and a long trailing mean with a tight margin over the prefix
 * maximum decides.
 */
export const SKAB_DEFAULTS = {
  window: 8,
  smoothing: 30,
  threshold: { quantile: 1, margin: 1.25 } satisfies ThresholdRule,
  dropSensors: ['Temperature', 'Thermocouple'],
  epochs: 30,
  batchSize: 64,
  learningRate: 0.01,
  hidden: [32, 8],
} as const;

export interface SkabScoreOptions
  extends Omit<TrainAnomalyOptions, 'onEpoch' | 'name' | 'version' | 'createdAt' | 'smoothing'> {
  /** sensor columns; default all numeric columns except datetime, anomaly, changepoint */
  sensors?: string[];
  /** rows of each file the protocol gives to training; 400 */
  trainRows?: number;
  /**
   * rows of the training prefix the model is fitted on; the rest of the prefix (fitRows..trainRows) calibrates the
   * threshold on scores the model has not seen. Default trainRows: fit and calibrate on the whole prefix.
   */
  fitRows?: number;
  /**
   * sensor columns left out of the detected sensor list; each must exist. Default (no `sensors`, no `dropSensors`):
   * SKAB_DEFAULTS.dropSensors, those of them that exist. `[]` keeps every column.
   */
  dropSensors?: string[];
  labelColumn?: string;
  separator?: string;
  /** called once the files are read, with their count */
  onStart?: (files: number) => void;
  /** called after each file is scored */
  onScored?: (key: string, index: number, total: number) => void;
}

export interface SkabEvalOptions extends SkabScoreOptions {
  /** trailing mean over this many row scores; default 10 */
  smoothing?: number;
  /** called after each file */
  onFile?: (result: SkabFileResult, index: number, total: number) => void;
}

export interface SkabFileResult extends BinaryMetrics {
  /** path relative to the data directory, `/`-separated (`valve1/10.csv`) */
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
  /** files left out: no label column */
  skipped: string[];
  settings: Record<string, unknown>;
}

export interface SkabScoredFile extends ScoredExperiment {
  rows: number;
  finalLoss: number;
  trainMs: number;
}

export interface SkabScores {
  files: SkabScoredFile[];
  skipped: string[];
  settings: Record<string, unknown>;
}

/** Key of a data file: its path relative to the data path, `/`-separated; the file name when the path is the file. */
export function skabKey(dataPath: string, file: string): string {
  const rel = relative(dataPath, file);
  return (rel === '' ? file.split(sep).pop()! : rel).split(sep).join('/');
}

function hasColumn(file: string, column: string, separator: string | undefined): boolean {
  const text = readFileSync(file, 'utf8');
  const nl = text.indexOf('\n');
  const headerLine = (nl < 0 ? text : text.slice(0, nl)).replace(/^\uFEFF/, '').replace(/\r$/, '');
  return headerLine
    .split(separator ?? detectSeparator(headerLine))
    .some((h) => h.trim().replace(/^"|"$/g, '') === column);
}

function sensorsWithout(
  file: string,
  given: string[] | undefined,
  drop: string[],
  opts: { labelColumn: string; separator?: string },
): string[] {
  const all = given ?? loadSensorTable(file, opts).sensors;
  const unknown = drop.filter((d) => !all.includes(d));
  if (unknown.length > 0)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `cannot drop sensor(s) ${unknown.map((u) => `"${u}"`).join(', ')}: not among ${all.join(', ')}`,
    );
  const kept = all.filter((s) => !drop.includes(s));
  if (kept.length === 0) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'dropping those sensors leaves none');
  return kept;
}

/** Step 1: one model per file fitted on its training prefix, and the window score of every row. */
export async function scoreSkab(dataDir: string, opts: SkabScoreOptions = {}): Promise<SkabScores> {
  const {
    sensors: given,
    dropSensors,
    trainRows = SKAB_TRAIN_ROWS,
    fitRows = trainRows,
    labelColumn = 'anomaly',
    separator,
    onStart,
    onScored,
    ...rest
  } = opts;
  if (!Number.isInteger(fitRows) || fitRows < 1 || fitRows > trainRows) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `fitRows must be an integer in 1..trainRows (${trainRows}), got ${fitRows}`,
    );
  }
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
  const all = listCsvFiles(dataDir, { recursive: true });
  const labelled = all.filter((f) => hasColumn(f, labelColumn, separator));
  const skipped = all.filter((f) => !labelled.includes(f)).map((f) => skabKey(dataDir, f));
  if (labelled.length === 0)
    throw new EdgeloopError('EL_ERR_DATA_INVALID', `${dataDir}: no .csv file has the label column "${labelColumn}"`);
  const csvOpts = { labelColumn, ...(separator ? { separator } : {}) };
  const sensors =
    dropSensors !== undefined
      ? sensorsWithout(labelled[0]!, given, dropSensors, csvOpts)
      : (given ??
        loadSensorTable(labelled[0]!, csvOpts).sensors.filter(
          (c) => !(SKAB_DEFAULTS.dropSensors as readonly string[]).includes(c),
        ));
  const tables = loadSensorTableFiles(labelled, {
    labelColumn,
    ...(sensors ? { sensors } : {}),
    ...(separator ? { separator } : {}),
  });
  onStart?.(tables.length);
  const files: SkabScoredFile[] = [];
  for (const [i, table] of tables.entries()) {
    const key = skabKey(dataDir, table.file);
    if (table.rows <= trainRows) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${key}: ${table.rows} rows, the protocol needs more than ${trainRows} (training part) to have a test part`,
      );
    }
    const started = performance.now();
    const trained = await trainAnomalyModel([sliceTable(table, 0, fitRows)], train);
    const trainMs = performance.now() - started;
    const manifest = parseManifest(trained.manifest);
    const runner = await OrtModelRunner.forManifest(trained.onnx, manifest);
    let scores: Float32Array;
    try {
      scores = await scoreTableRows(runner, manifest, table);
    } finally {
      await runner.close();
    }
    files.push({
      key,
      scores,
      labels: table.labels!,
      calibrationStart: fitRows < trainRows ? fitRows : 0,
      testStart: trainRows,
      rows: table.rows,
      finalLoss: trained.losses[trained.losses.length - 1]!,
      trainMs,
    });
    onScored?.(key, i, tables.length);
  }
  return {
    files,
    skipped,
    settings: {
      sensors: tables[0]!.sensors,
      trainRows,
      fitRows,
      window: train.window,
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

/** Step 2: one decision rule applied to every scored file, each calibrated on its own prefix. */
export function decideSkab(
  scored: SkabScores,
  decision: ExperimentDecision,
  onFile?: SkabEvalOptions['onFile'],
): SkabResult {
  const files: SkabFileResult[] = [];
  const rows: SkabRow[] = [];
  let total: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  scored.files.forEach((f, i) => {
    const o = decideExperiment(f, decision);
    let anomalous = 0;
    for (let r = f.testStart; r < f.rows; r++) {
      const label = f.labels[r]!;
      anomalous += label;
      rows.push({
        file: f.key,
        row: r,
        score: o.scores[r - f.testStart]!,
        predicted: o.predicted[r - f.testStart] as 0 | 1,
        label,
      });
    }
    total = addConfusion(total, o.confusion);
    const result: SkabFileResult = {
      file: f.key,
      rows: f.rows,
      testRows: f.rows - f.testStart,
      anomalousTestRows: anomalous,
      threshold: o.threshold,
      finalLoss: f.finalLoss,
      trainMs: f.trainMs,
      ...binaryMetrics(o.confusion),
    };
    files.push(result);
    onFile?.(result, i, scored.files.length);
  });
  return {
    files,
    total: binaryMetrics(total),
    rows,
    skipped: scored.skipped,
    settings: { ...scored.settings, decision },
  };
}

export async function evaluateSkab(dataDir: string, opts: SkabEvalOptions = {}): Promise<SkabResult> {
  const { smoothing = SKAB_DEFAULTS.smoothing, onFile, threshold = SKAB_DEFAULTS.threshold, ...rest } = opts;
  const scored = await scoreSkab(dataDir, { ...rest, threshold });
  const r = decideSkab(scored, { smoothing, rule: { kind: 'quantile', ...threshold } }, onFile);
  return { ...r, settings: { ...r.settings, smoothing, threshold } };
}

export interface SkabCrossValidation {
  folds: CrossValidationFold[];
  outOfFold: BinaryMetrics;
  skipped: string[];
  variants: Array<{ name: string; settings: Record<string, unknown> }>;
  gridSize: number;
  maxFar: number;
}

/** One way of scoring the files in a cross-validation: options over the common ones, and a name for reports. */
export interface SkabVariant {
  name: string;
  options: Partial<SkabScoreOptions>;
}

/**
 * Scoring variants: every combination of the prefix rows to fit on, the std floors (normalization.minRelativeStd)
 * and, with `drop`, the sensor set with every column and without those.
 */
export function skabVariants(o: { fitRows: number[]; floors?: number[]; drop?: string[] }): SkabVariant[] {
  const variants: SkabVariant[] = [];
  for (const fitRows of o.fitRows) {
    for (const floor of o.floors ?? [undefined]) {
      for (const dropped of o.drop ? [undefined, o.drop] : [undefined]) {
        const name = [
          `fit ${fitRows}`,
          ...(floor === undefined ? [] : [`floor ${floor}`]),
          ...(dropped ? [`without ${dropped.join('+')}`] : []),
        ].join(' ');
        const options: Partial<SkabScoreOptions> = { fitRows };
        if (floor !== undefined) options.normalization = { minRelativeStd: floor };
        // the base variant keeps every column, so the choice is between all sensors and all but the dropped ones
        if (o.drop) options.dropSensors = dropped ?? [];
        variants.push({ name, options });
      }
    }
  }
  return variants;
}

/**
 * Leave-one-file-out cross-validation of the decision rule: the files are scored once per variant (a full training
 * pass each), then for every file a (variant, decision) pair is chosen on the other files and applied to it.
 */
export async function crossValidateSkab(
  dataDir: string,
  opts: SkabScoreOptions & { variants?: SkabVariant[]; grid?: ExperimentDecision[]; maxFar?: number } = {},
): Promise<SkabCrossValidation> {
  const {
    variants: wanted = [{ name: 'default', options: {} }],
    grid = defaultDecisionGrid(),
    maxFar = 0.15,
    ...scoreOpts
  } = opts;
  const variants: Array<{ name: string; scores: SkabScores }> = [];
  for (const v of wanted)
    variants.push({ name: v.name, scores: await scoreSkab(dataDir, { ...scoreOpts, ...v.options }) });
  const cv = crossValidateByFile(
    variants.map((v) => ({ name: v.name, experiments: v.scores.files })),
    grid,
    { maxFar },
  );
  return {
    ...cv,
    skipped: variants[0]!.scores.skipped,
    variants: variants.map((v) => ({ name: v.name, settings: v.scores.settings })),
    gridSize: grid.length * variants.length,
    maxFar,
  };
}
