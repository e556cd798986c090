// One agent pipeline in a process of its own, for bench/agent/agent.bench.ts: plain JS over the compiled agent (dist/),
// the way bin/edgeloop-agent runs it, so the process's RSS and CPU are the agent's alone (no TypeScript loader).
// argv: url label json({dir, keys, sensors, means, readings, transport?}); prints one JSON line of figures.
// `transport` replaces the default mqtt.js transport to `url` (the AWS IoT transport run). `shadow: true` runs the
// same model a second time as a shadow candidate beside the active one (a retrained candidate of the same
// architecture: the cost of the shadow stage), its decisions paired with the active model's.
// Readings are generated here and handed to agent.ingest() in chunks (the path every source takes after parsing):
// outbox commit → window assembly → ORT → telemetry and events published → PUBACK → delete.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent } from '../../dist/agent/create-agent.js';
import { parseManifest } from '../../dist/protocol/manifest.js';

const [, , url, label, json] = process.argv;
const model = JSON.parse(json);
const N = model.readings;
const SENSORS = model.sensors;

function procStatusKiB(key) {
  return Number(
    new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN,
  );
}
function procIo() {
  try {
    const t = readFileSync('/proc/self/io', 'utf8');
    const get = (k) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(t)?.[1] ?? Number.NaN);
    return { writeBytes: get('write_bytes'), wchar: get('wchar') };
  } catch {
    return { writeBytes: Number.NaN, wchar: Number.NaN };
  }
}

const dataDir = mkdtempSync(join(tmpdir(), `edgeloop-bench-agent-${label}-`));
// the agent's defaults (docs/agent.md) except what a bench must pin: no status chatter, one event per cooldown
const agent = createAgent({
  config: {
    deviceId: `bench-${label}`,
    dataDir,
    transport: model.transport ?? { kind: 'mqtt', url, clean: true },
    models: { initial: [model.dir], trustedKeys: model.keys, updates: false },
    inference: { cooldownMs: 60_000 },
    status: { intervalMs: 60_000 },
  },
});
await agent.start();
await new Promise((r) => (agent.transport.connected ? r() : agent.transport.on('connect', () => r())));
if (model.shadow) {
  const manifest = parseManifest(JSON.parse(readFileSync(join(model.dir, 'manifest.json'), 'utf8')));
  await agent.inference.activateShadow(manifest, join(model.dir, manifest.artifact.file));
}
const startedRssMB = process.memoryUsage.rss() / 2 ** 20;

// reusable chunks of 512 steps x the model's sensors, two in flight: what a busy source hands the agent
const STEPS = 512;
const POOL = 6;
const pool = Array.from({ length: POOL }, () =>
  Array.from({ length: STEPS * SENSORS.length }, (_, i) => ({ sensor: SENSORS[i % SENSORS.length], ts: 0, value: 0 })),
);
let peakRss = process.memoryUsage.rss();
let atPeak = process.memoryUsage();
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) {
    peakRss = rss;
    atPeak = process.memoryUsage();
  }
}, 20);
const io0 = procIo();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const pending = [];
let step = 0;
let c = 0;
let total = 0;
for (let sent = 0; sent < N; sent += STEPS * SENSORS.length) {
  const chunk = pool[c++ % POOL];
  for (let s = 0; s < STEPS; s++, step++) {
    const base = s * SENSORS.length;
    for (let j = 0; j < SENSORS.length; j++) {
      const r = chunk[base + j];
      r.ts = 1_700_000_000_000 + step * 10;
      r.value = model.means[j] * (1 + 0.01 * Math.sin(step * 0.01 + j));
    }
  }
  total += chunk.length;
  pending.push(agent.ingest(chunk));
  if (pending.length >= 2) await pending.shift();
}
await Promise.all(pending);
const drained = await agent.publisher.flush(120_000);
await agent.inference.idle();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const io1 = procIo();
clearInterval(sampler);
const sum = agent.inference.summary();
const shadow = agent.inference.shadowReports()[0];
const messages = agent.publisher.stats.messages;
let dbBytes = 0;
for (const f of readdirSync(dataDir)) dbBytes += statSync(join(dataDir, f)).size;
const hwmMB = procStatusKiB('VmHWM') / 1024;
await agent.close(0);
rmSync(dataDir, { recursive: true, force: true });
if (!drained) {
  console.error(`${label}: the outbox did not drain`);
  process.exit(1);
}
const mb = (b) => b / 2 ** 20;
process.stdout.write(
  JSON.stringify({
    readingsPerS: (total / ms) * 1000,
    readings: total,
    cpuUsPerReading: (cpu.user + cpu.system) / total,
    peakRssMB: hwmMB,
    startedRssMB,
    atPeakMB: {
      rss: mb(peakRss),
      heapTotal: mb(atPeak.heapTotal),
      heapUsed: mb(atPeak.heapUsed),
      external: mb(atPeak.external),
      arrayBuffers: mb(atPeak.arrayBuffers),
    },
    diskBytesPerReading: (io1.writeBytes - io0.writeBytes) / total,
    wcharPerReading: (io1.wchar - io0.wchar) / total,
    windows: sum.windows,
    ...(shadow ? { shadow } : {}),
    messages,
    dbBytes,
  }) + '\n',
);
process.exit(0);
