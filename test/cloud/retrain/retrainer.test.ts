import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ModelVerifier } from '../../../agent/model-updater/model-verifier.ts';
import { referenceFromModelVersion } from '../../../cloud/drift/reference.ts';
import { Retrainer, type RetrainEvent } from '../../../cloud/retrain/retrainer.ts';
import { RETRAIN_STEPS } from '../../../cloud/retrain/retrain-store.ts';
import { TrustedKeyRing } from '../../../models/manifest/index.ts';
import { registryWithChampion, STEP_MS, T0, TINY, writeArchive } from './fixture.ts';

const devices = [
  { id: 'd1', site: 'north' },
  { id: 'd2', site: 'north' },
  { id: 'd3', site: 'south' },
];

async function setup(spec: Parameters<typeof writeArchive>[1]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'el-retrain-'));
  onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  await writeArchive(dataDir, spec);
  const registry = await registryWithChampion(dataDir);
  onTestFinished(() => registry.close());
  const events: RetrainEvent[] = [];
  const retrainer = new Retrainer({
    dir: join(dataDir, 'retrain'),
    archiveDir: join(dataDir, 'archive'),
    registry,
    training: TINY,
    // latency is not what these tests are about (the machine is shared)
    criteria: { maxP99Ms: 1000 },
    clock: { now: () => T0 + 3_600_000, setTimeout, clearTimeout } as never,
    onEvent: (e) => events.push(e),
  });
  retrainer.start();
  onTestFinished(() => retrainer.close());
  return { dataDir, registry, retrainer, events };
}

describe('Retrainer', () => {
  it('trains a challenger on shifted data that beats the champion, signed, with lineage, as candidate', async () => {
    const { dataDir, registry, retrainer, events } = await setup({
      devices,
      steps: 2400,
      // a recalibration of the north site's temperature sensor: the champion's false alarms rise
      shift: (id) => (id === 'd3' ? [0, 0] : [3, 0]),
      events: [{ deviceId: 'd1', step: 1000 }],
    });
    const seen: string[] = [];
    const job = await retrainer.run(
      {
        trigger: { kind: 'drift', driftEventId: 7, subject: { kind: 'site', id: 'north' }, at: T0 },
        from: T0,
        to: T0 + 2400 * STEP_MS,
        cohort: { kind: 'site', id: 'north' },
      },
      { onStep: (_id, step) => seen.push(step) },
    );
    expect(seen).toEqual([...RETRAIN_STEPS]);
    expect(job.state).toBe('finished');
    const ev = job.result as { champion: { falseAlarmRate: number }; challenger: { falseAlarmRate: number } };
    expect(job.outcome, job.reason).toBe('candidate');
    expect(ev.champion.falseAlarmRate).toBeGreaterThan(0.2);
    expect(ev.challenger.falseAlarmRate).toBeLessThan(0.05);
    expect(job.steps.every((s) => s.runs === 1)).toBe(true);

    // the registry: candidate alias and status, lineage
    const version = String(job.result!.version);
    expect(registry.getAlias('anomaly', 'candidate')?.version).toBe(version);
    expect(registry.getAlias('anomaly', 'production')?.version).toBe('1.0.0');
    expect(registry.status('anomaly', version)).toMatchObject({ status: 'candidate' });
    const rec = registry.get('anomaly', version)!;
    expect(rec.parentVersion).toBe('1.0.0');
    expect(rec.dataHash).toMatch(/^[0-9a-f]{64}$/);
    const data = rec.training.data as Record<string, unknown>;
    expect(data).toMatchObject({ source: 'raw-archive', devices: 2, cohort: { kind: 'site', id: 'north' } });
    expect(data.rows).toBe(job.steps[0]!.output!.trainRows);
    expect((rec.training.code as { package: string }).package).toMatch(/^\d+\.\d+\.\d+/);
    expect(rec.training.trigger).toMatchObject({ kind: 'drift', driftEventId: 7 });
    expect(rec.metrics.trainingFlagRate).toBeTypeOf('number');
    // the drift monitors can load its reference
    const ref = referenceFromModelVersion(rec)!;
    expect(Object.keys(ref.features).sort()).toEqual(['temp_last', 'vib_last']);
    expect(ref.features.temp_last!.mean).toBeGreaterThan(22);

    // the agent's verifier accepts the model with the training key as its trusted key
    const verifier = new ModelVerifier({
      trustedKeys: new TrustedKeyRing([join(dataDir, 'retrain', 'keys', 'training.pub')]),
      requireSignature: true,
    });
    const verified = verifier.modelDir(join(dataDir, 'retrain', 'jobs', String(job.id)));
    expect(verified.manifest.version).toBe(version);
    expect(events).toEqual([
      expect.objectContaining({ type: 'retrain.candidate', model: 'anomaly', version, parent: '1.0.0' }),
    ]);
    expect(retrainer.store.list()).toHaveLength(1);
  }, 120_000);

  it('rejects a challenger trained on garbage, with the reason, in the history and the registry', async () => {
    const { registry, retrainer, events } = await setup({
      devices: devices.slice(0, 2),
      steps: 2400,
      // a broken feed for most of the range, then the real signal again: what is held out is the normal signal
      signal: (_id, i, prng) => (i < 1900 ? [100 * prng.next(), 100 * prng.next()] : undefinedSignal(i, prng)),
    });
    const job = await retrainer.run({ trigger: { kind: 'manual' }, from: T0, to: T0 + 2400 * STEP_MS });
    expect(job.outcome).toBe('rejected');
    expect(job.reason).toMatch(/detection of injected anomalies .* below the champion's/);
    const version = String(job.result!.version);
    expect(registry.status('anomaly', version)).toMatchObject({ status: 'rejected', reason: job.reason });
    expect(registry.getAlias('anomaly', 'candidate')).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['retrain.rejected']);
    expect(retrainer.store.list()[0]).toMatchObject({ id: job.id, outcome: 'rejected' });
  }, 120_000);

  it('fails a job without enough data, naming the counts', async () => {
    const { retrainer } = await setup({ devices: devices.slice(0, 1), steps: 100 });
    await expect(
      retrainer.run({ trigger: { kind: 'manual' }, from: T0, to: T0 + 100 * STEP_MS }),
    ).rejects.toMatchObject({ code: 'EL_ERR_RETRAIN_NO_DATA', message: expect.stringMatching(/training windows/) });
    expect(retrainer.store.list()[0]).toMatchObject({ outcome: 'failed', state: 'finished' });
  });
});

function undefinedSignal(i: number, prng: { normal(): number }): [number, number] {
  const a = (2 * Math.PI * i) / 60;
  return [20 + 2 * Math.sin(a) + 0.2 * prng.normal(), 5 + 0.5 * Math.cos(a) + 0.1 * prng.normal()];
}
