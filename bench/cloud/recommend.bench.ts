/**
 * npm run bench:recommend [-- --duration 10 --model DIR --entities 10000]
 *
 * Load from a second process (wrk when installed, else autocannon; --autocannon forces it) at concurrency 2 and 50
 * against:
 *   raw      a bare Fastify route doing one SQLite lookup and one ORT run (the machine's own limit for this work)
 *   service  the recommendation service (feature store read, input from manifest, micro-batched ORT, ranking,
 *            response log, metrics)
 * Prints req/s, p50 and p99 for each, and the ratio service/raw. Targets: p99 < 5 ms at concurrency 50 and
 * throughput >= 60 % of the raw baseline. Figures through bench/lib/report.ts into bench/results/recommend.json.
 */
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import { SqliteFeatureStore } from '../../cloud/feature-store/sqlite-feature-store.ts';
import { DirectoryModelSource } from '../../cloud/recommend/model-source.ts';
import { buildRecommendServer } from '../../cloud/recommend/recommend-server.ts';
import { RecommendService } from '../../cloud/recommend/recommend-service.ts';
import { SqliteResponseLog } from '../../cloud/recommend/response-log.ts';
import { parseManifest, type Manifest } from '../../protocol/manifest.ts';
import { runLoad, wrkInstalled, type LoadResult } from './load/load-generator.ts';
import { BenchReport } from '../lib/report.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    model: { type: 'string' },
    entities: { type: 'string', default: '10000' },
    autocannon: { type: 'boolean', default: false },
    'no-log': { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const nEntities = Number(values.entities);
const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'edgeloop-bench-rec-'));

async function modelDir(): Promise<string> {
  if (values.model) return values.model;
  const def = join(root, 'models', 'default', 'recommender');
  if (existsSync(join(def, 'manifest.json'))) return def;
  const { makeRecommender, generateSigningKey } = await import('../../test/cloud/recommend/fixtures.ts');
  const dir = join(work, 'model');
  await makeRecommender(dir, { version: 'bench', key: generateSigningKey() });
  return dir;
}

function featureRow(m: Manifest, i: number): Record<string, number> {
  const inputs = m.inputs;
  if (inputs.kind !== 'features') throw new Error('not a recommender');
  const out: Record<string, number> = {};
  inputs.features.forEach((f, j) => {
    const mean = inputs.normalization.mean[j]!;
    const std = inputs.normalization.std[j]!;
    out[f] = mean + std * Math.sin(i * 0.37 + j);
  });
  return out;
}

const useWrk = !values.autocannon && wrkInstalled();

/** The load generator runs in a second process (bench/cloud/load/load-generator.ts). */
function load(url: string, paths: string[], connections: number): Promise<LoadResult> {
  return runLoad({ url, paths, connections, durationSec: duration, workDir: work, wrk: useWrk });
}

const dir = await modelDir();
const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
if (manifest.inputs.kind !== 'features') throw new Error('bench needs a recommender model');
const features = manifest.inputs.features;
const ids = Array.from({ length: nEntities }, (_, i) => `m-${i}`);
const paths = ids.slice(0, 2000).map((id) => `/v1/recommendations/${id}?k=3`);

const report = new BenchReport('recommend');
console.log(`load generator: ${useWrk ? 'wrk' : 'autocannon'} in a second process`);
console.log(
  `model: ${manifest.name}@${manifest.version} (${features.length} features, ${dir}); ${nEntities} entities; ${duration}s per run`,
);

// ---- raw baseline: bare Fastify + one SQLite lookup + one ORT run
const rawDb = new Database(join(work, 'raw.db'));
rawDb.pragma('journal_mode = WAL');
rawDb.exec('CREATE TABLE f (id TEXT PRIMARY KEY, v TEXT NOT NULL)');
const ins = rawDb.prepare('INSERT INTO f VALUES (?, ?)');
rawDb.transaction(() => ids.forEach((id, i) => ins.run(id, JSON.stringify(featureRow(manifest, i)))))();
const sel = rawDb.prepare('SELECT v FROM f WHERE id = ?');
const session = await ort.InferenceSession.create(join(dir, manifest.artifact.file), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
const raw = Fastify();
raw.get<{ Params: { id: string } }>('/v1/recommendations/:id', async (req) => {
  const row = sel.get(req.params.id) as { v: string } | undefined;
  const f = JSON.parse(row!.v) as Record<string, number>;
  const x = Float32Array.from(features, (n) => f[n]!);
  const out = await session.run({ [manifest.inputs.name]: new ort.Tensor('float32', x, [1, x.length]) });
  return { scores: Array.from(out[manifest.output.name]!.data as Float32Array) };
});
await raw.listen({ port: 0, host: '127.0.0.1' });
const rawUrl = `http://127.0.0.1:${(raw.server.address() as { port: number }).port}`;

// ---- the service
const store = new SqliteFeatureStore({ path: join(work, 'features.db'), synchronous: 'NORMAL' });
await store.start();
const now = Date.now();
for (let i = 0; i < ids.length; i += 1000) {
  await store.putMany(
    'device_features',
    ids.slice(i, i + 1000).map((id, j) => ({ entityId: id, eventTime: now, features: featureRow(manifest, i + j) })),
  );
}
const log = new SqliteResponseLog({ path: join(work, 'responses.db') });
const service = new RecommendService({
  featureStore: store,
  source: new DirectoryModelSource(),
  variants: [{ name: 'default', weight: 1, ref: { dir } }],
  ...(values['no-log'] ? {} : { responseLog: log }),
});
await service.start();
const app = buildRecommendServer({ service });
await app.listen({ port: 0, host: '127.0.0.1' });
const svcUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

for (const c of [2, 50]) {
  const r = await load(rawUrl, paths, c);
  const s = await load(svcUrl, paths, c);
  const config = `concurrency ${c}`;
  console.log(`${config}: raw = the bare route; service non-2xx ${s.non2xx}, errors ${s.errors}`);
  report.figure({ config, label: 'req/s', value: s.rps, unit: 'req/s', raw: r.rps, decimals: 0 });
  // wrk reports latencies to 10 µs, autocannon to whole milliseconds
  for (const p of ['p50', 'p99'] as const)
    report.figure({ config, label: p, value: s[p], unit: 'ms', raw: r[p], decimals: useWrk ? 2 : 0 });
}
console.log(`responses logged: ${log.written + 0}`);
report.write();

await app.close();
await service.close();
await log.close();
await store.close();
await raw.close();
await session.release();
rawDb.close();
rmSync(work, { recursive: true, force: true });
