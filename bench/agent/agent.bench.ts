/**
 * Agent benchmark (npm run bench:agent): readings/s through ingest → SQLite outbox → windowing + ONNX inference
 * on every window → publish → PUBACK → delete, against aedes (a separate process) and against mosquitto; CPU time
 * per reading, peak RSS, bytes written to disk per reading. In the same run, the raw limits: better-sqlite3
 * batched insert, mqtt.js QoS 1 publish rate (same message size as the agent's), a bare ORT run.
 *
 * Each pipeline runs in a process of its own (bench/agent/agent-pipeline-child.mjs: plain node over the compiled dist/,
 * the agent's default config, as bin/edgeloop-agent runs it), so CPU and RSS (the kernel's VmHWM) are the agent's
 * alone; the broker is another process. The target run uses the device memory profile of deploy/agent.env; a
 * second aedes run with node's defaults shows what the profile buys.
 *
 * The shadow run (BENCH_SKIP_SHADOW=1 skips it) is the device-profile aedes run with a second session: the same
 * model as a shadow candidate beside the active one (issue 14's shadow stage), for its RSS and CPU cost.
 *
 * Env: BENCH_READINGS (default 2 000 000 per pipeline run), BENCH_SKIP_MOSQUITTO=1 (also skips the AWS IoT transport
 * runs, which use mosquitto over MQTT 5), BENCH_SKIP_AWS=1, BENCH_SKIP_DEFAULTS=1,
 * BENCH_CHILD_FLAGS (extra node flags of the agent process), BENCH_GENERATED_MODEL=1 (ignore models/default).
 * Figures through bench/lib/report.ts into bench/results/agent.json, each run's keyed by its configuration.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { BenchReport } from '../lib/report.ts';
import { OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import { GraphBuilder, floatTensorInfo } from '../../models/onnx/graph-builder.ts';
import { describeArtifact, writeModelDir } from '../../models/manifest/index.ts';
import type { Manifest, ManifestInput } from '../../protocol/manifest.ts';
import { parseManifest } from '../../protocol/manifest.ts';
import { startMosquitto } from '../../test/helpers/mosquitto.ts';

const N = Number(process.env.BENCH_READINGS ?? 2_000_000);
const SENSORS = ['temperature', 'vibration', 'pressure', 'current'];
const work = mkdtempSync(join(tmpdir(), 'edgeloop-bench-agent-'));

function fmt(n: number, d = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
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
  const shipped = join(import.meta.dirname, '..', '..', 'models', 'default', 'anomaly');
  const key = join(import.meta.dirname, '..', '..', 'models', 'default', 'keys', 'edgeloop-default.pub');
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
  const w1 = g.floatConst(
    'w1',
    Array.from({ length: w * 16 }, () => rand() * 0.3),
    [w, 16],
  );
  const b1 = g.floatConst(
    'b1',
    Array.from({ length: 16 }, () => 0),
    [16],
  );
  const w2 = g.floatConst(
    'w2',
    Array.from({ length: 16 * w }, () => rand() * 0.3),
    [16, w],
  );
  const b2 = g.floatConst(
    'b2',
    Array.from({ length: w }, () => 0),
    [w],
  );
  const h = g.op('Relu', [g.op('Gemm', [x, w1, b1])]);
  const y = g.op('Gemm', [h, w2, b2]);
  const d = g.op('Sub', [y, x]);
  const score = g.op('ReduceMean', [g.op('Mul', [d, d])], { axes: [1], keepdims: 1 });
  g.bindOutput(score, 'score');
  const onnx = g.encode({
    opset: 13,
    graphName: 'ae',
    inputs: [floatTensorInfo('window', ['batch', w])],
    outputs: [floatTensorInfo('score', ['batch', 1])],
    producerVersion: 'bench',
  });
  const input = [Array.from({ length: w }, () => 0)];
  const m: ManifestInput = {
    schema: 'edgeloop.model/v1',
    name: 'anomaly',
    version: 'bench',
    kind: 'anomaly',
    createdAt: new Date(0).toISOString(),
    artifact: describeArtifact(onnx),
    inputs: {
      kind: 'window',
      name: 'window',
      sensors: SENSORS,
      window: { length: L, stride: 1 },
      normalization: { mean: [0, 0, 0, 0], std: [1, 1, 1, 1], folded: true },
    },
    output: { name: 'score', kind: 'score' },
    threshold: 1e9,
    testVector: { input, expected: [[0]], tolerance: 1e-3 },
  };
  const dir = join(work, 'model');
  writeModelDir(dir, { onnx, manifest: m });
  return {
    dir,
    manifest: parseManifest(m),
    modelPath: join(dir, 'model.onnx'),
    source: 'generated 32→16→32 autoencoder, window 8 x 4 sensors, stride 1',
    keys: [],
  };
}

// ---------- brokers ----------

async function startAedesProcess(): Promise<{
  url: string;
  pid: number;
  cpuMs: () => number;
  close: () => Promise<void>;
}> {
  const code = `
    import { createServer } from 'node:net';
    import { Aedes } from 'aedes';
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.on('message', () => process.send(process.cpuUsage()));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
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

async function rawOrt(
  modelPath: string,
  manifest: Manifest,
  batch: number,
): Promise<{ windowsPerS: number; p50us: number }> {
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
  readings: number;
  cpuUsPerReading: number;
  /** VmHWM of the agent process: the kernel's peak RSS over its whole life, start-up included */
  peakRssMB: number;
  startedRssMB: number;
  /** process.memoryUsage() at the highest sampled RSS: what part of it V8 holds */
  atPeakMB: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  diskBytesPerReading: number;
  wcharPerReading: number;
  windows: number;
  messages: number;
  dbBytes: number;
  /** the shadow run: what the candidate reported */
  shadow?: { windows: number; agreements: number; p50Ms: number; p99Ms: number };
}

