/**
 * npm run bench:maintenance [-- --calls 20000]
 *
 * Latency of the maintenance part's scoring: one device's new cycle handed to MaintenanceService.observe() until its
 * prediction is served (sequence buffer, window assembly, the queue, one ONNX Runtime call of the shipped RUL model,
 * alert update), against the raw limit measured in the same run: the same model's `OrtModelRunner.run` on one
 * window. Interleaved call by call, after a warm-up. Then the batched path: 256 devices completing a cycle at once.
 * Figures through bench/lib/report.ts into bench/results/maintenance.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteAlertStore } from '../../cloud/maintenance/alert-store.ts';
import { MaintenanceService } from '../../cloud/maintenance/maintenance-service.ts';
import { loadRulModel } from '../../cloud/maintenance/rul-model.ts';
import { DEFAULT_RUL_DIR } from '../../cloud/parts/maintenance.ts';
import { packagePath } from '../../lib/package-root.ts';
import type { TelemetryMessage } from '../../protocol/messages.ts';
import { BenchReport } from '../lib/report.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20000' } } });
const calls = Number(values.calls);
const key = readFileSync(packagePath('models', 'default', 'keys', 'edgeloop-default.pub'), 'utf8');
const raw = await loadRulModel(DEFAULT_RUL_DIR, [key]);
const svcModel = await loadRulModel(DEFAULT_RUL_DIR, [key]);
const dir = mkdtempSync(join(tmpdir(), 'edgeloop-maint-bench-'));
const svc = new MaintenanceService({
  manifest: svcModel.manifest,
  runner: svcModel.runner,
  store: new SqliteAlertStore({ path: join(dir, 'maintenance.db') }),
});
await svc.start();
const m = raw.manifest;
const sensors = (m.inputs as { sensors: string[] }).sensors;
const row = m.testVector.input[0]!; // a healthy engine (RUL ~127): no alert fires
const window = new Float32Array(row);
let seq = 0;
let ts = 1_764_000_000_000;
const cycle = (deviceId: string, k: number): TelemetryMessage => {
  ts += 1000;
  const readings = sensors.map((sensor, j) => ({ seq: ++seq, sensor, ts, value: row[(k % 30) * sensors.length + j]! }));
  return { v: 1, type: 'telemetry', deviceId, seq: readings[0]!.seq, sentAt: ts, readings };
};

const report = new BenchReport('maintenance');
console.log(`model ${m.name} ${m.version}; ${calls} calls each after ${Math.min(2000, calls)} warm-up, interleaved`);
for (let k = 0; k < 30; k++) svc.observe(cycle('bench', k));
await svc.idle();
const rawT: number[] = [];
const svcT: number[] = [];
for (let i = 0; i < Math.min(2000, calls) + calls; i++) {
  const a = performance.now();
  await raw.runner.run(window, 1);
  const msg = cycle('bench', i);
  const b = performance.now();
  svc.observe(msg);
  await svc.idle();
  const c = performance.now();
  if (i >= Math.min(2000, calls)) {
    rawT.push((b - a) * 1000);
    svcT.push((c - b) * 1000);
  }
}
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
console.log('one device: observe(cycle) → prediction served; raw limit: OrtModelRunner.run of one window');
for (const [label, p] of [
  ['p50', 0.5],
  ['p95', 0.95],
  ['p99', 0.99],
] as const)
  report.figure({ label, value: q(svcT, p), unit: 'µs', raw: q(rawT, p) });
console.log(`served ${svc.stats().scored} windows in ${svc.stats().batches} batches`);

// batched: 256 devices complete a cycle in the same tick
const devices = Array.from({ length: 256 }, (_, i) => `dev-${i}`);
for (let k = 0; k < 30; k++) for (const d of devices) svc.observe(cycle(d, k));
await svc.idle();
const rounds = 50;
let batchMs = 0;
let rawBatchMs = 0;
const batch = new Float32Array(256 * window.length);
for (let i = 0; i < 256; i++) batch.set(window, i * window.length);
for (let r = 0; r < rounds; r++) {
  const msgs = devices.map((d) => cycle(d, r));
  const a = performance.now();
  for (const msg of msgs) svc.observe(msg);
  await svc.idle();
  const b = performance.now();
  await raw.runner.run(batch, 256);
  const c = performance.now();
  batchMs += b - a;
  rawBatchMs += c - b;
}
console.log(`batched: 256 devices per tick, ${rounds} rounds; raw limit: OrtModelRunner.run of 256 windows`);
report.figure({
  label: '256 devices per tick',
  value: (rounds * 256) / (batchMs / 1000),
  unit: 'windows/s',
  raw: (rounds * 256) / (rawBatchMs / 1000),
  decimals: 0,
});
await svc.close();
await raw.runner.close();
rmSync(dir, { recursive: true, force: true });
report.write();
