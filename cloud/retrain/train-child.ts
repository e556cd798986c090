/**
 * The training child process: `node train-child.js <spec.json>` (forked by train-process.ts). It reads the
 * training segments the select step wrote, trains the window autoencoder with the models toolchain (TensorFlow.js
 * on the CPU backend; models/anomaly/train-anomaly.ts, which also exports the ONNX graph with our exporter and
 * computes the test vectors), writes `model.onnx`, `manifest.unsigned.json` and `training-scores.bin` into the job
 * directory, and reports each epoch to its parent over IPC. Training here keeps the cloud's event loop free and
 * gives TensorFlow.js' memory back to the system when the child exits.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainAnomalyModel } from '../../models/anomaly/train-anomaly.ts';
import type { SensorTable } from '../../models/anomaly/sensor-table.ts';
import { readSegments } from './segment-files.ts';

export interface TrainSpec {
  /** segments written by writeSegments (path without extension) */
  segments: string;
  /** where the outputs go */
  outDir: string;
  name: string;
  version: string;
  createdAt: string;
  window: number;
  smoothing: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  hidden: number[];
  stride: number;
  seed: number;
  threshold?: { quantile: number; margin: number; trimMads?: number | undefined } | undefined;
  latencyBudgetMs?: number | undefined;
}

export type TrainMessage =
  | { type: 'epoch'; epoch: number; epochs: number; loss: number }
  | { type: 'done'; windows: number; finalLoss: number }
  | { type: 'error'; message: string; code?: string | undefined };

async function main(specPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as TrainSpec;
  const { sensors, segments } = readSegments(spec.segments);
  const tables: SensorTable[] = segments.map((s) => ({
    file: `${s.deviceId}@${s.from}`,
    sensors,
    timeColumn: undefined,
    times: [],
    values: s.values,
    rows: s.rows,
    lines: [],
    labels: undefined,
  }));
  const send = (m: TrainMessage): void => void process.send?.(m);
  const trained = await trainAnomalyModel(tables, {
    name: spec.name,
    version: spec.version,
    createdAt: spec.createdAt,
    window: spec.window,
    stride: spec.stride,
    smoothing: spec.smoothing,
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    learningRate: spec.learningRate,
    hidden: spec.hidden,
    seed: spec.seed,
    ...(spec.threshold ? { threshold: spec.threshold } : {}),
    ...(spec.latencyBudgetMs !== undefined ? { latencyBudgetMs: spec.latencyBudgetMs } : {}),
    onEpoch: (epoch, loss) => send({ type: 'epoch', epoch, epochs: spec.epochs, loss }),
  });
  const put = (file: string, data: string | Uint8Array): void => {
    const p = join(spec.outDir, file);
    writeFileSync(`${p}.tmp`, data);
    renameSync(`${p}.tmp`, p);
  };
  put('training-scores.bin', new Uint8Array(trained.trainingScores.buffer));
  put('model.onnx', trained.onnx);
  put('manifest.unsigned.json', JSON.stringify(trained.manifest, null, 2));
  send({ type: 'done', windows: trained.trainingScores.length, finalLoss: trained.losses.at(-1) ?? Number.NaN });
}

let finished = false;
// the parent died (kill -9): nobody will read the result, so stop training
process.on('disconnect', () => {
  if (!finished) process.exit(1);
});

main(process.argv[2]!).then(
  () => {
    finished = true;
    process.disconnect?.();
  },
  (err: unknown) => {
    const e = err as { message?: string; code?: string };
    process.send?.({ type: 'error', message: e?.message ?? String(err), code: e?.code } satisfies TrainMessage, () =>
      process.exit(1),
    );
    if (!process.send) process.exit(1);
  },
);