/** Record one pipeline run's figures under `config` (its broker and memory profile). */
function reportPipeline(config: string, r: PipelineResult, rawMsgs: number, rawRows: number): void {
  console.log(`\npipeline, ${config}: ${fmt(r.readings)} readings, inference on every window`);
  const f = (label: string, value: number, unit: string, decimals: number, more = {}) =>
    bench.figure({ config, label, value, unit, decimals, ...more });
  // the raw limit of the whole path: the SQLite insert alone (same run)
  f('readings/s', r.readingsPerS, 'readings/s', 0, {
    raw: rawRows,
    rawUnit: 'rows/s (SQLite insert)',
    target: { op: '>=', value: 200_000 },
  });
  f('MQTT publish, readings/s-equivalent', r.readingsPerS, 'readings/s', 0, {
    raw: rawMsgs * 2000,
    rawUnit: 'readings/s (mqtt.js QoS 1 at 2000 per message)',
  });
  f('windows scored', r.windows, 'windows', 0);
  f('messages', r.messages, 'messages', 0);
  f('readings per message', r.readings / Math.max(1, r.messages), 'readings', 0);
  f('CPU per reading', r.cpuUsPerReading, 'µs', 2); // agent process: user + system, ORT included
  f('peak RSS', r.peakRssMB, 'MB', 1, { target: { op: '<=', value: 120 } }); // VmHWM
  f('RSS once started', r.startedRssMB, 'MB', 1); // before the load
  const p = r.atPeakMB;
  f('V8 heap at the peak', p.heapTotal, 'MB', 1);
  f('V8 heap used at the peak', p.heapUsed, 'MB', 1);
  f('external at the peak', p.external, 'MB', 1);
  f('native rest at the peak', p.rss - p.heapTotal - p.external, 'MB', 1); // node, ONNX Runtime, SQLite, malloc
  f('disk bytes per reading, write_bytes', r.diskBytesPerReading, 'B', 1); // written to storage (/proc/self/io)
  f('disk bytes per reading, wchar', r.wcharPerReading, 'B', 1); // through write()
}

// ---------- main ----------

