/**
 * The layers around the trained members of the RUL ensemble (train-rul.ts): the frozen 'summary' feature layer in
 * front of them (window-features.ts' map on the z-scored window, standardised over the training windows), and the
 * merge of the members into one chain of Dense layers that outputs their mean in cycles (RUL_OUTPUTS).
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../training/load-tf.ts';
import { applyFeatureMatrix, featureMatrix } from './window-features.ts';
import type { SummarySpec } from './window-features.ts';

/** Output columns of the model, in order. */
export const RUL_OUTPUTS = ['rul', 'p10', 'p90'] as const;

/**
 * One chain of Dense layers that computes the mean of the members' outputs, in cycles: the first layers side by
 * side (their kernels concatenated), the deeper ones block-diagonal (each member only sees its own units), and
 * the heads stacked and divided by the member count, then scaled by the cap. Exports like any dense model.
 */
export function mergeMembers(
  tf: Tf,
  members: TF.Sequential[],
  width: number,
  o: { hidden: readonly number[]; cap: number },
  frozen?: FrozenLayer,
): TF.Sequential {
  const m = members.length;
  const merged = tf.sequential({ name: 'cmapss_rul' });
  if (frozen) {
    // the shared feature map first: every member was trained on its output
    const layer = tf.layers.dense({ units: frozen.units, inputShape: [width], name: 'features', trainable: false });
    merged.add(layer);
    const kt = tf.tensor2d(frozen.kernel, [width, frozen.units]);
    const bt = tf.tensor1d(frozen.bias);
    layer.setWeights([kt, bt]);
    kt.dispose();
    bt.dispose();
  }
  const inWidth = frozen ? frozen.units : width;
  const layers = [...o.hidden.map((_, i) => `hidden_${i}`), 'heads'];
  layers.forEach((name, li) => {
    const last = li === layers.length - 1;
    const inUnits = li === 0 ? inWidth : o.hidden[li - 1]! * m;
    const outEach = last ? RUL_OUTPUTS.length : o.hidden[li]!;
    const outUnits = last ? outEach : outEach * m;
    const kernel = new Float32Array(inUnits * outUnits);
    const bias = new Float32Array(outUnits);
    members.forEach((member, k) => {
      const [kw, bw] = member.getLayer(name).getWeights();
      const kv = kw!.dataSync();
      const bv = bw!.dataSync();
      const rowsEach = li === 0 ? inWidth : o.hidden[li - 1]!;
      const row0 = li === 0 ? 0 : k * rowsEach;
      const col0 = last ? 0 : k * outEach;
      const scale = last ? o.cap / m : 1;
      for (let r = 0; r < rowsEach; r++) {
        for (let c = 0; c < outEach; c++) kernel[(row0 + r) * outUnits + col0 + c]! += scale * kv[r * outEach + c]!;
      }
      for (let c = 0; c < outEach; c++) bias[col0 + c]! += scale * bv[c]!;
    });
    const layer = tf.layers.dense({
      units: outUnits,
      activation: last ? 'linear' : 'relu',
      ...(li === 0 && !frozen ? { inputShape: [width] } : {}),
      name,
    });
    merged.add(layer);
    const kt = tf.tensor2d(kernel, [inUnits, outUnits]);
    const bt = tf.tensor1d(bias);
    layer.setWeights([kt, bt]);
    kt.dispose();
    bt.dispose();
  });
  return merged;
}

/**
 * A frozen linear layer (kernel row-major [width, units]) and, for training, its standardised output on the
 * training windows.
 */
export interface FrozenLayer {
  units: number;
  kernel: Float32Array;
  bias: Float32Array;
  trainX: Float32Array;
}

/**
 * The 'summary' feature layer: the window-features map applied to the z-scored window, each feature then
 * standardised over the training windows (folded into the layer: kernel / sd, bias -mean / sd).
 */
export function summaryLayer(
  rawX: Float32Array,
  rows: number,
  normalization: { mean: number[]; std: number[] },
  o: { sensors: readonly string[]; window: number; summary: SummarySpec },
): FrozenLayer {
  const s = o.sensors.length;
  const width = o.window * s;
  const z = new Float32Array(rawX.length);
  for (let i = 0; i < rawX.length; i++) z[i] = (rawX[i]! - normalization.mean[i % s]!) / normalization.std[i % s]!;
  const map = featureMatrix(o.summary, o.window, s);
  const units = map.length / width;
  const f = applyFeatureMatrix(z, rows, map, units);
  const kernel = new Float32Array(width * units);
  const bias = new Float32Array(units);
  for (let c = 0; c < units; c++) {
    let sum = 0;
    let sq = 0;
    for (let r = 0; r < rows; r++) {
      const v = f[r * units + c]!;
      sum += v;
      sq += v * v;
    }
    const mean = sum / rows;
    const sdRaw = Math.sqrt(Math.max(0, sq / rows - mean * mean));
    const sd = sdRaw > 1e-9 ? sdRaw : 1;
    for (let i = 0; i < width; i++) kernel[i * units + c] = map[i * units + c]! / sd;
    bias[c] = -mean / sd;
    for (let r = 0; r < rows; r++) f[r * units + c] = (f[r * units + c]! - mean) / sd;
  }
  return { units, kernel, bias, trainX: f };
}
