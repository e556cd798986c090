/**
 * Training of the AI4I maintenance recommender with TensorFlow.js: a small multi-label network (sigmoid outputs,
 * one per failure mode, plus one for the dataset's own "Machine failure" label) on the raw + engineered features
 * (features.ts), z-score normalised (the bounded region
 * features as they are), with an L2 penalty on the hidden kernels and a class-weighted
 * binary cross-entropy for the rare modes. Per-mode decision thresholds are tuned for F1 on a validation split (by
 * UDI hash, never the test data) and then folded into the output layer's bias, so the trained model's outputs
 * cross 0.5 exactly where each mode's tuned threshold lies.
 *
 * Deterministic: same data, options and seed → same weights (seeded initialisers, seeded shuffles, CPU backend).
 */
import type * as TF from '@tensorflow/tfjs';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Prng } from '../../lib/prng.ts';
import { loadTf } from '../training/load-tf.ts';
import type { Tf } from '../training/load-tf.ts';
import { FAILURE_MODES, VALIDATION_SALT, splitByUdi } from './ai4i-data.ts';
import type { Ai4iData, FailureMode } from './ai4i-data.ts';
import { DERIVED_FEATURES, MODEL_FEATURES, RAW_FEATURES, engineerFeatures } from './features.ts';
import { evaluate, logit, tuneThreshold } from './metrics.ts';
import type { EvalReport } from './metrics.ts';

/**
 * Output columns [from, to) of the modes that always mean a machine failure in the data: HDF, PWF, OSF (exact rules
 * of the inputs, and every row with one of them has Machine failure = 1). The failure output is the larger of its
 * own head and these, so it never misses a failure the exact modes find.
 */
export const FAILURE_IMPLYING_MODES: readonly [number, number] = [
  FAILURE_MODES.indexOf('HDF'),
  FAILURE_MODES.indexOf('OSF') + 1,
];

export interface TrainRecommenderOptions {
  /** passes over the training rows; default 150 */
  epochs?: number;
  /** seed of initialisers and shuffles; default 1 */
  seed?: number;
  /** rows per gradient step; default 128 */
  batchSize?: number;
  /** Adam learning rate; default 0.005 */
  learningRate?: number;
  /** hidden layer widths (relu); default [32, 32] */
  hidden?: number[];
  /** part of the training rows (by UDI hash) used to tune the per-mode thresholds; default 0.25 */
  validationFraction?: number;
  /** positive-class weight per mode is sqrt(negatives / positives), capped here; default 3 */
  maxPositiveWeight?: number;
  /**
   * input gain: features are normalised as (x - mean) / (std / inputGain), and the bounded region features
   * (features.ts) as x * inputGain; default 1 (the region features carry the sharp rule boundaries)
   */
  inputGain?: number;
  /** a mode whose best validation F1 is below this is not predicted (threshold above all scores); default 0.2 */
  minUsefulF1?: number;
  /**
   * per-mode override of minUsefulF1; default { TWF: 0.05 }: tool wear failures happen at a random wear time in
   * 200-240 min, so the best a model can do is flag that window (F1 about 0.1), which is still worth a warning
   */
  minUsefulF1ByMode?: Partial<Record<FailureMode, number>>;
  /** L2 penalty on the hidden layers' kernels (prefers the simple rule-like solutions over memorising); default 1e-3 */
  l2?: number;
  /** called after every epoch */
  onEpoch?: (epoch: number, loss: number) => void;
}

const DEFAULTS = {
  epochs: 150,
  seed: 1,
  batchSize: 128,
  learningRate: 0.005,
  hidden: [32, 32],
  validationFraction: 0.25,
  maxPositiveWeight: 3,
  minUsefulF1: 0.2,
  minUsefulF1ByMode: { TWF: 0.05 } as Partial<Record<FailureMode, number>>,
  inputGain: 1,
  l2: 1e-3,
};
const OPTION_KEYS = new Set([...Object.keys(DEFAULTS), 'onEpoch']);