/** The device memory profile (deploy/agent.env, as bin/edgeloop-agent applies it): node flags and environment. */
function deviceProfile(): { flags: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'agent.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  const flags = (env.EDGELOOP_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  delete env.EDGELOOP_NODE_FLAGS;
  return { flags, env };
}

/** Compile dist/ when it is missing or older than the sources: the bench measures the agent as installed. */
function ensureDist(): void {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'scripts', 'build.mjs'), '--quiet'], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('npm run build failed');
}

/** Run one pipeline in a process of its own (plain node over dist/, like bin/edgeloop-agent); returns its figures. */
async function pipelineInChild(
  url: string,
  m: BenchModel,
  label: string,
  profile: 'device' | 'node-defaults',
  transport?: Record<string, unknown>,
  shadow = false,
): Promise<PipelineResult> {
  const inputs = m.manifest.inputs;
  const sensors = inputs.kind === 'window' ? inputs.sensors : SENSORS;
  const means = inputs.kind === 'window' ? inputs.normalization.mean.map((x) => x || 1) : SENSORS.map(() => 1);
  const arg = JSON.stringify({
    dir: m.dir,
    keys: m.keys,
    sensors,
    means,
    readings: N,
    ...(transport ? { transport } : {}),
    ...(shadow ? { shadow: true } : {}),
  });
  const p = profile === 'device' ? deviceProfile() : { flags: [], env: {} };
  // BENCH_CHILD_FLAGS: extra node flags for the agent process, to try other settings
  const extra = (process.env.BENCH_CHILD_FLAGS ?? '').split(' ').filter(Boolean);
  const env: NodeJS.ProcessEnv = { ...process.env, ...p.env };
  if (profile === 'node-defaults')
    for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'UV_THREADPOOL_SIZE'])
      delete env[k];
  const child = spawn(
    process.execPath,
    [...p.flags, ...extra, join(import.meta.dirname, 'agent-pipeline-child.mjs'), url, label, arg],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`${label} pipeline child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as PipelineResult;
}

/** RSS of a process that has loaded the compiled agent and its native modules, nothing started */
async function idleRss(profile: boolean): Promise<number> {
  const code = `await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'agent', 'create-agent.js'))}); await import('onnxruntime-node'); await import('mqtt'); process.stdout.write(String(process.memoryUsage.rss()));`;
  const p = profile ? deviceProfile() : { flags: [], env: {} };
  const child = spawn(process.execPath, [...p.flags, '--input-type=module', '-e', code], {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...p.env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  return Number(out) / 2 ** 20;
}

const bench = new BenchReport('agent');
const model = benchModel();
console.log(`model: ${model.source}`);
ensureDist();
const aedes = await startAedesProcess();
const results: Record<string, PipelineResult> = {};
// the device profile (deploy/agent.env) is what ships and what the target is about; node's defaults for comparison
results.aedes = await pipelineInChild(aedes.url, model, 'aedes', 'device');
if (process.env.BENCH_SKIP_SHADOW !== '1')
  results.aedesShadow = await pipelineInChild(aedes.url, model, 'aedes-shadow', 'device', undefined, true);
if (process.env.BENCH_SKIP_DEFAULTS !== '1')
  results.aedesDefaults = await pipelineInChild(aedes.url, model, 'aedes-defaults', 'node-defaults');
let mosq: Awaited<ReturnType<typeof startMosquitto>> | undefined;
if (process.env.BENCH_SKIP_MOSQUITTO !== '1') {
  mosq = await startMosquitto();
  results.mosquitto = await pipelineInChild(mosq.url, model, 'mosquitto', 'device');
  if (process.env.BENCH_SKIP_AWS !== '1') {
    // the AWS IoT Core transport (aws-iot-device-sdk-v2, MQTT 5) against the same mosquitto over plain TCP: with its
    // default cap of 100 publishes/s (IoT Core's per-connection limit) and uncapped
    const aws = { kind: 'aws-iot', endpoint: mosq.host, port: mosq.port, insecurePlaintext: true };
    results.awsCapped = await pipelineInChild(mosq.url, model, 'aws-iot-100', 'device', aws);
    results.awsUncapped = await pipelineInChild(mosq.url, model, 'aws-iot', 'device', {
      ...aws,
      publishRatePerSecond: 0,
    });
  }
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
const rawFigure = (label: string, value: number, unit: string, decimals = 0) =>
  bench.figure({ label, value, unit, decimals });
rawFigure('raw: better-sqlite3 WAL NORMAL, 1000 rows/transaction', sqlite.rowsPerS, 'rows/s');
rawFigure(`raw: mqtt.js QoS 1, ${fmt(payloadBytes / 1024, 0)} KiB, 8 in flight, aedes`, mqAedes.msgsPerS, 'msgs/s');
if (mqMosq) rawFigure('raw: mqtt.js QoS 1, same, mosquitto', mqMosq.msgsPerS, 'msgs/s');
rawFigure('raw: bare ORT run, batch 1024', ort.windowsPerS, 'windows/s');
rawFigure('raw: bare ORT run, batch 1024, p50 per call', ort.p50us, 'µs');
rawFigure('raw: bare ORT run, batch 1', ort1.windowsPerS, 'windows/s');
rawFigure('raw: bare ORT run, batch 1, p50 per call', ort1.p50us, 'µs', 1);
reportPipeline('aedes, device profile', results.aedes!, mqAedes.msgsPerS, sqlite.rowsPerS);
if (results.aedesShadow) {
  const r = results.aedesShadow;
  const config = 'aedes, device profile, shadow candidate';
  reportPipeline(config, r, mqAedes.msgsPerS, sqlite.rowsPerS);
  const one = results.aedes!;
  console.log('shadow cost against the single-model run:');
  bench.figure({ config, label: 'shadow cost, peak RSS', value: r.peakRssMB - one.peakRssMB, unit: 'MB', decimals: 1 });
  bench.figure({
    config,
    label: 'shadow cost, CPU per reading',
    value: r.cpuUsPerReading - one.cpuUsPerReading,
    unit: 'µs',
    decimals: 2,
  });
  if (r.shadow) {
    bench.figure({ config, label: 'shadow windows paired', value: r.shadow.windows, unit: 'windows', decimals: 0 });
    bench.figure({
      config,
      label: 'shadow agreement',
      value: r.shadow.agreements / Math.max(1, r.shadow.windows),
      unit: '',
      decimals: 3,
    });
    bench.figure({ config, label: 'candidate p50 per batch', value: r.shadow.p50Ms, unit: 'ms', decimals: 3 });
    bench.figure({ config, label: 'candidate p99 per batch', value: r.shadow.p99Ms, unit: 'ms', decimals: 3 });
  }
}
if (results.aedesDefaults)
  reportPipeline('aedes, Node defaults', results.aedesDefaults, mqAedes.msgsPerS, sqlite.rowsPerS);
if (results.mosquitto && mqMosq)
  reportPipeline('mosquitto, device profile', results.mosquitto, mqMosq.msgsPerS, sqlite.rowsPerS);
// mosquitto via the AWS IoT transport (MQTT 5), device profile: with IoT Core's 100 publishes/s cap, and without
if (results.awsCapped && mqMosq)
  reportPipeline('AWS IoT transport, 100/s cap', results.awsCapped, mqMosq.msgsPerS, sqlite.rowsPerS);
if (results.awsUncapped && mqMosq)
  reportPipeline('AWS IoT transport, uncapped', results.awsUncapped, mqMosq.msgsPerS, sqlite.rowsPerS);
// an idle process with the compiled agent's modules loaded (node + ORT + mqtt + SQLite, nothing started)
console.log('\nidle process, compiled agent modules loaded:');
bench.figure({ label: 'idle RSS, device profile', value: await idleRss(true), unit: 'MB', decimals: 1 });
bench.figure({ label: 'idle RSS, Node defaults', value: await idleRss(false), unit: 'MB', decimals: 1 });
bench.write();
rmSync(work, { recursive: true, force: true });
process.exit(0);
