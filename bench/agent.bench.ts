/**
 * Agent benchmark (npm run bench:agent): readings/s through ingest → SQLite outbox → windowing + ONNX inference
 * on every window → publish → PUBACK → delete, against aedes (a separate process) and against mosquitto; CPU time
 * per reading, peak RSS, bytes written to disk per reading. In the same run, the raw limits: better-sqlite3
 * batched insert, mqtt.js QoS 1 publish rate (same message size as the agent's), a bare ORT run.
 *
 * Each pipeline runs in a process of its own (node + the tsx loader, as bin/edgeloop.js runs), so CPU and RSS are
 * the agent's alone; the broker is another process.
 *
 * Env: BENCH_READINGS (default 2 000 000 per pipeline run), BENCH_SKIP_MOSQUITTO=1, BENCH_CHILD_FLAGS (node flags of
 * the agent process, e.g. "--max-old-space-size=96"), BENCH_GENERATED_MODEL=1 (ignore models/default).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { machineLine } from './machine.ts';
import { createAgent } from '../agent/create-agent.ts';
import { OrtModelRunner } from '../models/runtime/ort-model-runner.ts';
import { GraphBuilder, floatTensorInfo } from '../models/onnx/graph-builder.ts';
import { describeArtifact, writeModelDir } from '../models/manifest/index.ts';
import type { Manifest, ManifestInput } from '../protocol/manifest.ts';
import { parseManifest } from '../protocol/manifest.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import type { OutboxReading } from '../agent/outbox/sqlite-outbox.ts';

const N = Number(process.env.BENCH_READINGS ?? 2_000_000);
const SENSORS = ['temperature', 'vibration', 'pressure', 'current'];
const work = mkdtempSync(join(tmpdir(), 'edgeloop-bench-agent-'));

function fmt(n: number, d = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
}

function procIo(): { writeBytes: number; wchar: number } {
  try {
    const t = readFileSync('/proc/self/io', 'utf8');
    const get = (k: string): number => Number(/^(\w+): (\d+)$/m.test(t) ? (new RegExp(`^${k}: (\\d+)$`, 'm').exec(t)?.[1] ?? 0) : 0);
    return { writeBytes: get('write_bytes'), wchar: get('wchar') };
  } catch {
    return { writeBytes: Number.NaN, wchar: Number.NaN };
  }
}

// ---------- the model ----------

/** The default anomaly model when it exists; otherwise a 32→16→32 dense autoencoder over 8 steps x 4 sensors. */
interface BenchModel {
  dir: string;
  manifest: Manifest;
  modelPath: string;
  source: string;
  keys: string[];
}

function benchModel(): BenchModel {
  const shipped = join(import.meta.dirname, '..', 'models', 'default', 'anomaly');
  const key = join(import.meta.dirname, '..', 'models', 'default', 'keys', 'edgeloop-default.pub');
  if (existsSync(join(shipped, 'manifest.json')) && process.env.BENCH_GENERATED_MODEL !== '1') {
    const manifest = parseManifest(JSON.parse(readFileSync(join(shipped, 'manifest.json'), 'utf8')));
    const i = manifest.inputs.kind === 'window' ? manifest.inputs : undefined;
    return {
      dir: shipped,
      manifest,
      modelPath: join(shipped, manifest.artifact.file),
      source: `models/default/anomaly ${manifest.version}: window ${i?.window.length} x ${i?.sensors.length} sensors, stride ${i?.window.stride}`,
      keys: existsSync(key) ? [key] : [],
    };
  }
  const L = 8;
  const k = SENSORS.length;
  const w = L * k;
  let seed = 42;
  const rand = (): number => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const g = new GraphBuilder();
  const x = g.reserve('window');
  const w1 = g.floatConst('w1', Array.from({ length: w * 16 }, () => rand() * 0.3), [w, 16]);
  const b1 = g.floatConst('b1', Array.from({ length: 16 }, () => 0), [16]);
  const w2 = g.floatConst('w2', Array.from({ length: 16 * w }, () => rand() * 0.3), [16, w]);
  const b2 = g.floatConst('b2', Array.from({ length: w }, () => 0), [w]);
  const h = g.op('Relu', [g.op('Gemm', [x, w1, b1])]);
  const y = g.op('Gemm', [h, w2, b2]);
  const d = g.op('Sub', [y, x]);
  const score = g.op('ReduceMean', [g.op('Mul', [d, d])], { axes: [1], keepdims: 1 });
  g.bindOutput(score, 'score');
  const onnx = g.encode({ opset: 13, graphName: 'ae', inputs: [floatTensorInfo('window', ['batch', w])], outputs: [floatTensorInfo('score', ['batch', 1])], producerVersion: 'bench' });
  const input = [Array.from({ length: w }, () => 0)];
  const m: ManifestInput = {
    schema: 'edgeloop.model/v1',
    name: 'anomaly',
    version: 'bench',
    kind: 'anomaly',
    createdAt: new Date(0).toISOString(),
    artifact: describeArtifact(onnx),
    inputs: { kind: 'window', name: 'window', sensors: SENSORS, window: { length: L, stride: 1 }, normalization: { mean: [0, 0, 0, 0], std: [1, 1, 1, 1], folded: true } },
    output: { name: 'score', kind: 'score' },
    threshold: 1e9,
    testVector: { input, expected: [[0]], tolerance: 1e-3 },
  };
  const dir = join(work, 'model');
  writeModelDir(dir, { onnx, manifest: m });
  return { dir, manifest: parseManifest(m), modelPath: join(dir, 'model.onnx'), source: 'generated 32→16→32 autoencoder, window 8 x 4 sensors, stride 1', keys: [] };
}

