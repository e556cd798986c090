/**
 * The retrain part inside the cloud: a drift.detected of the real drift part, through the cloud's event bus,
 * starts a job for the drifted device; the challenger lands in the registry part's registry as candidate and
 * `retrain.candidate` is on the bus.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { buildReference } from '../../../cloud/drift/reference.ts';
import { cloudDriftPart, registryPart, retrainPart } from '../../../cloud/parts/index.ts';
import type { RetrainEvent } from '../../../cloud/retrain/retrainer.ts';
import { Prng } from '../../../lib/prng.ts';
import { registryWithChampion, STEP_MS, T0, TINY, writeArchive } from './fixture.ts';

it('drift.detected from the drift part starts a job for the drifted device; retrain.candidate follows', {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'el-retrain-part-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'cloud');
  await writeArchive(dataDir, {
    devices: [
      { id: 'd1', site: 'north' },
      { id: 'd2', site: 'south' },
    ],
    steps: 2400,
    shift: (id) => (id === 'd1' ? [3, 0] : [0, 0]),
  });
  (await registryWithChampion(dataDir)).close();
  const prng = new Prng(3);
  const ref = buildReference({ temp_last: Array.from({ length: 1000 }, () => 20 + 1.4 * prng.normal()) });
  writeFileSync(join(dir, 'reference.json'), JSON.stringify(ref));
  const config = parseCloudConfig({
    dataDir,
    only: ['drift', 'retrain'],
    http: { enabled: false },
    registry: { port: 0, trustedKeys: [join(dataDir, 'trusted-keys'), join(dataDir, 'retrain', 'keys')] },
    drift: {
      references: ['reference.json'],
      intervalMs: 3_600_000,
      policy: { minSamples: 50, detectK: 1, window: 1 },
    },
    retrain: {
      intervalMs: 0,
      onsetLookbackMs: 3_600_000,
      training: TINY,
      criteria: { maxP99Ms: 1000 },
    },
  });
  // the drift event's time (the cloud's clock) is after the archived range, so the job trains on the last hour
  const clock = { now: () => T0 + 2400 * STEP_MS, setTimeout, clearTimeout } as never;
  const cloud = createCloud(config, { cwd: dir, clock });
  onTestFinished(() => cloud.close());
  const seen: RetrainEvent[] = [];
  cloud.events.on('retrain.candidate', (e) => seen.push(e));
  await cloud.start();
  expect([...cloud.parts.keys()]).toEqual(['drift', 'registry', 'retrain']);

  const drift = cloud.get(cloudDriftPart);
  for (let i = 0; i < 100; i++) drift.observeFeatures({ deviceId: 'd1', features: { temp_last: 23 + prng.normal() } });
  const check = await drift.check();
  expect(check.events.map((e) => [e.type, e.subject])).toContainEqual(['drift.detected', { kind: 'device', id: 'd1' }]);

  const service = cloud.get(retrainPart).instance;
  await service.idle();
  expect(service.last, JSON.stringify(service.retrainer.store.list()[0]?.result)).toMatchObject({
    outcome: 'candidate',
  });
  const job = service.retrainer.store.list()[0]!;
  expect(job.trigger).toMatchObject({ kind: 'drift', subject: { kind: 'device', id: 'd1' } });
  expect(job.params.cohort).toEqual({ kind: 'device', id: 'd1' });
  expect(job.steps[0]!.output!.devices).toBe(1);
  const registry = cloud.get(registryPart).instance.registry;
  expect(registry.getAlias('anomaly', 'candidate')?.version).toBe(job.result!.version);
  // what the rollout side reads over HTTP: the candidate alias, with its status and lineage
  const res = await fetch(`${cloud.get(registryPart).instance.server.url}/v1/models/anomaly/versions/candidate`);
  expect(await res.json()).toMatchObject({
    version: job.result!.version,
    parentVersion: '1.0.0',
    status: { status: 'candidate', details: { parent: '1.0.0' } },
  });
  expect(seen).toEqual([
    expect.objectContaining({ type: 'retrain.candidate', version: job.result!.version, parent: '1.0.0' }),
  ]);
});
