/**
 * Remaining-useful-life model for C-MAPSS-like run-to-failure data, trained with TensorFlow.js: a small ensemble
 * of dense networks (merged into one network of Dense layers, ensemble-layers.ts) over the last `window` cycles of
 * the selected sensors (z-score normalised per sensor). By default the networks see summary features of that
 * window (per-sensor means of the last 5, 15 and all cycles, least-squares slopes over the last 15 and all cycles:
 * window-features.ts), computed by a frozen linear layer in front of them; with `features: 'window'` they see the
 * whole flattened window. Three linear outputs trained together: the RUL estimate (squared error, so it targets
 * the conditional mean that RMSE rewards) and the 10 % and 90 % quantiles (pinball loss), which give the p10–p90
 * interval.
 * Targets are the piecewise-linear RUL capped at `cap`, divided by `cap` while training; the cap is folded back
 * into the last layer afterwards, so the model outputs cycles.
 *
 * Training runs on the TensorFlow.js WebAssembly backend when it loads (dense kernels ~8x faster than the pure-JS
 * CPU backend on a small box; single-threaded, so the same seed gives the same weights), else on the CPU backend.
 * Deterministic for a seed: seeded initialisers and a seeded shuffle.
 */
import type * as TF from '@tensorflow/tfjs';
import { EdgeloopError } from '../../protocol/errors.ts';
import { loadTf } from '../training/load-tf.ts';
import type { Tf } from '../training/load-tf.ts';
import { Prng } from '../../lib/prng.ts';
import { FD001_SENSORS, sensorIndexes, trainingWindows } from './cmapss-data.ts';
import type { CmapssUnit } from './cmapss-data.ts';
import { mergeMembers, RUL_OUTPUTS, summaryLayer } from './ensemble-layers.ts';
import { checkSummarySpec } from './window-features.ts';
import type { SummarySpec } from './window-features.ts';

const QUANTILES = [0.1, 0.9];

export interface TrainRulOptions {
  /** cycles per window; default 50 (a unit with fewer cycles is padded at the front with its first one) */
  window?: number;
  /** sensor columns (s1..s21); default the 14 informative FD001 sensors */
  sensors?: readonly string[];
  /** cap of the piecewise-linear target, cycles; default 125 */
  cap?: number;
  /** hidden layer widths (relu) of each member; default [32, 16] */
  hidden?: number[];
  /** passes over the windows, per member; default 30 */
  epochs?: number;
  /** default 256 */
  batchSize?: number;
  /** Adam learning rate, decayed linearly to a tenth over the epochs; default 0.002 */
  learningRate?: number;
  /** L2 penalty on the hidden kernels; default 1e-4 */
  l2?: number;
  /**
   * standard deviation of Gaussian noise added while training to what the trained layers see (the normalised
   * window, or the standardised summary features); default 0.3
   */
  inputNoise?: number;
  /** networks trained with different seeds and averaged (merged into one network for export); default 3 */
  members?: number;
  /**
   * what the trained layers see: 'window' = the whole normalised window; 'summary' = per-sensor means and
   * least-squares slopes of the window (window-features.ts), standardised, by a frozen linear layer in front
   */
  features?: 'window' | 'summary';
  /** the means and slopes of 'summary'; default means of the last 5, 15 and all cycles, slopes over 15 and all */
  summary?: SummarySpec;
  /** training windows whose (uncapped) remaining life is above this are left out; 0 = keep all; default 0 */
  maxTrainRul?: number;
  /** default 1 */
  seed?: number;
  /** 'wasm' (default; falls back to 'cpu' when the backend cannot load) or 'cpu' */
  backend?: 'wasm' | 'cpu';
  onEpoch?: (epoch: number, loss: number) => void;
}