export interface TrainedRecommender {
  tf: Tf;
  /** input: normalised engineered features [batch, MODEL_FEATURES.length]; output [batch, 5], 0.5 = decision */
  model: TF.Sequential;
  /** normalisation of the engineered features (MODEL_FEATURES order) */
  normalization: { mean: number[]; std: number[] };
  /** mean / std of the raw features (RAW_FEATURES order), for the manifest */
  rawStats: { mean: number[]; std: number[] };
  /** tuned probability threshold per mode (FAILURE_MODES order), before folding */
  thresholds: number[];
  /** tuned threshold of the machine failure output, before folding */
  failureThreshold: number;
  /** positive-class weight per mode used in the loss */
  positiveWeights: number[];
  /** positive-class weight of the machine failure output */
  failurePositiveWeight: number;
  validation: EvalReport;
  options: Required<Omit<TrainRecommenderOptions, 'onEpoch'>>;
  trainRows: number;
  validationRows: number;
  finalLoss: number;
  /** mode probabilities (threshold-folded) for raw rows [rows, RAW_FEATURES.length] → [rows, 5] */
  predict(raw: Float32Array, rows: number): Float32Array;
  /** machine failure probability (threshold-folded, 0.5 = decision) for raw rows → [rows] */
  predictFailure(raw: Float32Array, rows: number): Float32Array;
  dispose(): void;
}