// ---------- brokers ----------

async function startAedesProcess(): Promise<{ url: string; pid: number; cpuMs: () => number; close: () => Promise<void> }> {
  const code = `
    import { createServer } from 'node:net';
    import { Aedes } from 'aedes';
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.on('message', () => process.send(process.cpuUsage()));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', () => reject(new Error('aedes exited')));
  });
  let lastCpu = 0;
  child.on('message', (m: { user: number; system: number }) => (lastCpu = (m.user + m.system) / 1000));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid!,
    cpuMs: () => lastCpu,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// ---------- raw limits ----------

function rawSqlite(): { rowsPerS: number } {
  const path = join(work, 'raw.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, sensor_id INTEGER, ts REAL, value REAL)');
  const ins = db.prepare('INSERT INTO t VALUES (?,?,?,?)');
  const tx = db.transaction((start: number) => {
    for (let i = 0; i < 1000; i++) ins.run(start + i, i & 3, start + i, i * 0.5);
  });
  const rows = 500_000;
  const t0 = performance.now();
  for (let s = 0; s < rows; s += 1000) tx(s + 1);
  const ms = performance.now() - t0;
  db.close();
  return { rowsPerS: (rows / ms) * 1000 };
}

async function rawMqtt(url: string, bytes: number, count: number, window = 8): Promise<{ msgsPerS: number }> {
  const client = await mqtt.connectAsync(url, { clientId: `raw-${process.pid}-${bytes}`, clean: true });
  const payload = Buffer.alloc(bytes, 97);
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let acked = 0;
    const one = (): void => {
      if (sent >= count) return;
      sent++;
      client.publish('bench/raw', payload, { qos: 1 }, (err) => {
        if (err) return reject(err);
        if (++acked === count) resolve();
        else one();
      });
    };
    for (let i = 0; i < window; i++) one();
  });
  const ms = performance.now() - t0;
  await client.endAsync();
  return { msgsPerS: (count / ms) * 1000 };
}

async function rawOrt(modelPath: string, manifest: Manifest, batch: number): Promise<{ windowsPerS: number; p50us: number }> {
  const runner = await OrtModelRunner.forManifest(modelPath, manifest, 1);
  const width = manifest.inputs.kind === 'window' ? manifest.inputs.window.length * manifest.inputs.sensors.length : 0;
  const input = new Float32Array(batch * width).map((_, i) => Math.sin(i));
  for (let i = 0; i < 50; i++) await runner.run(input, batch);
  const times: number[] = [];
  const t0 = performance.now();
  let windows = 0;
  while (performance.now() - t0 < 1500) {
    const s = performance.now();
    await runner.run(input, batch);
    times.push(performance.now() - s);
    windows += batch;
  }
  const ms = performance.now() - t0;
  await runner.close();
  times.sort((a, b) => a - b);
  return { windowsPerS: (windows / ms) * 1000, p50us: times[Math.floor(times.length / 2)]! * 1000 };
}

// ---------- the pipeline ----------

interface PipelineResult {
  readingsPerS: number;
  cpuUsPerReading: number;
  peakRssMB: number;
  diskBytesPerReading: number;
  wcharPerReading: number;
  windows: number;
  messages: number;
  brokerCpuMs?: number;
  dbBytes: number;
}

async function pipeline(url: string, model: { dir: string; keys: string[]; sensors: string[]; means: number[] }, label: string): Promise<PipelineResult> {
  const SENSORS = model.sensors;
  const dataDir = mkdtempSync(join(work, `agent-${label}-`));
  const agent = createAgent({
    config: {
      deviceId: `bench-${label}`,
      dataDir,
      transport: { kind: 'mqtt', url, maxInFlight: 100, clean: true },
      outbox: { intakeMaxRows: 8192, intakeLingerMs: 5, batchMaxRecords: 2000, maxInflightBatches: 8, batchLingerMs: 20 },
      inference: { maxBatchWindows: 1024, cooldownMs: 60_000 },
      models: { initial: [model.dir], trustedKeys: model.keys, updates: false },
      status: { intervalMs: 60_000 },
    },
  });
  await agent.start();
  await new Promise<void>((r) => (agent.transport!.connected ? r() : agent.transport!.on('connect', () => r())));
  // a pool of reusable chunks: 1024 steps x 4 sensors
  const STEPS = 1024;
  const POOL = 12;
  const pool: OutboxReading[][] = Array.from({ length: POOL }, () =>
    Array.from({ length: STEPS * SENSORS.length }, (_, i) => ({ sensor: SENSORS[i % SENSORS.length]!, ts: 0, value: 0 })),
  );
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
  const io0 = procIo();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  let step = 0;
  let c = 0;
  for (let sent = 0; sent < N; sent += STEPS * SENSORS.length) {
    const chunk = pool[c++ % POOL]!;
    for (let s = 0; s < STEPS; s++, step++) {
      const base = s * SENSORS.length;
      for (let j = 0; j < SENSORS.length; j++) {
        const r = chunk[base + j]!;
        r.ts = 1_700_000_000_000 + step * 10;
        r.value = model.means[j]! * (1 + 0.01 * Math.sin(step * 0.01 + j));
      }
    }
    pending.push(agent.ingest(chunk));
    if (pending.length >= 4) await pending.shift();
  }
  await Promise.all(pending);
  const drained = await agent.publisher!.flush(120_000);
  await agent.inference!.idle();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const io1 = procIo();
  clearInterval(sampler);
  const sum = agent.inference!.summary();
  if (sum.windows === 0) console.error(`${label}: no windows scored: ${agent.lastError ?? "(no error)"}; models ${JSON.stringify(agent.inference!.models())}`);
  const messages = agent.publisher!.stats.messages;
  const total = Math.ceil(N / (STEPS * SENSORS.length)) * STEPS * SENSORS.length;
  let dbBytes = 0;
  for (const f of readdirSync(dataDir)) dbBytes += statSync(join(dataDir, f)).size;
  await agent.close(0);
  if (!drained) throw new Error(`${label}: the outbox did not drain`);
  return {
    readingsPerS: (total / ms) * 1000,
    cpuUsPerReading: (cpu.user + cpu.system) / total,
    peakRssMB: peakRss / 2 ** 20,
    diskBytesPerReading: (io1.writeBytes - io0.writeBytes) / total,
    wcharPerReading: (io1.wchar - io0.wchar) / total,
    windows: sum.windows,
    messages,
    dbBytes,
  };
}

function report(label: string, r: PipelineResult, rawMsgs: number, rawRows: number): void {
  console.log(`\npipeline against ${label}: ${fmt(N)} readings, inference on every window`);
  console.log(`  readings/s            ${fmt(r.readingsPerS)}   (target >= 200,000)`);
  console.log(`  windows scored        ${fmt(r.windows)}   messages ${fmt(r.messages)} (${fmt(N / Math.max(1, r.messages))} readings/message)`);
  console.log(`  CPU per reading       ${fmt(r.cpuUsPerReading, 2)} µs (agent process: user + system, ORT included)`);
  console.log(`  peak RSS              ${fmt(r.peakRssMB, 1)} MB (target <= 120)`);
  console.log(`  disk bytes/reading    ${fmt(r.diskBytesPerReading, 1)} written to storage (/proc/self/io write_bytes), ${fmt(r.wcharPerReading, 1)} via write() (wchar)`);
  console.log(`  vs raw limits         SQLite insert ${fmt((r.readingsPerS / rawRows) * 100, 0)}%, MQTT publish ${fmt(rawMsgs * 2000)} readings/s-equivalent (${fmt((r.readingsPerS / (rawMsgs * 2000)) * 100, 0)}%)`);
}

// ---------- main ----------

if (process.argv[2] === '--child') {
  // one pipeline in a process of its own: RSS and CPU are the agent's alone
  const [, , , url, label, json] = process.argv;
  const r = await pipeline(url!, JSON.parse(json!) as Parameters<typeof pipeline>[1], label!);
  process.stdout.write(JSON.stringify(r) + '\n');
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

/** Run `pipeline` in a child process (node + the tsx loader, like bin/edgeloop.js); returns its figures. */
async function pipelineInChild(url: string, m: BenchModel, label: string): Promise<PipelineResult> {
  const inputs = m.manifest.inputs;
  const sensors = inputs.kind === 'window' ? inputs.sensors : SENSORS;
  const means = inputs.kind === 'window' ? inputs.normalization.mean.map((x) => x || 1) : SENSORS.map(() => 1);
  const arg = JSON.stringify({ dir: m.dir, keys: m.keys, sensors, means });
  // BENCH_CHILD_FLAGS: node flags for the agent process, e.g. --max-old-space-size=64 (as the systemd unit sets)
  const flags = (process.env.BENCH_CHILD_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, ...process.execArgv, import.meta.filename, '--child', url, label, arg], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`${label} pipeline child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as PipelineResult;
}

