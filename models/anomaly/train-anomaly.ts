/**
 * Train a window autoencoder anomaly model on normal data and package it: ONNX (normalisation folded, MSE head,
 * so the output is the anomaly score) plus an unsigned manifest with the calibrated threshold and a test vector.
 *
 * Steps: per-sensor normalisation fitted on all training rows → windows (never across files) → autoencoder
 * trained on normalised windows (seeded) → ONNX export → training windows scored by ONNX Runtime (the deployed
 * graph, so the threshold matches what devices compute) → threshold = quantile × margin.
 */
import { manifestHead } from '../manifest/export-steps.ts';
import { basename } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { ManifestInput } from '../../protocol/manifest.ts';
import { exportTfjsToOnnx } from '../onnx/export-tfjs.ts';
import { OrtModelRunner } from '../runtime/ort-model-runner.ts';
import { loadTf } from '../training/load-tf.ts';
import type { Tf } from '../training/load-tf.ts';
import { buildAutoencoder, trainAutoencoder } from './autoencoder.ts';
import type { AutoencoderActivation } from './autoencoder.ts';
import { scoreWindows } from './anomaly-scorer.ts';
import type { SensorTable } from './sensor-table.ts';
import {
  calibrateThreshold,
  checkRule,
  describeRule,
  quantile,
  smoothScores,
  DEFAULT_THRESHOLD_RULE,
} from './threshold.ts';
import type { ThresholdRule } from './threshold.ts';
import { buildWindows, fitNormalization, normalizeWindows } from './windows.ts';
import type { FitNormalizationOptions, Normalization } from './windows.ts';

export interface TrainAnomalyOptions {
  /** rows per window; default 16 */
  window?: number;
  /** rows between training windows; default 1 (scoring always uses every row) */
  stride?: number;
  /** default 60 */
  epochs?: number;
  /** default 32 */
  batchSize?: number;
  /** Adam learning rate; default 0.003 */
  learningRate?: number;
  /** seeds the initialisers and the shuffling; default 1 */
  seed?: number;
  /** encoder sizes (last = bottleneck); default [32, 8] */
  hidden?: number[];
  /** default 'tanh' */
  activation?: AutoencoderActivation;
  /** default quantile 0.99 × margin 1.5 */
  threshold?: ThresholdRule;
  /**
   * trailing mean over this many window scores before the threshold (default 1 = none). The threshold is then
   * calibrated on the smoothed training scores (per file) and the manifest's `decision.smoothing` tells devices.
   */
  smoothing?: number;
  normalization?: FitNormalizationOptions;
  /** manifest name; default "anomaly" */
  name?: string;
  /** manifest version; default "1.0.0" */
  version?: string;
  /** manifest createdAt (ISO 8601); default now. Pass a fixed value for a reproducible manifest. */
  createdAt?: string;
  /** ONNX opset; default 13 */
  opset?: number;
  /** manifest latencyBudgetMs (p95 per window on the device) */
  latencyBudgetMs?: number;
  /** called after each epoch */
  onEpoch?: (epoch: number, loss: number) => void;
  /** TensorFlow.js to use; default loadTf() (CPU backend) */
  tf?: Tf;
}

export interface TrainedAnomalyModel {
  onnx: Uint8Array;
  /** unsigned manifest; sign it with signManifest() */
  manifest: ManifestInput;
  /** ONNX score of every training window (smoothed per file when `smoothing` > 1: what the threshold saw) */
  trainingScores: Float32Array;
  /** mean loss per epoch */
  losses: number[];
  normalization: Normalization;
  threshold: number;
}

const OPTION_KEYS = new Set([
  'window',
  'stride',
  'epochs',
  'batchSize',
  'learningRate',
  'seed',
  'hidden',
  'activation',
  'threshold',
  'smoothing',
  'normalization',
  'name',
  'version',
  'createdAt',
  'opset',
  'latencyBudgetMs',
  'onEpoch',
  'tf',
]);

