/**
 * The recommendation server matches the OpenAPI document it publishes at /openapi.json: every operation driven
 * with generated valid and invalid input (test/helpers/openapi-fuzz.ts) through the real Fastify server (inject),
 * a real SQLite feature store holding features for every valid entity id the generator produced, and a real
 * recommender model on ONNX Runtime. Status codes and bodies must be the documented ones.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { DirectoryModelSource } from '../../../cloud/recommend/model-source.ts';
import { buildRecommendServer } from '../../../cloud/recommend/recommend-server.ts';
import { RecommendService } from '../../../cloud/recommend/recommend-service.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { fuzzOpenApi, generateCases, type FuzzCase, type OpenApiDocument } from '../../helpers/openapi-fuzz.ts';
import { generateSigningKey, makeRecommender, tempDir } from './fixtures.ts';

let modelDir: string;
beforeAll(async () => {
  const models = tempDir();
  modelDir = join(models.dir, 'v1');
  await makeRecommender(modelDir, { version: '1.0.0', key: generateSigningKey() });
  return models.cleanup;
});

async function server(metrics: boolean) {
  const t = tempDir();
  onTestFinished(t.cleanup);
  const clock = new ManualClock(1_732_550_000_000);
  const store = new SqliteFeatureStore({ path: join(t.dir, 'features.db'), clock });
  await store.start();
  onTestFinished(() => store.close());
  const service = new RecommendService({
    featureStore: store,
    source: new DirectoryModelSource(),
    variants: [{ name: 'control', weight: 1, ref: { dir: modelDir } }],
    clock,
  });
  await service.start();
  onTestFinished(() => service.close());
  const app = buildRecommendServer({ service, metrics });
  onTestFinished(() => app.close());
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApiDocument;
  const seed = async (cases: FuzzCase[]): Promise<number> => {
    const ids = new Set<string>();
    for (const c of cases.filter((x) => x.valid)) {
      if (typeof c.params.entityId === 'string') ids.add(c.params.entityId);
      for (const id of (c.body as { entityIds?: unknown[] } | undefined)?.entityIds ?? [])
        if (typeof id === 'string') ids.add(id);
    }
    for (const entityId of ids) {
      await store.put('device_features', {
        entityId,
        eventTime: clock.now() - 1000,
        features: { torque_nm: 40, tool_wear_min: 230, air_temperature_k: 300 },
      });
    }
    return ids.size;
  };
  const send = async (r: { method: string; url: string; headers: Record<string, string>; body?: string }) => {
    const res = await app.inject({
      method: r.method as 'GET',
      url: r.url,
      headers: r.headers,
      ...(r.body === undefined ? {} : { payload: r.body }),
    });
    return { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.body };
  };
  return { app, doc, seed, send };
}

describe('recommend server against its OpenAPI document', () => {
  for (const metrics of [true, false]) {
    it(`every operation answers as documented (metrics: ${metrics})`, { timeout: 120_000 }, async () => {
      const s = await server(metrics);
      expect(Object.keys(s.doc.paths).includes('/metrics')).toBe(metrics);
      const cases = generateCases(s.doc);
      expect(await s.seed(cases)).toBeGreaterThan(5);
      const { findings, statuses } = await fuzzOpenApi(s.doc, s.send, { cases });
      expect(findings.slice(0, 15), `${findings.length} findings`).toEqual([]);

      // what the generated input covers
      const ops = Object.entries(s.doc.paths).flatMap(([p, item]) =>
        Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`),
      );
      for (const op of ops)
        expect(
          cases.some((c) => c.operation === op && c.valid),
          op,
        ).toBe(true);
      const get = 'GET /v1/recommendations/{entityId}';
      const post = 'POST /v1/recommendations';
      expect(statuses[get]![200]).toBeGreaterThan(3);
      expect(statuses[get]![400]).toBeGreaterThan(10);
      expect(statuses[post]![200]).toBeGreaterThan(3);
      expect(statuses[post]![400]).toBeGreaterThan(20);
      const whys = (op: string, valid: boolean) =>
        cases.filter((c) => c.operation === op && c.valid === valid).map((c) => c.why);
      expect(whys(get, true)).toContain('path entityId: 128 characters "aaaaaaaaaaaa…"');
      expect(whys(get, true)).toContain('path entityId: 1 characters "a"');
      expect(whys(get, false)).toContain('path entityId: 129 characters (maxLength 128)');
      expect(whys(post, false)).toContain('body: extra property (additionalProperties: false)');
      expect(whys(post, false)).toContain('body.items: [0]: extra property (additionalProperties: false)');
      expect(whys(post, false).some((w) => w.startsWith('body.k: wrong type: numeric string'))).toBe(true);
      if (metrics) expect(statuses['GET /metrics']![200]).toBe(1);
      else expect((await s.send({ method: 'GET', url: '/metrics', headers: {} })).status).toBe(404);
    });
  }

  it('routes ids of 101-128 characters (with percent-encoded colons) and answers them', async () => {
    const s = await server(true);
    const id = `m${':'.repeat(60)}${'x'.repeat(67)}`;
    expect(id).toHaveLength(128);
    await s.seed([
      {
        operation: '',
        valid: true,
        why: '',
        params: { entityId: id },
        request: { method: 'GET', url: '', headers: {} },
      },
    ]);
    const res = await s.send({ method: 'GET', url: `/v1/recommendations/${encodeURIComponent(id)}?k=2`, headers: {} });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body).entityId).toBe(id);
    const long = await s.send({ method: 'GET', url: `/v1/recommendations/${'y'.repeat(129)}`, headers: {} });
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body).error.message).toMatch(/must NOT have more than 128 characters/);
  });

  it('rejects an extra property and a string for a number instead of dropping or coercing them', async () => {
    const s = await server(true);
    const post = (body: unknown) =>
      s.send({
        method: 'POST',
        url: '/v1/recommendations',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const extra = await post({ entityIds: ['a'], k: 2, verbose: true });
    expect(extra.status).toBe(400);
    expect(JSON.parse(extra.body).error).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      message: 'body must NOT have additional properties',
    });
    const nested = await post({ items: [{ features: {}, extra: 1 }] });
    expect(nested.status).toBe(400);
    const coerced = await post({ entityIds: ['a'], k: '2' });
    expect(coerced.status).toBe(400);
    expect(JSON.parse(coerced.body).error.message).toBe('body/k must be integer');
    const wrapped = await post({ entityIds: 'a' });
    expect(wrapped.status).toBe(400);
    // the query string is text: k=2 is the integer 2
    expect((await s.send({ method: 'GET', url: '/v1/recommendations/a?k=2', headers: {} })).status).not.toBe(400);
  });
});
