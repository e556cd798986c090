/**
 * Windowing and normalisation for multi-sensor anomaly models. Pure.
 * A window of length L ending at row e holds rows e-L+1..e, flattened row-major (time, then sensor): the layout
 * of the model input described in protocol/manifest.ts. A row's score is the score of the window ending at it.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface Windows {
  /** row-major [count, length * sensors] */
  data: Float32Array;
  count: number;
  width: number;
  /** index of the last row of each window */
  ends: Int32Array;
}

/**
 * Windows of `length` rows every `stride` rows, the first ending at row length-1. `values` is row-major
 * [rows, sensors]. Throws EL_ERR_DATA_INVALID when there are fewer rows than one window.
 */
export function buildWindows(
  values: ArrayLike<number>,
  rows: number,
  sensors: number,
  length: number,
  stride = 1,
  source = 'data',
): Windows {
  if (!Number.isInteger(length) || length < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `window length must be an integer >= 1, got ${length}`);
  if (!Number.isInteger(stride) || stride < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `window stride must be an integer >= 1, got ${stride}`);
  if (rows < length) {
    throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source}: ${rows} rows, fewer than one window of ${length} rows`);
  }
  const width = length * sensors;
  const count = Math.floor((rows - length) / stride) + 1;
  const data = new Float32Array(count * width);
  const ends = new Int32Array(count);
  for (let w = 0; w < count; w++) {
    const start = w * stride;
    ends[w] = start + length - 1;
    for (let k = 0; k < width; k++) data[w * width + k] = values[start * sensors + k]!;
  }
  return { data, count, width, ends };
}

export interface Normalization {
  mean: number[];
  std: number[];
}

export interface FitNormalizationOptions {
  /**
   * Lower bound of each sensor's std relative to its mean magnitude (default 0.01): variation below 1 % of a
   * sensor's operating level is treated as noise, so slow drifts of a nearly constant signal (temperatures) do not
   * dominate the reconstruction error.
   */
  minRelativeStd?: number;
  /** absolute lower bound of each std (default 1e-6), so a constant column does not divide by zero */
  minStd?: number;
}

/** Per-sensor mean and (population) std over the given row-major blocks [rows, sensors]. */
export function fitNormalization(
  blocks: Array<{ values: ArrayLike<number>; rows: number }>,
  sensors: number,
  opts: FitNormalizationOptions = {},
): Normalization {
  const minRel = opts.minRelativeStd ?? 0.01;
  const minAbs = opts.minStd ?? 1e-6;
  const sum = new Float64Array(sensors);
  const sq = new Float64Array(sensors);
  let n = 0;
  for (const b of blocks) {
    for (let r = 0; r < b.rows; r++) for (let j = 0; j < sensors; j++) sum[j]! += b.values[r * sensors + j]!;
    n += b.rows;
  }
  if (n === 0) throw new EdgeloopError('EL_ERR_DATA_INVALID', 'no rows to fit the normalisation on');
  const mean = Array.from(sum, (s) => s / n);
  for (const b of blocks) {
    for (let r = 0; r < b.rows; r++) {
      for (let j = 0; j < sensors; j++) {
        const d = b.values[r * sensors + j]! - mean[j]!;
        sq[j]! += d * d;
      }
    }
  }
  const std = Array.from(sq, (s, j) => Math.max(Math.sqrt(s / n), minRel * Math.abs(mean[j]!), minAbs));
  // round-trip through float32 so the constants in the ONNX graph and the manifest are the same numbers
  return { mean: mean.map((v) => Math.fround(v)), std: std.map((v) => Math.fround(v)) };
}

/** (x - mean) / std per sensor, tiled over windows of `width` = length * sensors; returns a new array. */
export function normalizeWindows(data: Float32Array, norm: Normalization): Float32Array {
  const s = norm.mean.length;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const j = i % s;
    out[i] = (data[i]! - norm.mean[j]!) / norm.std[j]!;
  }
  return out;
}