export async function trainAnomalyModel(
  tables: SensorTable[],
  opts: TrainAnomalyOptions = {},
): Promise<TrainedAnomalyModel> {
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.has(k)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `unknown training option "${k}"`);
  }
  if (tables.length === 0) throw new EdgeloopError('EL_ERR_DATA_INVALID', 'no training data');
  const length = opts.window ?? 16;
  const stride = opts.stride ?? 1;
  const seed = opts.seed ?? 1;
  const epochs = opts.epochs ?? 60;
  const batchSize = opts.batchSize ?? 32;
  const learningRate = opts.learningRate ?? 3e-3;
  const hidden = opts.hidden ?? [32, 8];
  const activation = opts.activation ?? 'tanh';
  const rule = opts.threshold ?? DEFAULT_THRESHOLD_RULE;
  checkRule(rule);
  const smoothing = opts.smoothing ?? 1;
  if (!Number.isInteger(smoothing) || smoothing < 1 || smoothing > 10_000) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `smoothing must be an integer in 1..10000, got ${smoothing}`);
  }
  const sensors = tables[0]!.sensors;
  for (const t of tables) {
    if (t.sensors.length !== sensors.length || t.sensors.some((s, i) => s !== sensors[i])) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${t.file}: sensors [${t.sensors.join(', ')}] differ from [${sensors.join(', ')}] of ${tables[0]!.file}`,
      );
    }
  }
  const norm = fitNormalization(tables, sensors.length, opts.normalization);
  const parts = tables.map((t) => buildWindows(t.values, t.rows, sensors.length, length, stride, t.file));
  const width = length * sensors.length;
  const count = parts.reduce((a, p) => a + p.count, 0);
  const raw = new Float32Array(count * width);
  let off = 0;
  for (const p of parts) {
    raw.set(p.data, off);
    off += p.data.length;
  }

  const tfjs = opts.tf ?? (await loadTf());
  const model = buildAutoencoder(tfjs, width, { hidden, activation, seed });
  let onnx: Uint8Array;
  let losses: number[];
  try {
    losses = await trainAutoencoder(tfjs, model, normalizeWindows(raw, norm), count, width, {
      epochs,
      batchSize,
      learningRate,
      seed,
      ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
    });
    onnx = exportTfjsToOnnx(model, {
      normalization: norm,
      head: 'reconstruction-mse',
      inputName: 'window',
      outputName: 'score',
      opset: opts.opset ?? 13,
      graphName: opts.name ?? 'anomaly',
      metadata: { 'edgeloop.sensors': sensors.join(','), 'edgeloop.window': String(length) },
    });
  } finally {
    model.dispose();
  }

  const runner = await OrtModelRunner.create({ model: onnx, inputName: 'window', outputName: 'score' });
  let trainingScores: Float32Array;
  let tvInput: number[][];
  let tvExpected: number[][];
  try {
    if (smoothing > 1) {
      // devices average the last `smoothing` windows of consecutive rows: calibrate on exactly that, per file (a
      // trailing mean never reaches across two recordings), with every row's window whatever the training stride
      const scored: Float32Array[] = [];
      for (const [i, t] of tables.entries()) {
        const all = stride === 1 ? parts[i]! : buildWindows(t.values, t.rows, sensors.length, length, 1, t.file);
        scored.push(Float32Array.from(smoothScores(await scoreWindows(runner, all.data, all.count, width), smoothing)));
      }
      trainingScores = new Float32Array(scored.reduce((a, x) => a + x.length, 0));
      let at = 0;
      for (const x of scored) {
        trainingScores.set(x, at);
        at += x.length;
      }
    } else {
      trainingScores = await scoreWindows(runner, raw, count, width);
    }
    const picks = [...new Set([0, Math.floor(count / 3), Math.floor((2 * count) / 3), count - 1])];
    tvInput = picks.map((i) => Array.from(raw.subarray(i * width, (i + 1) * width)));
    // one window far outside the training data, so the test vector also covers a high score
    tvInput.push(tvInput[0]!.map((v, k) => v + 4 * norm.std[k % sensors.length]!));
    const tvOut = await runner.run(Float32Array.from(tvInput.flat()), tvInput.length);
    tvExpected = Array.from({ length: tvInput.length }, (_, i) => [tvOut.data[i]!]);
  } finally {
    await runner.close();
  }
  const threshold = Math.fround(calibrateThreshold(trainingScores, rule));

  const manifest: ManifestInput = {
    ...manifestHead(opts, { name: 'anomaly', kind: 'anomaly' }, onnx),
    inputs: {
      kind: 'window',
      name: 'window',
      sensors: [...sensors],
      window: { length, stride: 1 },
      normalization: { mean: norm.mean, std: norm.std, folded: true },
    },
    output: { name: 'score', kind: 'reconstruction-error' },
    threshold,
    thresholdRule: describeRule(rule, smoothing),
    ...(smoothing > 1 ? { decision: { smoothing } } : {}),
    testVector: { input: tvInput, expected: tvExpected, tolerance: 1e-4 },
    ...(opts.latencyBudgetMs !== undefined ? { latencyBudgetMs: opts.latencyBudgetMs } : {}),
    training: {
      model: `dense autoencoder ${width}-${[...hidden, ...hidden.slice(0, -1).reverse()].join('-')}-${width} (${activation})`,
      files: tables.map((t) => basename(t.file)),
      rows: tables.reduce((a, t) => a + t.rows, 0),
      windows: count,
      trainingStride: stride,
      seed,
      epochs,
      batchSize,
      learningRate,
      finalLoss: losses[losses.length - 1],
      normalization: {
        minRelativeStd: opts.normalization?.minRelativeStd ?? 0.01,
        minStd: opts.normalization?.minStd ?? 1e-6,
      },
    },
    metrics: {
      trainingScore: {
        p50: Math.fround(quantile(trainingScores, 0.5)),
        p99: Math.fround(quantile(trainingScores, 0.99)),
        max: Math.fround(quantile(trainingScores, 1)),
      },
      trainingFlagRate: trainingScores.reduce((a, s) => a + (s > threshold ? 1 : 0), 0) / trainingScores.length,
    },
  };
  return { onnx, manifest, trainingScores, losses, normalization: norm, threshold };
}