async function idleRss(): Promise<number> {
  const code = `await import(${JSON.stringify(join(import.meta.dirname, '..', 'agent', 'create-agent.ts'))}); await import('onnxruntime-node'); await import('mqtt'); process.stdout.write(String(process.memoryUsage.rss()));`;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  return Number(out) / 2 ** 20;
}

console.log(machineLine());
const model = benchModel();
console.log(`model: ${model.source}`);
const rssStart = process.memoryUsage.rss();
const aedes = await startAedesProcess();
const results: Record<string, PipelineResult> = {};
try {
  results.aedes = await pipelineInChild(aedes.url, model, 'aedes');
} finally {
  /* keep aedes for the raw publish figure */
}
let mosq: Awaited<ReturnType<typeof startMosquitto>> | undefined;
if (process.env.BENCH_SKIP_MOSQUITTO !== '1') {
  mosq = await startMosquitto();
  results.mosquitto = await pipelineInChild(mosq.url, model, 'mosquitto');
}
// raw limits, same run
const sqlite = rawSqlite();
const payloadBytes = 2000 * 58; // about the agent's telemetry message size
const mqAedes = await rawMqtt(aedes.url, payloadBytes, 1500);
const mqMosq = mosq ? await rawMqtt(mosq.url, payloadBytes, 1500) : undefined;
const ort = await rawOrt(model.modelPath, model.manifest, 1024);
const ort1 = await rawOrt(model.modelPath, model.manifest, 1);
await aedes.close();
await mosq?.close();