const DEFAULTS = {
  window: 50,
  sensors: FD001_SENSORS as readonly string[],
  cap: 125,
  hidden: [32, 16],
  epochs: 30,
  batchSize: 256,
  learningRate: 0.002,
  l2: 1e-4,
  inputNoise: 0.3,
  members: 3,
  features: 'summary' as 'window' | 'summary',
  summary: { means: [5, 15, 0], slopes: [15, 0] } as SummarySpec,
  maxTrainRul: 0,
  seed: 1,
  backend: 'wasm' as 'wasm' | 'cpu',
};
export type RulTrainingOptions = typeof DEFAULTS;
/** The defaults of every training option (the CLI's defaults too). */
export const RUL_DEFAULTS: Readonly<RulTrainingOptions> = DEFAULTS;
const OPTION_KEYS = new Set([...Object.keys(DEFAULTS), 'onEpoch']);

export interface TrainedRul {
  tf: Tf;
  /** input: raw window [batch, window * sensors] after normalisation; output [batch, 3] cycles (RUL_OUTPUTS) */
  model: TF.Sequential;
  /** per-sensor z-score constants (sensors order) */
  normalization: { mean: number[]; std: number[] };
  options: RulTrainingOptions;
  trainWindows: number;
  finalLoss: number;
  /** outputs [rows, 3] (rul, p10, p90) for raw windows [rows, window * sensors] */
  predict(x: Float32Array, rows: number): Float32Array;
  dispose(): void;
}

export function rulOptions(opts: TrainRulOptions): RulTrainingOptions {
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.has(k))
      throw invalid(`unknown RUL training option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const o: RulTrainingOptions = {
    window: opts.window ?? DEFAULTS.window,
    sensors: opts.sensors ?? DEFAULTS.sensors,
    cap: opts.cap ?? DEFAULTS.cap,
    hidden: opts.hidden ?? DEFAULTS.hidden,
    epochs: opts.epochs ?? DEFAULTS.epochs,
    batchSize: opts.batchSize ?? DEFAULTS.batchSize,
    learningRate: opts.learningRate ?? DEFAULTS.learningRate,
    l2: opts.l2 ?? DEFAULTS.l2,
    inputNoise: opts.inputNoise ?? DEFAULTS.inputNoise,
    members: opts.members ?? DEFAULTS.members,
    features: opts.features ?? DEFAULTS.features,
    summary: opts.summary ?? DEFAULTS.summary,
    maxTrainRul: opts.maxTrainRul ?? DEFAULTS.maxTrainRul,
    seed: opts.seed ?? DEFAULTS.seed,
    backend: opts.backend ?? DEFAULTS.backend,
  };
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw invalid(`${name} must be an integer >= 1, got ${v}`);
  };
  posInt(o.window, 'window');
  posInt(o.cap, 'cap');
  posInt(o.epochs, 'epochs');
  posInt(o.batchSize, 'batchSize');
  posInt(o.members, 'members');
  o.hidden.forEach((h, i) => posInt(h, `hidden[${i}]`));
  if (o.sensors.length === 0) throw invalid('sensors must name at least one sensor');
  sensorIndexes(o.sensors);
  if (!Number.isInteger(o.seed)) throw invalid(`seed must be an integer, got ${o.seed}`);
  if (!(o.learningRate > 0)) throw invalid(`learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.l2 >= 0)) throw invalid(`l2 must be >= 0, got ${o.l2}`);
  if (!(o.inputNoise >= 0)) throw invalid(`inputNoise must be >= 0, got ${o.inputNoise}`);
  if (o.features !== 'window' && o.features !== 'summary')
    throw invalid(`features must be "window" or "summary", got "${String(o.features)}"`);
  if (o.features === 'summary') checkSummarySpec(o.summary, o.window);
  if (!(Number.isInteger(o.maxTrainRul) && o.maxTrainRul >= 0))
    throw invalid(`maxTrainRul must be an integer >= 0 (0 = keep every window), got ${o.maxTrainRul}`);
  if (o.backend !== 'wasm' && o.backend !== 'cpu')
    throw invalid(`backend must be "wasm" or "cpu", got "${String(o.backend)}"`);
  return o;
}

