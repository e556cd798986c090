/**
 * The retraining job's cost, and what it does to the cloud's event loop:
 * 1. a whole job (select → … → record) on an archive of DEVICES devices × HOURS hours at one step per second
 *    (two sensors; the champion's window 16), with the time of each step;
 * 2. the event-loop delay (perf_hooks, 10 ms resolution) of the process running the job, while it runs: training
 *    is in a child process, so the loop should stay near its idle figure;
 * 3. the raw limits measured in the same run: the idle loop's delay, and the delay while one training epoch over
 *    the same windows runs in-process (what the job would do to the cloud's loop without the child).
 * Run: npx tsx bench/cloud/retrain.bench.ts [devices] [hours]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildAutoencoder, trainAutoencoder } from '../../models/anomaly/autoencoder.ts';
import { buildWindows, fitNormalization, normalizeWindows } from '../../models/anomaly/windows.ts';
import { loadTf } from '../../models/training/load-tf.ts';
import { Retrainer } from '../../cloud/retrain/retrainer.ts';
import { readSegments } from '../../cloud/retrain/segment-files.ts';
import { registryWithChampion, STEP_MS, writeArchive } from '../../test/cloud/retrain/fixture.ts';
import { machineLine } from '../lib/machine.ts';

const DEVICES = Number(process.argv[2] ?? 10);
const HOURS = Number(process.argv[3] ?? 1);
const WINDOW = 16;
const EPOCHS = 10;

function delay<T>(fn: () => Promise<T>): Promise<{ result: T; p99: number; max: number; ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  return fn().then((result) => {
    h.disable();
    return { result, p99: h.percentile(99) / 1e6, max: h.max / 1e6, ms: performance.now() - t0 };
  });
}

async function main(): Promise<void> {
  console.log(machineLine());
  const dir = mkdtempSync(join(tmpdir(), 'el-retrain-bench-'));
  try {
    const steps = HOURS * 3600;
    const t0 = Date.UTC(2026, 0, 5);
    await writeArchive(dir, {
      devices: Array.from({ length: DEVICES }, (_, i) => ({ id: `d${i}`, site: 'north' })),
      steps,
      t0,
      shift: () => [3, 0],
    });
    const registry = await registryWithChampion(dir, WINDOW);
    const idle = await delay(() => new Promise((r) => setTimeout(r, 3000)));
    console.log(`idle loop: delay p99 ${idle.p99.toFixed(1)} ms, max ${idle.max.toFixed(1)} ms`);

    const retrainer = new Retrainer({
      dir: join(dir, 'retrain'),
      archiveDir: join(dir, 'archive'),
      registry,
      training: { epochs: EPOCHS },
    });
    retrainer.start();
    const job = await delay(() => retrainer.run({ trigger: { kind: 'manual' }, from: t0, to: t0 + steps * STEP_MS }));
    const j = job.result;
    const sel = j.steps[0]!.output as { trainWindows: number; holdoutWindows: number; trainRows: number };
    console.log(
      `job: ${DEVICES} devices × ${HOURS} h, ${sel.trainWindows} training windows (window ${WINDOW} × 2 sensors), ${sel.holdoutWindows} hold-out windows, ${EPOCHS} epochs: ${(job.ms / 1000).toFixed(1)} s, outcome ${j.outcome} (${j.reason})`,
    );
    console.log(
      `  steps: ${j.steps.map((s) => `${s.step} ${(((s.finishedAt ?? s.startedAt) - s.startedAt) / 1000).toFixed(2)} s`).join(', ')}`,
    );
    console.log(`  the job's process loop: delay p99 ${job.p99.toFixed(1)} ms, max ${job.max.toFixed(1)} ms`);

    // the raw limit: one epoch of the same training in this process
    const { segments, sensors } = readSegments(join(dir, 'retrain', 'jobs', String(j.id), 'train'));
    const tables = segments.map((s) => ({ values: s.values, rows: s.rows }));
    const norm = fitNormalization(tables, sensors.length);
    const parts = segments.map((s) => buildWindows(s.values, s.rows, sensors.length, WINDOW));
    const width = WINDOW * sensors.length;
    const count = parts.reduce((a, p) => a + p.count, 0);
    const x = new Float32Array(count * width);
    let at = 0;
    for (const p of parts) {
      x.set(p.data, at);
      at += p.data.length;
    }
    const tf = await loadTf();
    const model = buildAutoencoder(tf, width, {});
    const inproc = await delay(() =>
      trainAutoencoder(tf, model, normalizeWindows(x, norm), count, width, { epochs: 1, batchSize: 64 }),
    );
    model.dispose();
    // a histogram without samples means the loop never got a turn while the epoch ran
    console.log(
      `raw: one epoch in-process (${count} windows): ${(inproc.ms / 1000).toFixed(1)} s, loop delay p99 ${inproc.p99.toFixed(1)} ms, max ${inproc.max.toFixed(1)} ms${inproc.max === 0 ? ' (no sample: the loop was blocked for the whole epoch)' : ''}`,
    );
    await retrainer.close();
    registry.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
