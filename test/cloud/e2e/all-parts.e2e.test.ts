/**
 * Every cloud part in one process from one config (what `edgeloop cloud` runs with registry, recommend and rollout
 * sections): all start, report healthy, answer on their ports, and close in reverse order.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { DEFAULT_MODELS_PUBLIC_KEY, DEFAULT_RECOMMENDER_DIR } from '../../../cloud/recommend/recommend-part.ts';
import { tempDir } from './e2e-helpers.ts';

it('runs broker, ingest, stream, processor, feature store, registry, recommend and rollout together', async () => {
  const dir = tempDir();
  const config = parseCloudConfig({
    dataDir: join(dir, 'data'),
    broker: { embedded: { port: 0, allowAnonymous: true } },
    http: { port: 0 },
    registry: { port: 0, trustedKeys: [DEFAULT_MODELS_PUBLIC_KEY], allowLocalPaths: true },
    recommend: { port: 0, variants: [{ name: 'default', ref: { dir: DEFAULT_RECOMMENDER_DIR } }] },
    rollout: { http: { port: 0 }, tickMs: 100 },
    reports: { port: 0 },
  });
  const cloud = createCloud(config);
  onTestFinished(() => cloud.close());
  await cloud.start();
  expect([...cloud.parts.keys()]).toEqual([
    'dlq',
    'stream',
    'feature-store',
    'ingest',
    'broker',
    'processor',
    'archive',
    'reports',
    'registry',
    'recommend',
    'rollout',
    'http',
  ]);
  const health = cloud.health();
  expect(health.ok).toBe(true);
  const regUrl = String(health.parts.registry!.url);
  const push = await fetch(`${regUrl}/v1/models`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      manifest: JSON.parse(readFileSync(join(DEFAULT_RECOMMENDER_DIR, 'manifest.json'), 'utf8')),
      path: join(DEFAULT_RECOMMENDER_DIR, 'model.onnx'),
    }),
  });
  expect(push.status, await push.clone().text()).toBeLessThan(300);
  const list = (await (await fetch(`${regUrl}/v1/models`)).json()) as { models: Array<{ name: string }> };
  expect(list.models.map((m) => m.name)).toContain(
    JSON.parse(readFileSync(join(DEFAULT_RECOMMENDER_DIR, 'manifest.json'), 'utf8')).name,
  );
  const h = await fetch(`${cloud.urls.http}/healthz`);
  expect(h.status).toBe(200);
  await cloud.close();
  expect(cloud.health().ok).toBe(false);
});
