/**
 * The recommendation service end to end on real parts: Fastify listening on port 0, the SQLite feature store,
 * ONNX Runtime sessions, the model registry for alias-driven hot reload.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { buildRecommendServer } from '../../../cloud/recommend/recommend-server.ts';
import { RecommendService, type VariantConfig } from '../../../cloud/recommend/recommend-service.ts';
import { DirectoryModelSource } from '../../../cloud/recommend/model-source.ts';
import { RegistryModelSource } from '../../../cloud/recommend/registry-model-source.ts';
import { SqliteResponseLog } from '../../../cloud/recommend/response-log.ts';
import { LocalArtifactStore } from '../../../cloud/registry/artifact-store.ts';
import { ModelRegistry } from '../../../cloud/registry/model-registry.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { generateSigningKey, makeRecommender, tempDir } from './fixtures.ts';

const key = generateSigningKey();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let modelsRoot: string;
beforeAll(async () => {
  const t = tempDir();
  modelsRoot = t.dir;
  await makeRecommender(join(modelsRoot, 'v1'), { version: '1.0.0', key });
  await makeRecommender(join(modelsRoot, 'v2'), { version: '2.0.0', key, twfBias: 2 });
  await makeRecommender(join(modelsRoot, 'v3'), { version: '3.0.0', key, corruptTestVector: true });
  return t.cleanup;
});

async function setup(variants: VariantConfig[], opts: { source?: 'dir' | 'registry' } = {}) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const clock = new ManualClock(1_732_550_000_000);
  const store = new SqliteFeatureStore({ path: join(t.dir, 'features.db'), clock });
  await store.start();
  cleanups.push(() => store.close());
  let registry: ModelRegistry | undefined;
  let source;
  if (opts.source === 'registry') {
    registry = new ModelRegistry({
      dbPath: join(t.dir, 'registry.db'),
      store: new LocalArtifactStore({ dir: join(t.dir, 'artifacts') }),
      trustedKeys: [key.publicKeyPem],
    });
    registry.start();
    cleanups.push(() => registry!.close());
    for (const v of ['v1', 'v2', 'v3']) {
      const { readFileSync } = await import('node:fs');
      const manifest = JSON.parse(readFileSync(join(modelsRoot, v, 'manifest.json'), 'utf8'));
      await registry.push({ manifest, artifact: { path: join(modelsRoot, v, 'model.onnx') } });
    }
    registry.setAlias('recommender', 'production', '1.0.0');
    source = new RegistryModelSource({ registry, cacheDir: join(t.dir, 'cache') });
  } else {
    source = new DirectoryModelSource();
  }
  const log = new SqliteResponseLog({ path: join(t.dir, 'responses.db') });
  const service = new RecommendService({ featureStore: store, source, variants, clock, responseLog: log });
  await service.start();
  cleanups.push(() => log.close());
  cleanups.push(() => service.close());
  const app = buildRecommendServer({ service });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const addr = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${addr.port}`;
  const get = async (path: string) => {
    const r = await fetch(base + path);
    return { status: r.status, body: (await r.json()) as any };
  };
  const post = async (path: string, body: unknown) => {
    const r = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  return { store, clock, service, log, registry, get, post, base };
}

const dir = (v: string) => ({ dir: join(modelsRoot, v) });

describe('recommendation service', () => {
  it('answers top-k actions from online features with model, variant and feature age', async () => {
    const s = await setup([{ name: 'control', weight: 1, ref: dir('v1') }]);
    await s.store.put('device_features', {
      entityId: 'mill-1',
      eventTime: s.clock.now() - 1500,
      features: { torque_nm_last: 40, tool_wear_min_last: 235, air_temperature_k_last: 300 },
    });
    const r = await s.get('/v1/recommendations/mill-1?k=2');
    expect(r.status).toBe(200);
    expect(r.body.model).toEqual({ name: 'recommender', version: '1.0.0' });
    expect(r.body.variant).toBe('control');
    expect(r.body.featureAgeMs).toBe(1500);
    expect(r.body.actions).toHaveLength(2);
    expect(r.body.actions[0].id).toBe('replace-tool');
    expect(r.body.predictedModes).toContain('TWF');

    await s.store.put('device_features', {
      entityId: 'mill-2',
      eventTime: s.clock.now(),
      features: { torque_nm: 40, tool_wear_min: 10 },
    });
    const healthy = await s.get('/v1/recommendations/mill-2');
    expect(healthy.body.actions[0].id).toBe('none');
    expect(healthy.body.defaulted).toEqual(['air_temperature_k']);
  });

  it('says what is missing or how old, and rejects bad requests with the reason', async () => {
    const s = await setup([{ name: 'control', weight: 1, ref: dir('v1') }]);
    const none = await s.get('/v1/recommendations/ghost');
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('EL_ERR_RECOMMEND_NO_FEATURES');

    await s.store.put('device_features', { entityId: 'm3', eventTime: s.clock.now(), features: { torque_nm: 40 } });
    const missing = await s.get('/v1/recommendations/m3');
    expect(missing.status).toBe(422);
    expect(missing.body.error.message).toMatch(/lack tool_wear_min/);

    await s.store.put('device_features', {
      entityId: 'm4',
      eventTime: s.clock.now() - 7_200_000,
      features: { torque_nm: 40, tool_wear_min: 5 },
    });
    const stale = await s.get('/v1/recommendations/m4');
    expect(stale.status).toBe(422);
    expect(stale.body.error.code).toBe('EL_ERR_RECOMMEND_FEATURES_STALE');
    expect(stale.body.error.message).toMatch(/2\.0 h old/);

    const badK = await s.get('/v1/recommendations/m3?k=0');
    expect(badK.status).toBe(400);
    expect(badK.body.error.message).toMatch(/k must be >= 1/);
    const badId = await s.get('/v1/recommendations/' + encodeURIComponent('a b'));
    expect(badId.status).toBe(400);
    const badBody = await s.post('/v1/recommendations', { entityIds: [] });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.message).toMatch(/entityIds/);
  });

  it('answers batches from the store and inline features, with per-item errors', async () => {
    const s = await setup([{ name: 'control', weight: 1, ref: dir('v1') }]);
    await s.store.put('device_features', {
      entityId: 'a',
      eventTime: s.clock.now(),
      features: { torque_nm: 40, tool_wear_min: 230 },
    });
    const r = await s.post('/v1/recommendations', { entityIds: ['a', 'ghost'], k: 1 });
    expect(r.status).toBe(200);
    expect(r.body.results[0].actions[0].id).toBe('replace-tool');
    expect(r.body.results[1].error.code).toBe('EL_ERR_RECOMMEND_NO_FEATURES');
    const inline = await s.post('/v1/recommendations', {
      items: [{ features: { torque_nm: 40, tool_wear_min: 5, air_temperature_k: 309 } }, { features: {} }],
    });
    expect(inline.body.results[0].actions[0].id).toBe('restore-cooling');
    expect(inline.body.results[1].error.code).toBe('EL_ERR_RECOMMEND_FEATURES_MISSING');
  });

  it('splits A/B within tolerance, sticky per entity, and never returns the shadow', async () => {
    const s = await setup([
      { name: 'a', weight: 70, ref: dir('v1') },
      { name: 'b', weight: 30, ref: dir('v2') },
      { name: 'shadow', weight: 0, shadow: true, ref: dir('v2') },
    ]);
    const ids = Array.from({ length: 1000 }, (_, i) => `m-${i}`);
    await s.store.putMany(
      'device_features',
      ids.map((id) => ({ entityId: id, eventTime: s.clock.now(), features: { torque_nm: 40, tool_wear_min: 100 } })),
    );
    const counts: Record<string, number> = {};
    for (let i = 0; i < ids.length; i += 100) {
      const r = await s.post('/v1/recommendations', { entityIds: ids.slice(i, i + 100) });
      for (const x of r.body.results) {
        counts[x.variant] = (counts[x.variant] ?? 0) + 1;
        expect(x.model.version).toBe(x.variant === 'a' ? '1.0.0' : '2.0.0');
      }
    }
    expect(counts.shadow).toBeUndefined();
    expect(counts.b! / 1000).toBeGreaterThan(0.25);
    expect(counts.b! / 1000).toBeLessThan(0.35);
    const again = await s.get('/v1/recommendations/m-7');
    const first = await s.get('/v1/recommendations/m-7');
    expect(again.body.variant).toBe(first.body.variant);
    // shadow scores are logged, flagged, for every request
    await new Promise((r) => setImmediate(r));
    const logged = await s.log.query({ variant: 'shadow', limit: 5000 });
    expect(logged.length).toBeGreaterThanOrEqual(1000);
    expect(logged.every((e) => e.shadow)).toBe(true);
    const metrics = await fetch(s.base + '/metrics').then((r) => r.text());
    expect(metrics).toMatch(/edgeloop_recommend_inference_seconds_bucket\{le="0.005",variant="a"\}/);
  });

  it('follows a registry alias without a restart and refuses a model that fails its test vector', async () => {
    const s = await setup([{ name: 'control', weight: 1, ref: { model: 'recommender', alias: 'production' } }], {
      source: 'registry',
    });
    await s.store.put('device_features', {
      entityId: 'm1',
      eventTime: s.clock.now(),
      features: { torque_nm: 40, tool_wear_min: 100 },
    });
    expect((await s.get('/v1/recommendations/m1')).body.model.version).toBe('1.0.0');
    s.registry!.setAlias('recommender', 'production', '2.0.0');
    await s.service.reload(); // the alias event already triggered it; this waits for the same run
    expect((await s.get('/v1/recommendations/m1')).body.model.version).toBe('2.0.0');
    expect((await s.get('/v1/models')).body.variants[0]).toMatchObject({ variant: 'control', version: '2.0.0' });
    // 3.0.0 is signed and hashes right but does not reproduce its test vector: refused, 2.0.0 keeps serving
    s.registry!.setAlias('recommender', 'production', '3.0.0');
    await s.service.reload();
    expect((await s.get('/v1/recommendations/m1')).body.model.version).toBe('2.0.0');
    const metrics = await fetch(s.base + '/metrics').then((r) => r.text());
    expect(metrics).toMatch(/edgeloop_recommend_reloads_total\{variant="control",outcome="failed"\} [1-9]/);
  });
});
