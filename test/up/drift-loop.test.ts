/**
 * The closed loop end to end (docs/keep-models-fresh.md), in one process on compressed timings: `edgeloop up
 * --scenario drift` with real agents (SQLite outbox + ONNX each) on the embedded cloud. Half the fleet's process
 * temperature shifts; the model cohort's input monitor detects it; the retraining job trains a challenger on the
 * archive and it beats the shipped model on the hold-out slice; the rollout controller shadows it on the agents,
 * then rolls it out in stages; the whole fleet runs it and its share of flagged windows falls back. The retraining
 * history records the rollout, and the registry's production alias follows it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startUp } from '../../cli/up/parts.ts';
import { testUpOptions } from '../helpers/up-options.ts';

describe('edgeloop up --scenario drift', () => {
  it('detects the shift, retrains, shadows, rolls out and recovers', { timeout: 420_000 }, async () => {
    const { dir, options } = testUpOptions('el-drift-loop-', {
      devices: 10,
      rate: 4,
      seed: 14,
      scenario: 'drift',
      // after the timeline's 30 s warm-up, so the "before" phase has windows
      shift: { onsetSec: 50, share: 0.5 },
      loopTimings: { driftIntervalMs: 5000, bakeMs: 4000, shadowBakeMs: 4000, retryMs: 5000, epochs: 6 },
    });
    const notes: string[] = [];
    const handle = await startUp(options, (s) => notes.push(s));
    let closed = false;
    onTestFinished(async () => {
      if (!closed) await handle.close();
    });
    const watch = handle.loop!;
    expect(watch, 'the loop runs in up').toBeDefined();
    const deadline = Date.now() + 360_000;
    while (!watch.timeline.has('fleet.on-new-model') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      if (watch.timeline.has('rollout.aborted')) break;
    }
    // a little time on the new model for the "after" phase
    await new Promise((r) => setTimeout(r, 8000));
    const report = watch.report();
    const kinds = report.milestones.map((m) => m.kind);
    const at = (k: string) => report.milestones.find((m) => m.kind === k)?.at ?? Number.NaN;
    expect(kinds, notes.join('\n')).toContain('fleet.on-new-model');
    // in this order: onset → drift on a cohort → a candidate → shadow → stages → completed → everyone on it
    expect(at('drift.detected')).toBeGreaterThanOrEqual(at('onset'));
    expect(at('retrain.candidate')).toBeGreaterThan(at('drift.detected'));
    expect(at('rollout.started')).toBeGreaterThanOrEqual(at('retrain.candidate'));
    const stages = report.milestones.filter((m) => m.kind === 'rollout.stage').map((m) => m.detail ?? '');
    expect(stages[0]).toMatch(/shadowing$/);
    expect(stages.some((s) => /rolling stage/.test(s))).toBe(true);
    expect(at('rollout.completed')).toBeGreaterThan(at('rollout.started'));
    expect(at('fleet.on-new-model')).toBeGreaterThanOrEqual(at('rollout.completed'));
    expect(kinds).not.toContain('rollout.aborted');
    // the stale model flagged the shifted half; the new one does not
    const [before, during, after] = report.phases;
    expect(during!.flagRate).toBeGreaterThan(0.1);
    expect(after!.windows).toBeGreaterThan(0);
    expect(after!.flagRate).toBeLessThan(during!.flagRate / 4);
    // (how close "after" comes to "before" is a figure of the benchmark, npm run bench:drift-loop)
    expect(before!.windows).toBeGreaterThan(0);
    const version = report.milestones.find((m) => m.kind === 'fleet.on-new-model')!.detail!;
    expect(report.versions).toEqual({ [version]: 10 });
    closed = true;
    await handle.close();
    // after close: the report on disk, the retraining history with the rollout, the registry's production alias
    const onDisk = JSON.parse(readFileSync(join(dir, 'state', 'loop-report.json'), 'utf8')) as {
      milestones: unknown[];
    };
    expect(onDisk.milestones.length).toBe(report.milestones.length);
    const { RetrainStore } = await import('../../cloud/retrain/retrain-store.ts');
    const store = new RetrainStore({ path: join(dir, 'state', 'cloud', 'retrain', 'retrain.db') });
    store.start();
    const jobs = store.list();
    store.close();
    const done = jobs.find((j) => j.outcome === 'candidate')!;
    expect(done.trigger.kind).toBe('drift');
    expect(done.result).toMatchObject({ version, rollout: { status: 'completed' } });
    const { ModelRegistry } = await import('../../cloud/registry/model-registry.ts');
    const { LocalArtifactStore } = await import('../../cloud/registry/artifact-store.ts');
    const reg = new ModelRegistry({
      dbPath: join(dir, 'state', 'cloud', 'registry', 'registry.db'),
      store: new LocalArtifactStore({ dir: join(dir, 'state', 'cloud', 'registry', 'artifacts') }),
      trustedKeys: [],
    });
    reg.start();
    expect(reg.getAlias('edgeloop-default-anomaly', 'production')?.version).toBe(version);
    const v = reg.get('edgeloop-default-anomaly', version)!;
    expect(v.parentVersion).toBe('1.0.0');
    reg.close();
  });
});
