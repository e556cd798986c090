/**
 * Cost of the streaming NAB detector (models/nab/adaptive-detector.ts) per stream: CPU per point and memory per
 * stream, as the agent would pay them on a device stream (npm run bench:nab-detector).
 *
 * Measures, in one run and interleaved chunk by chunk (so both see the same machine load):
 * - the raw loop limit: the least a streaming detector does per point — write the value into a ring of
 *   `historyRows` doubles and keep a running sum (ns per point);
 * - the detector: AdaptiveDetector.update per point (ns per point, points/s, ratio to the raw loop);
 * both as on-CPU time (process.cpuUsage), which preemption by other processes does not inflate, and wall time.
 * Memory per stream: heap growth of `--streams` detectors after each has seen enough points to fill its windows,
 * divided by their number (run under node --expose-gc for a stable figure; tsx passes the flag on).
 *
 * Options: --points N (per measured stream, default 200000), --streams N (memory, default 200),
 * --learn N (learning rows, default 750: NAB's largest probationary period).
 */
import { parseArgs } from 'node:util';
import { AdaptiveDetector } from '../../models/nab/adaptive-detector.ts';
import { machineLine } from '../lib/machine.ts';

const { values: args } = parseArgs({
  options: { points: { type: 'string' }, streams: { type: 'string' }, learn: { type: 'string' } },
  strict: true,
});
const points = Number(args.points ?? 200_000);
const streams = Number(args.streams ?? 200);
const learnRows = Number(args.learn ?? 750);

/** A seeded device-like signal: daily cycle (288 points), noise, a few spikes and a level shift. */
function signal(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = 50 + 10 * Math.sin((2 * Math.PI * i) / 288) + 2 * (rnd() - 0.5) + (rnd() < 0.0005 ? 30 : 0);
    if (i > n / 2) out[i]! += 5;
  }
  return out;
}

console.log(machineLine());
const x = signal(points, 1);
const det = new AdaptiveDetector({ learnRows });
const history = det.options.historyRows;
console.log(`detector options: ${JSON.stringify(det.options)}`);

// Raw loop: ring write + running sum, the floor of any sliding-window detector.
const ring = new Float64Array(history);
let head = 0;
let sum = 0;
let sink = 0;
const rawLoop = (from: number, to: number): void => {
  for (let i = from; i < to; i++) {
    sum += x[i]! - ring[head]!;
    ring[head] = x[i]!;
    head = (head + 1) % history;
    sink += sum;
  }
};
const detect = (from: number, to: number): void => {
  for (let i = from; i < to; i++) sink += det.update(x[i]!, i);
};

const chunk = 5000;
// The raw loop is ~1000x cheaper: it runs rawReps times per chunk so its timed span is well above the clock's grain.
const rawReps = 50;
const rawRepeated = (a: number, b: number): void => {
  for (let r = 0; r < rawReps; r++) rawLoop(a, b);
};
const cpu = { raw: 0, det: 0 };
const wall = { raw: 0, det: 0 };
const timed = (f: (a: number, b: number) => void, a: number, b: number, key: 'raw' | 'det'): void => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f(a, b);
  wall[key] += performance.now() - t0;
  const c = process.cpuUsage(c0);
  cpu[key] += (c.user + c.system) / 1000;
};
// warm-up outside the figures: the learning period and JIT
detect(0, Math.min(points, learnRows + 5000));
rawLoop(0, Math.min(points, learnRows + 5000));
const start = Math.min(points, learnRows + 5000);
for (let a = start; a < points; a += chunk) {
  const b = Math.min(points, a + chunk);
  timed(rawRepeated, a, b, 'raw');
  timed(detect, a, b, 'det');
}
const measured = points - start;
const ns = (ms: number): number => (ms * 1e6) / measured;
cpu.raw /= rawReps;
wall.raw /= rawReps;
console.log(
  `raw loop limit (ring of ${history} + running sum): ${ns(cpu.raw).toFixed(1)} ns/point on-CPU (${ns(wall.raw).toFixed(1)} wall)`,
);
console.log(
  `detector: ${ns(cpu.det).toFixed(0)} ns/point on-CPU (${ns(wall.det).toFixed(0)} wall), ${(1e9 / ns(cpu.det) / 1000).toFixed(0)}k points/s per core, ${(ns(cpu.det) / ns(cpu.raw)).toFixed(0)}x the raw loop, over ${measured} points`,
);

// Memory per stream.
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
const fleet: AdaptiveDetector[] = [];
const feed = signal(learnRows + Math.max(history, 2000) + 1500, 2);
for (let k = 0; k < streams; k++) {
  const d = new AdaptiveDetector({ learnRows });
  for (let i = 0; i < feed.length; i++) d.update(feed[i]!, i);
  fleet.push(d);
}
gc?.();
const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
const o = det.options;
const typedBytes = 8 * (4 * 2 * o.historyRows + 4 * (o.longRows + o.shortRows)) + 4 * 8;
console.log(
  `memory per stream: ${((after - before) / streams / 1024).toFixed(1)} KiB measured over ${fleet.length} streams${gc ? '' : ' (no --expose-gc: rough)'}; typed-array state ${(typedBytes / 1024).toFixed(1)} KiB (4 x 2 x ${o.historyRows} + 4 x (${o.longRows} + ${o.shortRows}) doubles) + up to max(period, smoothRows) + 1025 past values`,
);
if (sink === 42) console.log('');
