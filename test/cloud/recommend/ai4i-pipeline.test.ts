/**
 * End to end on real data (a 600-row AI4I sample, CC BY 4.0): rows replayed as machine telemetry through the
 * embedded broker, ingest, stream, processor and feature store; recommendations requested over HTTP from the
 * shipped default recommender. The hit rates are reported (and bounded from below so a broken path fails).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import type { FeatureStore } from '../../../cloud/feature-store/feature-store.ts';
import { runAi4iThroughPipeline } from '../../../cloud/recommend/eval/ai4i-pipeline-eval.ts';
import { recommendPartDef } from '../../../cloud/recommend/recommend-part.ts';
import { parseAi4iCsv } from '../../../models/recommender/ai4i-data.ts';

it('AI4I rows through the pipeline get the right maintenance action', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-ai4i-e2e-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseCloudConfig({
    dataDir: dir,
    broker: { embedded: { port: 0, allowAnonymous: true } },
    http: { port: 0 },
    processor: { idleWaitMs: 20 },
  });
  const cloud = createCloud(config, { extraParts: [recommendPartDef({ port: 0 })] });
  onTestFinished(() => cloud.close());
  await cloud.start();
  const recommend = cloud.parts.get('recommend') as unknown as { url: string };
  const store = cloud.parts.get('feature-store')!.instance as FeatureStore;
  const data = parseAi4iCsv(readFileSync(join(import.meta.dirname, '../../fixtures/ai4i/ai4i-sample.csv'), 'utf8'));
  const r = await runAi4iThroughPipeline({
    data,
    mqttUrl: cloud.urls.mqtt!,
    recommendUrl: recommend.url,
    featureStore: store,
  });
  console.log(
    `AI4I sample through the pipeline: ${r.rows} machines, ${r.failureRows} with a failure mode, hit@1 ${r.hit1.toFixed(3)}, hit@2 ${r.hit2.toFixed(3)}`,
  );
  expect(r.errors).toBe(0);
  expect(r.failureRows).toBeGreaterThan(5);
  expect(r.hit2).toBeGreaterThanOrEqual(r.hit1);
  expect(r.hit1).toBeGreaterThan(0.5);
});
