/**
 * Anomaly model inference in onnxruntime-node (npm run bench:models).
 *
 * Measures, in one run: the raw ORT limit (session.run of a trivial one-op model of the same input width, batch 1:
 * the per-call floor), the default anomaly model at batch 1 (p50/p95/p99 per window) through raw session.run and
 * through OrtModelRunner (our adapter), and throughput at batch 64 and 512 (windows/s). Targets: p99 < 0.1 ms per
 * window at batch 1; model file < 200 KB.
 *
 * Options: --model DIR (default models/default/anomaly), --runs N (batch-1 runs, default 20000), --threads N.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { percentiles } from '../lib/stats.ts';
import { readModelDir } from '../models/manifest/index.ts';
import { GraphBuilder, floatTensorInfo } from '../models/onnx/graph-builder.ts';
import { OrtModelRunner } from '../models/runtime/ort-model-runner.ts';
import { inputWidth } from '../protocol/manifest.ts';
import { machineLine } from './machine.ts';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, runs: { type: 'string' }, threads: { type: 'string' } },
  strict: true,
});
const modelDir = args.model ?? join(import.meta.dirname, '..', 'models', 'default', 'anomaly');
const runs = Number(args.runs ?? 20000);
const threads = Number(args.threads ?? 1);
const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

console.log(machineLine());
const { manifest, onnx, modelPath } = readModelDir(modelDir);
const width = inputWidth(manifest);
const bytes = statSync(modelPath).size;
console.log(`model: ${manifest.name} ${manifest.version}, input [batch, ${width}], ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB; target < 200 KiB)`);

function trivialModel(w: number): Uint8Array {
  const g = new GraphBuilder();
  g.reserve('x');
  g.bindOutput(g.op('Relu', ['x']), 'y');
  return g.encode({ opset: 13, graphName: 'trivial', inputs: [floatTensorInfo('x', ['batch', w])], outputs: [floatTensorInfo('y', ['batch', w])], producerVersion: 'bench' });
}

function windows(n: number): Float32Array {
  // realistic inputs: the normalisation mean with noise of one std
  const out = new Float32Array(n * width);
  if (manifest.inputs.kind !== 'window') return out.fill(0.5);
  const { mean, std } = manifest.inputs.normalization;
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = i % mean.length;
    out[i] = mean[j]! + (s / 2 ** 32 - 0.5) * 2 * std[j]!;
  }
  return out;
}

async function latency(session: ort.InferenceSession, inputName: string, n: number): Promise<Record<string, number>> {
  const tensor = new ort.Tensor('float32', windows(1), [1, width]);
  const feeds = { [inputName]: tensor };
  for (let i = 0; i < 2000; i++) await session.run(feeds);
  const us = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    us[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return percentiles(us, [50, 95, 99]);
}

async function runnerLatency(runner: OrtModelRunner, n: number): Promise<Record<string, number>> {
  const input = windows(1);
  for (let i = 0; i < 2000; i++) await runner.run(input, 1);
  const us = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await runner.run(input, 1);
    us[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return percentiles(us, [50, 95, 99]);
}

async function throughput(session: ort.InferenceSession, inputName: string, batch: number): Promise<number> {
  const feeds = { [inputName]: new ort.Tensor('float32', windows(batch), [batch, width]) };
  for (let i = 0; i < 50; i++) await session.run(feeds);
  const calls = Math.max(20, Math.round(200_000 / batch));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await session.run(feeds);
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return (calls * batch) / sec;
}

const fmt = (p: Record<string, number>) => `p50 ${p.p50!.toFixed(1)} µs, p95 ${p.p95!.toFixed(1)} µs, p99 ${p.p99!.toFixed(1)} µs`;
const rate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);

const trivial = await ort.InferenceSession.create(trivialModel(width), sessionOptions);
const model = await ort.InferenceSession.create(readFileSync(modelPath), sessionOptions);
const runner = await OrtModelRunner.forManifest(onnx, manifest, threads);
try {
  const rawLimit = await latency(trivial, 'x', runs);
  console.log(`raw limit   (trivial 1-op model, batch 1, session.run): ${fmt(rawLimit)}`);
  const lat = await latency(model, manifest.inputs.name, runs);
  console.log(`anomaly     (batch 1, session.run):                     ${fmt(lat)}  -> ${lat.p99! < 100 ? 'meets' : 'MISSES'} p99 < 100 µs`);
  const viaRunner = await runnerLatency(runner, runs);
  console.log(`anomaly     (batch 1, OrtModelRunner.run):              ${fmt(viaRunner)}`);
  console.log(`ratio p50 anomaly / raw limit: ${(lat.p50! / rawLimit.p50!).toFixed(2)}`);
  for (const batch of [64, 512]) {
    const rawRate = await throughput(trivial, 'x', batch);
    const modelRate = await throughput(model, manifest.inputs.name, batch);
    console.log(`batch ${String(batch).padStart(3)}: anomaly ${rate(modelRate)} windows/s, trivial model ${rate(rawRate)} rows/s (ratio ${(modelRate / rawRate).toFixed(2)})`);
  }
} finally {
  await runner.close();
  await model.release();
  await trivial.release();
}