export async function trainRul(units: readonly CmapssUnit[], opts: TrainRulOptions = {}): Promise<TrainedRul> {
  const o = rulOptions(opts);
  if (units.length < 2)
    throw new EdgeloopError('EL_ERR_RUL_DATA', `need at least 2 run-to-failure units to train, got ${units.length}`);
  const columns = sensorIndexes(o.sensors);
  const s = columns.length;
  const width = o.window * s;
  const normalization = sensorStats(units, columns);
  const data = trainingWindows(units, o.window, columns, o.cap, o.maxTrainRul || undefined);
  const tf = await loadRulTf(o.backend);

  const meanT = tf.tensor1d(tileTo(normalization.mean, width), 'float32');
  const stdT = tf.tensor1d(tileTo(normalization.std, width), 'float32');
  const norm = (x: TF.Tensor2D): TF.Tensor2D => tf.div(tf.sub(x, meanT), stdT) as TF.Tensor2D;

  const frozen = o.features === 'summary' ? summaryLayer(data.x, data.rows, normalization, o) : undefined;
  const inWidth = frozen ? frozen.units : width;
  const xAll = frozen
    ? tf.tensor2d(frozen.trainX, [data.rows, inWidth])
    : tf.tidy(() => norm(tf.tensor2d(data.x, [data.rows, width])));
  const yAll = tf.tidy(() => tf.tile(tf.div(tf.tensor2d(data.y, [data.rows, 1]), o.cap), [1, RUL_OUTPUTS.length]));
  const members: TF.Sequential[] = [];
  let finalLoss = 0;
  let model: TF.Sequential;
  try {
    for (let m = 0; m < o.members; m++) {
      const r = await trainMember(tf, xAll, yAll, data.rows, inWidth, o, m, opts.onEpoch);
      members.push(r.model);
      finalLoss += r.finalLoss / o.members;
    }
    model = mergeMembers(tf, members, width, o, frozen);
  } catch (err) {
    meanT.dispose();
    stdT.dispose();
    throw err;
  } finally {
    members.forEach((m) => m.dispose());
    xAll.dispose();
    yAll.dispose();
  }

  return {
    tf,
    model,
    normalization,
    options: o,
    trainWindows: data.rows,
    finalLoss,
    predict: (x, rows) =>
      tf
        .tidy(() => (model.predict(norm(tf.tensor2d(x, [rows, width]))) as TF.Tensor).dataSync() as Float32Array)
        .slice(),
    dispose: () => {
      model.dispose();
      meanT.dispose();
      stdT.dispose();
    },
  };
}