console.log('\nraw limits (same run):');
console.log(`  better-sqlite3 WAL NORMAL, 1000 rows/transaction   ${fmt(sqlite.rowsPerS)} rows/s`);
console.log(`  mqtt.js QoS 1, ${fmt(payloadBytes / 1024, 0)} KiB, 8 in flight, aedes (process)  ${fmt(mqAedes.msgsPerS)} msgs/s = ${fmt(mqAedes.msgsPerS * 2000)} readings/s at 2000/message`);
if (mqMosq) console.log(`  same against mosquitto                             ${fmt(mqMosq.msgsPerS)} msgs/s = ${fmt(mqMosq.msgsPerS * 2000)} readings/s`);
console.log(`  bare ORT run, batch 1024 windows                   ${fmt(ort.windowsPerS)} windows/s (p50 ${fmt(ort.p50us)} µs per call)`);
console.log(`  bare ORT run, batch 1                              ${fmt(ort1.windowsPerS)} windows/s (p50 ${fmt(ort1.p50us, 1)} µs per call)`);
report('aedes (separate process)', results.aedes!, mqAedes.msgsPerS, sqlite.rowsPerS);
if (results.mosquitto && mqMosq) report('mosquitto', results.mosquitto, mqMosq.msgsPerS, sqlite.rowsPerS);
console.log(`\nRSS of an idle process with the agent's modules loaded (node + tsx loader + ORT + mqtt + SQLite): ${fmt(await idleRss(), 1)} MB; this bench process at start ${fmt(rssStart / 2 ** 20, 1)} MB`);
rmSync(work, { recursive: true, force: true });
process.exit(0);
