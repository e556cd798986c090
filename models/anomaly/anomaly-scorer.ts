/**
 * Scoring with an anomaly model: one window inference per reading. A row's score is the score of the window
 * ending at it; the first length-1 rows have no score (NaN). Windows go to the runner in batches.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ModelRunner } from '../runtime/model-runner.ts';
import type { SensorTable } from './sensor-table.ts';
import { buildWindows } from './windows.ts';

export const SCORE_BATCH = 4096;

/** Scores of `count` windows (row-major [count, width]) in batches of `batch`; the model's first output column. */
export async function scoreWindows(
  runner: ModelRunner,
  data: Float32Array,
  count: number,
  width: number,
  batch = SCORE_BATCH,
): Promise<Float32Array> {
  const out = new Float32Array(count);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const res = await runner.run(data.subarray(start * width, (start + n) * width), n);
    for (let i = 0; i < n; i++) out[start + i] = res.data[i * res.width]!;
  }
  return out;
}

/** Per-row scores of a table (NaN before the first full window). The table's sensors must be the manifest's. */
export async function scoreTableRows(
  runner: ModelRunner,
  manifest: Manifest,
  table: SensorTable,
  batch = SCORE_BATCH,
): Promise<Float32Array> {
  if (manifest.inputs.kind !== 'window')
    throw new EdgeloopError(
      'EL_ERR_MODEL_INPUT',
      `model ${manifest.name} is a ${manifest.kind} model, not a window anomaly model`,
    );
  const want = manifest.inputs.sensors;
  if (want.length !== table.sensors.length || want.some((s, i) => table.sensors[i] !== s)) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_INPUT',
      `${table.file}: sensors [${table.sensors.join(', ')}] do not match the model's [${want.join(', ')}]`,
    );
  }
  const length = manifest.inputs.window.length;
  const out = new Float32Array(table.rows).fill(Number.NaN);
  const w = buildWindows(table.values, table.rows, want.length, length, 1, table.file);
  const scores = await scoreWindows(runner, w.data, w.count, w.width, batch);
  out.set(scores, length - 1);
  return out;
}