export async function trainRecommender(
  data: Ai4iData,
  opts: TrainRecommenderOptions = {},
): Promise<TrainedRecommender> {
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.has(k))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `unknown training option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`,
      );
  }
  const o = {
    epochs: opts.epochs ?? DEFAULTS.epochs,
    seed: opts.seed ?? DEFAULTS.seed,
    batchSize: opts.batchSize ?? DEFAULTS.batchSize,
    learningRate: opts.learningRate ?? DEFAULTS.learningRate,
    hidden: opts.hidden ?? DEFAULTS.hidden,
    validationFraction: opts.validationFraction ?? DEFAULTS.validationFraction,
    maxPositiveWeight: opts.maxPositiveWeight ?? DEFAULTS.maxPositiveWeight,
    minUsefulF1: opts.minUsefulF1 ?? DEFAULTS.minUsefulF1,
    minUsefulF1ByMode: opts.minUsefulF1ByMode ?? DEFAULTS.minUsefulF1ByMode,
    inputGain: opts.inputGain ?? DEFAULTS.inputGain,
    l2: opts.l2 ?? DEFAULTS.l2,
  };
  if (!(o.l2 >= 0)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `l2 must be >= 0, got ${o.l2}`);
  for (const [mode, v] of Object.entries(o.minUsefulF1ByMode)) {
    if (!(FAILURE_MODES as readonly string[]).includes(mode)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `minUsefulF1ByMode: unknown mode "${mode}" (known: ${FAILURE_MODES.join(', ')})`,
      );
    }
    if (!(typeof v === 'number' && v >= 0 && v <= 1))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `minUsefulF1ByMode.${mode} must be in [0, 1], got ${v}`);
  }
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${name} must be an integer >= 1, got ${v}`);
  };
  posInt(o.epochs, 'epochs');
  posInt(o.batchSize, 'batchSize');
  o.hidden.forEach((h, i) => posInt(h, `hidden[${i}]`));
  if (!Number.isInteger(o.seed))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `seed must be an integer, got ${o.seed}`);
  if (!(o.learningRate > 0))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.validationFraction > 0 && o.validationFraction < 1)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `validationFraction must be in (0, 1), got ${o.validationFraction}`,
    );
  }
  if (!(o.maxPositiveWeight >= 1))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `maxPositiveWeight must be >= 1, got ${o.maxPositiveWeight}`);

  const { kept: train, held: val } = splitByUdi(data, o.validationFraction, VALIDATION_SALT);
  const k = FAILURE_MODES.length;
  if (train.rows < 20 || val.rows < 5) {
    throw new EdgeloopError(
      'EL_ERR_DATA_INVALID',
      `too few rows to train (${train.rows} training, ${val.rows} validation after the ${o.validationFraction} validation split)`,
    );
  }
  // network outputs: the five modes, then machine failure (its own label: a failure may have no mode flagged,
  // and a mode such as RNF may be flagged without a machine failure)
  const outputs = k + 1;
  const yTrain = withFailureColumn(train);
  const yVal = withFailureColumn(val);
  const positives = Array.from({ length: outputs }, (_, j) => {
    let s = 0;
    for (let i = 0; i < train.rows; i++) s += yTrain[i * outputs + j]!;
    return s;
  });
  if (positives.slice(0, k).every((p) => p === 0))
    throw new EdgeloopError('EL_ERR_DATA_INVALID', 'the training rows contain no failure of any mode');
  const allWeights = positives.map((p) =>
    p === 0 ? 1 : Math.min(o.maxPositiveWeight, Math.max(1, Math.sqrt((train.rows - p) / p))),
  );
  const positiveWeights = allWeights.slice(0, k);

  const m = MODEL_FEATURES.length;
  const xTrain = engineerFeatures(train.raw, train.rows);
  const xVal = engineerFeatures(val.raw, val.rows);
  if (!(o.inputGain > 0))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `inputGain must be > 0, got ${o.inputGain}`);
  const stats = columnStats(xTrain, train.rows, m);
  // z-score with gain, except the bounded [-1, 1] region features, which are only scaled by the gain
  const bounded = MODEL_FEATURES.map((name) => DERIVED_FEATURES.some((d) => d.name === name && d.bounded === true));
  const normalization = {
    mean: stats.mean.map((v, j) => (bounded[j] ? 0 : v)),
    std: stats.std.map((s, j) => Math.fround((bounded[j] ? 1 : s) / o.inputGain)),
  };
  const rawStats = columnStats(train.raw, train.rows, RAW_FEATURES.length);

  const tf = await loadTf('cpu');
  const meanT = tf.tensor1d(normalization.mean, 'float32');
  const stdT = tf.tensor1d(normalization.std, 'float32');
  const norm = (x: Float32Array, rows: number): TF.Tensor2D =>
    tf.tidy(() => tf.div(tf.sub(tf.tensor2d(x, [rows, m]), meanT), stdT) as TF.Tensor2D);

  const model = tf.sequential({ name: 'ai4i_recommender' });
  let seed = o.seed;
  o.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
        ...(o.l2 > 0 ? { kernelRegularizer: tf.regularizers.l2({ l2: o.l2 }) } : {}),
        ...(i === 0 ? { inputShape: [m] } : {}),
        name: `hidden_${i}`,
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: outputs,
      activation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
      name: 'modes',
    }),
  );
  const w = tf.tensor1d(allWeights, 'float32');
  const loss = (yTrue: TF.Tensor, yPred: TF.Tensor): TF.Tensor =>
    tf.tidy(() => {
      const p = tf.clipByValue(yPred, 1e-7, 1 - 1e-7);
      const pos = tf.mul(tf.mul(yTrue, tf.log(p)), w);
      const neg = tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p)));
      return tf.neg(tf.mean(tf.add(pos, neg)));
    });
  model.compile({ optimizer: tf.train.adam(o.learningRate), loss });

  const xTrainT = norm(xTrain, train.rows);
  const yTrainT = tf.tensor2d(yTrain, [train.rows, outputs]);
  const prng = new Prng(o.seed);
  const order = Int32Array.from({ length: train.rows }, (_, i) => i);
  let finalLoss = NaN;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      prng.shuffle(order);
      const idx = tf.tensor1d(order, 'int32');
      const xs = tf.gather(xTrainT, idx);
      const ys = tf.gather(yTrainT, idx);
      idx.dispose();
      let sum = 0;
      let batches = 0;
      for (let start = 0; start < train.rows; start += o.batchSize) {
        const size = Math.min(o.batchSize, train.rows - start);
        const xb = xs.slice([start, 0], [size, m]);
        const yb = ys.slice([start, 0], [size, outputs]);
        const l = (await model.trainOnBatch(xb, yb)) as number;
        xb.dispose();
        yb.dispose();
        sum += l;
        batches++;
      }
      xs.dispose();
      ys.dispose();
      finalLoss = sum / batches;
      if (!Number.isFinite(finalLoss)) {
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `training diverged at epoch ${epoch} (loss ${finalLoss}); check the data or lower the learning rate`,
        );
      }
      opts.onEpoch?.(epoch, finalLoss);
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    xTrainT.dispose();
    yTrainT.dispose();
    w.dispose();
  }

  const rawPredict = (x: Float32Array, rows: number): Float32Array =>
    tf.tidy(() => (model.predict(norm(x, rows)) as TF.Tensor).dataSync() as Float32Array).slice();

  // Tune thresholds on validation, then fold them into the output bias: sigmoid(z - logit(t)) >= 0.5 <=> p >= t.
  const pVal = rawPredict(xVal, val.rows);
  // A mode whose best validation F1 stays below minUsefulF1 (RNF: random by construction) is switched off: its
  // threshold goes above every validation score, so it is only predicted on rows more extreme than any seen.
  const allThresholds = Array.from({ length: outputs }, (_, j) => {
    const t = tuneThreshold(pVal, yVal, val.rows, outputs, j);
    const mode = FAILURE_MODES[j];
    if (t.f1 >= ((mode && o.minUsefulF1ByMode[mode]) ?? o.minUsefulF1)) return t.threshold;
    let max = 0;
    for (let i = 0; i < val.rows; i++) max = Math.max(max, pVal[i * outputs + j]!);
    return Math.min(1 - 1e-6, max + (1 - max) / 2);
  });
  const thresholds = allThresholds.slice(0, k);
  const out = model.getLayer('modes');
  const [kernel, bias] = out.getWeights();
  const b = bias!.dataSync();
  const shifted = tf.tensor1d(
    Array.from(b, (v, j) => v - logit(allThresholds[j]!)),
    'float32',
  );
  out.setWeights([kernel!, shifted]);
  shifted.dispose();
  const modesOf = (all: Float32Array, rows: number): Float32Array => {
    const modes = new Float32Array(rows * k);
    for (let i = 0; i < rows; i++) modes.set(all.subarray(i * outputs, i * outputs + k), i * k);
    return modes;
  };
  const [i0, i1] = FAILURE_IMPLYING_MODES;
  const failureOf = (all: Float32Array, rows: number): Float32Array =>
    Float32Array.from({ length: rows }, (_, i) => {
      let p = all[i * outputs + k]!;
      for (let j = i0; j < i1; j++) p = Math.max(p, all[i * outputs + j]!);
      return p;
    });
  const allVal = rawPredict(xVal, val.rows);
  const validation = evaluate(modesOf(allVal, val.rows), val.labels, val.rows, undefined, {
    probs: failureOf(allVal, val.rows),
    labels: val.machineFailure,
  });

  const trained: TrainedRecommender = {
    tf,
    model,
    normalization,
    rawStats,
    thresholds,
    failureThreshold: allThresholds[k]!,
    positiveWeights,
    failurePositiveWeight: allWeights[k]!,
    validation,
    options: o,
    trainRows: train.rows,
    validationRows: val.rows,
    finalLoss,
    predict: (raw, rows) => modesOf(rawPredict(engineerFeatures(raw, rows), rows), rows),
    predictFailure: (raw, rows) => failureOf(rawPredict(engineerFeatures(raw, rows), rows), rows),
    dispose: () => {
      model.dispose();
      meanT.dispose();
      stdT.dispose();
    },
  };
  return trained;
}

/** Report of a trained recommender on labelled rows, with its machine failure output against the Machine failure label. */
export function evaluateTrained(trained: TrainedRecommender, d: Ai4iData): EvalReport {
  return evaluate(trained.predict(d.raw, d.rows), d.labels, d.rows, undefined, {
    probs: trained.predictFailure(d.raw, d.rows),
    labels: d.machineFailure,
  });
}

/** The five mode labels of each row followed by its Machine failure label: [rows, 6]. */
function withFailureColumn(d: Ai4iData): Float32Array {
  const k = FAILURE_MODES.length;
  const y = new Float32Array(d.rows * (k + 1));
  for (let i = 0; i < d.rows; i++) {
    y.set(d.labels.subarray(i * k, (i + 1) * k), i * (k + 1));
    y[i * (k + 1) + k] = d.machineFailure[i]!;
  }
  return y;
}

function columnStats(x: Float32Array, rows: number, width: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(width).fill(0);
  const std = new Array<number>(width).fill(0);
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) mean[j]! += x[i * width + j]!;
  for (let j = 0; j < width; j++) mean[j]! /= rows;
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) std[j]! += (x[i * width + j]! - mean[j]!) ** 2;
  for (let j = 0; j < width; j++) {
    const s = Math.sqrt(std[j]! / rows);
    // a constant column (a product type absent from the data) must not divide by zero
    std[j] = s > 1e-6 ? Math.fround(s) : 1;
    mean[j] = Math.fround(mean[j]!);
  }
  return { mean, std };
}
