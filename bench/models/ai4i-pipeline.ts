/**
 * npm run eval:ai4i-pipeline -- --data ../shared/data/ai4i/ai4i2020-dev.csv [--all]
 *
 * The recommendation issue's end-to-end figure on real data: the AI4I rows the default recommender never trained on
 * (its 20 % UDI-hash holdout; --all for every row) are replayed as machine telemetry through the embedded broker,
 * ingest, stream, processor and feature store, then recommendations are requested over HTTP. Prints hit@1 and hit@2
 * of the action for rows with a failure mode, per mode, and the time each phase took.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCloudConfig } from '../../cloud/config.ts';
import { createCloud } from '../../cloud/create-cloud.ts';
import type { FeatureStore } from '../../cloud/feature-store/feature-store.ts';
import { runAi4iThroughPipeline } from '../../cloud/recommend/eval/ai4i-pipeline-eval.ts';
import { recommendPartDef } from '../../cloud/recommend/recommend-part.ts';
import { Progress } from '../../lib/progress.ts';
import { TEST_SALT, parseAi4iCsv, splitByUdi } from '../../models/recommender/ai4i-data.ts';
import { machineLine } from '../lib/machine.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/ai4i/ai4i2020-dev.csv' },
    all: { type: 'boolean', default: false },
  },
});
const all = parseAi4iCsv(readFileSync(values.data!, 'utf8'), values.data);
const data = values.all ? all : splitByUdi(all, 0.2, TEST_SALT).held;
console.log(machineLine());
console.log(
  `AI4I: ${data.rows} rows (${values.all ? 'all rows' : "the default recommender's 20 % holdout"}) from ${values.data}`,
);

const dir = mkdtempSync(join(tmpdir(), 'edgeloop-ai4i-pipeline-'));
const cloud = createCloud(
  parseCloudConfig({
    dataDir: dir,
    broker: { embedded: { port: 0, allowAnonymous: true } },
    http: { port: 0 },
    processor: { idleWaitMs: 20 },
  }),
  { extraParts: [recommendPartDef({ port: 0, responseLog: false })] },
);
await cloud.start();
const bars = new Map<string, Progress>();
try {
  const r = await runAi4iThroughPipeline({
    data,
    mqttUrl: cloud.urls.mqtt!,
    recommendUrl: (cloud.parts.get('recommend') as unknown as { url: string }).url,
    featureStore: cloud.parts.get('feature-store')!.instance as FeatureStore,
    timeoutMs: 600_000,
    onProgress: (phase, done, total) => {
      let b = bars.get(phase);
      if (!b) bars.set(phase, (b = new Progress({ total, label: phase })));
      b.update(done);
    },
  });
  console.log(`\nmachines ${r.rows}, with a failure mode ${r.failureRows}, answered with an error ${r.errors}`);
  console.log(`hit@1 ${r.hit1.toFixed(3)}  hit@2 ${r.hit2.toFixed(3)}`);
  for (const [m, x] of Object.entries(r.perMode))
    console.log(`  ${m}: ${x.rows} rows, top action right ${x.rows ? (x.hit1 / x.rows).toFixed(3) : '-'}`);
  console.log(`publish ${r.publishMs} ms, features ready +${r.featuresMs} ms, recommendations ${r.recommendMs} ms`);
} finally {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
}