async function trainMember(
  tf: Tf,
  xAll: TF.Tensor2D,
  yAll: TF.Tensor,
  rows: number,
  width: number,
  o: RulTrainingOptions,
  member: number,
  onEpoch: TrainRulOptions['onEpoch'],
): Promise<{ model: TF.Sequential; finalLoss: number }> {
  const model = tf.sequential({ name: `cmapss_rul_${member}` });
  let seed = o.seed * 1009 + member * 97;
  o.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
        ...(o.l2 > 0 ? { kernelRegularizer: tf.regularizers.l2({ l2: o.l2 }) } : {}),
        ...(i === 0 ? { inputShape: [width] } : {}),
        name: `hidden_${i}`,
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: RUL_OUTPUTS.length,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
      name: 'heads',
    }),
  );
  const q = tf.tensor1d(QUANTILES, 'float32');
  // column 0: squared error; columns 1, 2: pinball loss at the 10 % and 90 % quantiles
  const loss = (yTrue: TF.Tensor, yPred: TF.Tensor): TF.Tensor =>
    tf.tidy(() => {
      const y = yTrue.slice([0, 0], [-1, 1]);
      const mse = tf.mean(tf.square(tf.sub(y, yPred.slice([0, 0], [-1, 1]))));
      const e = tf.sub(y, yPred.slice([0, 1], [-1, 2]));
      const pinball = tf.mean(tf.sum(tf.maximum(tf.mul(q, e), tf.mul(tf.sub(q, 1), e)), 1));
      return tf.add(mse, pinball);
    });
  const optimizer = tf.train.adam(o.learningRate);
  model.compile({ optimizer, loss });
  const prng = new Prng(o.seed * 31 + member);
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  let finalLoss = NaN;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      (optimizer as unknown as { learningRate: number }).learningRate =
        o.learningRate * (1 - (0.9 * (epoch - 1)) / Math.max(1, o.epochs - 1));
      prng.shuffle(order);
      const idx = tf.tensor1d(order, 'int32');
      const xs = tf.gather(xAll, idx);
      const ys = tf.gather(yAll, idx);
      idx.dispose();
      let sum = 0;
      let batches = 0;
      for (let start = 0; start < rows; start += o.batchSize) {
        const size = Math.min(o.batchSize, rows - start);
        // seeded input noise (tfjs' GaussianNoise layer draws from an unseeded generator)
        const xb = tf.tidy(() => {
          const b = xs.slice([start, 0], [size, width]);
          return o.inputNoise > 0 ? tf.add(b, tf.tensor2d(noise(prng, size * width, o.inputNoise), [size, width])) : b;
        });
        const yb = ys.slice([start, 0], [size, RUL_OUTPUTS.length]);
        sum += (await model.trainOnBatch(xb, yb)) as number;
        xb.dispose();
        yb.dispose();
        batches++;
      }
      xs.dispose();
      ys.dispose();
      finalLoss = sum / batches;
      if (!Number.isFinite(finalLoss))
        throw new EdgeloopError(
          'EL_ERR_RUL_DATA',
          `training diverged at epoch ${epoch} (loss ${finalLoss}); check the data or lower the learning rate`,
        );
      onEpoch?.(member * o.epochs + epoch, finalLoss);
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    q.dispose();
  }
  return { model, finalLoss };
}

/** Per-sensor mean and standard deviation over every cycle of the units (float32-rounded, as the graph holds them). */
export function sensorStats(
  units: readonly CmapssUnit[],
  columns: readonly number[],
): { mean: number[]; std: number[] } {
  const s = columns.length;
  const sum = new Float64Array(s);
  const sq = new Float64Array(s);
  let n = 0;
  for (const u of units) {
    for (let r = 0; r < u.length; r++) {
      for (let j = 0; j < s; j++) {
        const v = u.sensors[r * 21 + columns[j]!]!;
        sum[j]! += v;
        sq[j]! += v * v;
      }
    }
    n += u.length;
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let j = 0; j < s; j++) {
    const m = sum[j]! / n;
    const sd = Math.sqrt(Math.max(0, sq[j]! / n - m * m));
    mean.push(Math.fround(m));
    // a constant sensor (s1, s5, … in FD001) must not divide by zero
    std.push(Math.fround(sd > 1e-6 * Math.max(1, Math.abs(m)) ? sd : 1));
  }
  return { mean, std };
}

let wasmTried: Promise<boolean> | undefined;

/**
 * TensorFlow.js with the WebAssembly backend selected when asked for and loadable (it only matters for speed:
 * the model and its export are the same on either backend).
 */
async function loadRulTf(backend: 'wasm' | 'cpu'): Promise<Tf> {
  const tf = await loadTf('cpu');
  if (backend === 'wasm') {
    wasmTried ??= (async () => {
      try {
        await import('@tensorflow/tfjs-backend-wasm');
        return await tf.setBackend('wasm');
      } catch {
        return false;
      }
    })();
    if ((await wasmTried) && tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  } else if (tf.getBackend() !== 'cpu') {
    await tf.setBackend('cpu');
  }
  await tf.ready();
  return tf;
}

function noise(prng: Prng, n: number, sd: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * prng.normal();
  return out;
}

function tileTo(values: number[], width: number): Float32Array {
  const out = new Float32Array(width);
  for (let i = 0; i < width; i++) out[i] = values[i % values.length]!;
  return out;
}

function invalid(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', message);
}
