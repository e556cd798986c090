/**
 * Summary features of a sensor window as one fixed linear map: per sensor, the mean of the last k cycles and the
 * least-squares slope over the last k cycles, for a few k. Both are linear in the window, so the whole map is a
 * [window * sensors, features] matrix, which the model holds as a frozen Dense layer in front of the trained ones
 * (the ONNX export is one more MatMul + Add). A dense net could in principle learn these from the raw window, but
 * with ~15 000 noisy windows it learns noisy versions of them; given directly, the smoothed level and the trend
 * of each sensor are what the degradation shows in. Pure: no tensors here.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface SummarySpec {
  /** mean of the last k cycles, per sensor, for each k (0 = the whole window) */
  means: number[];
  /** least-squares slope (per cycle) over the last k cycles, per sensor, for each k (k >= 2; 0 = the whole window) */
  slopes: number[];
  /**
   * the window cut into this many equal consecutive blocks, mean of each per sensor
   * (a smoothed, shorter window); default 0
   */
  blocks?: number;
}

/** Feature names in column order of featureMatrix: `mean{k}:{sensor}` then `slope{k}:{sensor}`. */
export function featureNames(spec: SummarySpec, sensors: readonly string[]): string[] {
  return [
    ...spec.means.flatMap((k) => sensors.map((s) => `mean${k}:${s}`)),
    ...spec.slopes.flatMap((k) => sensors.map((s) => `slope${k}:${s}`)),
    ...Array.from({ length: spec.blocks ?? 0 }, (_, b) => sensors.map((s) => `block${b}:${s}`)).flat(),
  ];
}

export function checkSummarySpec(spec: SummarySpec, window: number): void {
  const blocks = spec.blocks ?? 0;
  if (spec.means.length + spec.slopes.length + blocks === 0)
    throw invalid('summary features need at least one mean or slope length or blocks');
  if (!Number.isInteger(blocks) || blocks < 0 || (blocks > 0 && window % blocks !== 0))
    throw invalid(`summary blocks must be an integer >= 0 that divides the window (${window}), got ${blocks}`);
  for (const k of spec.means) {
    if (!Number.isInteger(k) || k < 0 || k > window)
      throw invalid(`summary mean length must be an integer in 1..${window} (the window) or 0 (all of it), got ${k}`);
  }
  for (const k of spec.slopes) {
    if (!Number.isInteger(k) || k === 1 || k < 0 || k > window)
      throw invalid(`summary slope length must be an integer in 2..${window} (the window) or 0 (all of it), got ${k}`);
  }
}

/**
 * The map as a row-major [window * sensors, features] matrix: a window laid out row-major (cycle, then sensor)
 * times this matrix gives featureNames' columns.
 */
export function featureMatrix(spec: SummarySpec, window: number, sensors: number): Float64Array {
  checkSummarySpec(spec, window);
  const blocks = spec.blocks ?? 0;
  const nf = (spec.means.length + spec.slopes.length + blocks) * sensors;
  const m = new Float64Array(window * sensors * nf);
  let col = 0;
  for (const k of spec.means.map((v) => v || window)) {
    for (let j = 0; j < sensors; j++, col++) {
      for (let t = window - k; t < window; t++) m[(t * sensors + j) * nf + col] = 1 / k;
    }
  }
  for (const k of spec.slopes.map((v) => v || window)) {
    // slope = sum (t - tbar) x_t / sum (t - tbar)^2 over the last k cycles
    const tbar = (k - 1) / 2;
    let den = 0;
    for (let i = 0; i < k; i++) den += (i - tbar) ** 2;
    for (let j = 0; j < sensors; j++, col++) {
      for (let i = 0; i < k; i++) m[((window - k + i) * sensors + j) * nf + col] = (i - tbar) / den;
    }
  }
  const size = blocks > 0 ? window / blocks : 0;
  for (let b = 0; b < blocks; b++) {
    for (let j = 0; j < sensors; j++, col++) {
      for (let t = b * size; t < (b + 1) * size; t++) m[(t * sensors + j) * nf + col] = 1 / size;
    }
  }
  return m;
}

/** rows [rows, width] times the [width, features] map → [rows, features] (float64 sums, float32 result). */
export function applyFeatureMatrix(x: Float32Array, rows: number, map: Float64Array, features: number): Float32Array {
  const width = map.length / features;
  if (x.length !== rows * width)
    throw invalid(`feature map expects ${rows} rows of ${width} values, got ${x.length} values`);
  const out = new Float32Array(rows * features);
  const acc = new Float64Array(features);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let i = 0; i < width; i++) {
      const v = x[r * width + i]!;
      if (v === 0) continue;
      const row = i * features;
      for (let c = 0; c < features; c++) acc[c]! += v * map[row + c]!;
    }
    out.set(acc, r * features);
  }
  return out;
}

function invalid(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', message);
}
