/**
 * The warehouse reports API over a real warehouse (LocalStream → RawArchive → Parquet → DuckDB file, opened
 * read-only): every operation driven with generated valid and invalid input from the document it publishes
 * (test/helpers/openapi-fuzz.ts), answers equal to the named reports, the parameters applied, and the file let go
 * when idle so a refresh can take its lock.
 */
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildReportsApp, ReadOnlyWarehouse, ReportsServer } from '../../../cloud/warehouse/reports-server.ts';
import { Warehouse } from '../../../cloud/warehouse/warehouse.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { reportsPart } from '../../../cloud/parts/index.ts';
import { fuzzOpenApi, generateCases, type OpenApiDocument } from '../../helpers/openapi-fuzz.ts';
import { archiveMessages, MIN, refreshedWarehouse, T0, tempDir, timeline, twoDayFleet } from './fleet-fixture.ts';

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function warehouseFile(): Promise<{ dir: string; path: string }> {
  const dir = tempDir();
  return { dir, path: await refreshedWarehouse(dir, twoDayFleet()) };
}

async function app(path: string) {
  const wh = new ReadOnlyWarehouse(path, 50);
  onTestFinished(() => wh.close());
  const a = buildReportsApp({ warehouse: wh });
  onTestFinished(() => a.close());
  const send = async (r: { method: string; url: string; headers: Record<string, string>; body?: string }) => {
    const res = await a.inject({
      method: r.method as 'GET',
      url: r.url,
      headers: r.headers,
      ...(r.body === undefined ? {} : { payload: r.body }),
    });
    return { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.body };
  };
  const get = async (url: string) => {
    const res = await send({ method: 'GET', url, headers: {} });
    return { status: res.status, body: JSON.parse(res.body) };
  };
  return { app: a, send, get };
}

describe('warehouse reports API', () => {
  it('answers every operation as its OpenAPI document says', { timeout: 120_000 }, async () => {
    const { path } = await warehouseFile();
    const s = await app(path);
    const doc = (await s.get('/openapi.json')).body as OpenApiDocument;
    const cases = generateCases(doc);
    const { findings, statuses } = await fuzzOpenApi(doc, s.send, { cases });
    expect(findings.slice(0, 15), `${findings.length} findings`).toEqual([]);
    const ops = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(ops).toHaveLength(5);
    for (const op of ops)
      expect(
        cases.some((c) => c.operation === op && c.valid),
        op,
      ).toBe(true);
    expect(statuses['GET /v1/reports/model-impact']![200]).toBeGreaterThan(3);
    expect(statuses['GET /v1/reports/model-impact']![400]).toBeGreaterThan(3);
    expect(statuses['GET /v1/reports/site-trend']![200]).toBeGreaterThan(10);
    expect(statuses['GET /v1/reports/site-trend']![400]).toBeGreaterThan(10);
    expect(statuses['GET /v1/reports/device-history/{deviceId}']![404]).toBeGreaterThan(3);
    expect(statuses['GET /v1/reports/device-history/{deviceId}']![400]).toBeGreaterThan(5);
  });

  it('answers the named reports, with their parameters applied', async () => {
    const { path } = await warehouseFile();
    const s = await app(path);
    const trend = await s.get('/v1/reports/site-trend');
    expect(trend.status).toBe(200);
    expect(
      trend.body.rows.map((r: { site: string; day: string; readings: number }) => [r.site, r.day, r.readings]),
    ).toEqual([
      ['plant-a', day(T0 - DAY), 60],
      ['plant-a', day(T0), 240],
      ['plant-b', day(T0), 180],
    ]);
    const one = await s.get(`/v1/reports/site-trend?site=plant-a&from=${day(T0)}`);
    expect(one.body.rows.map((r: { site: string; day: string }) => `${r.site} ${r.day}`)).toEqual([
      `plant-a ${day(T0)}`,
    ]);
    const upTo = await s.get(`/v1/reports/site-trend?to=${T0 - DAY + 3_600_000}`);
    expect(upTo.body.rows.map((r: { day: string }) => r.day)).toEqual([day(T0 - DAY)]);

    const impact = await s.get(
      `/v1/reports/model-impact?asOf=${encodeURIComponent(new Date(T0 + 100 * MIN).toISOString())}`,
    );
    expect(impact.status).toBe(200);
    // before minute 100: dev-a 60 readings under @1 (6 anomalies) and 40 under @2 (3); dev-b 100 under @1 (1); dev-c 120 under @1 (2)
    expect(
      impact.body.rows.map((r: Record<string, unknown>) => [r.model_version, r.devices, r.readings, r.anomalies]),
    ).toEqual([
      ['1', 3, 280, 9],
      ['2', 1, 40, 3],
    ]);
    expect((await s.get(`/v1/reports/model-impact?asOf=${T0 + 100 * MIN}`)).body).toEqual(impact.body);

    const history = await s.get('/v1/reports/device-history/dev-a');
    expect(history.status).toBe(200);
    expect(
      history.body.rows.map((r: Record<string, unknown>) => [
        r.version,
        r.model_version,
        r.valid_from,
        r.valid_to,
        r.is_current,
      ]),
    ).toEqual([
      [1, '1', new Date(T0).toISOString(), new Date(T0 + 60 * MIN).toISOString(), false],
      [2, '2', new Date(T0 + 60 * MIN).toISOString(), new Date(T0 + 120 * MIN).toISOString(), false],
      [3, '3', new Date(T0 + 120 * MIN).toISOString(), null, true],
    ]);
    const fleetHealth = await s.get('/v1/reports/fleet-health');
    expect(
      fleetHealth.body.rows.map((r: Record<string, unknown>) => [r.device_id, r.model_version, r.last_reading]),
    ).toEqual([
      ['dev-a', '3', new Date(T0 + 179 * MIN).toISOString()],
      ['dev-b', '1', new Date(T0 + 179 * MIN).toISOString()],
      ['dev-c', '1', new Date(T0 + 59 * MIN).toISOString()],
    ]);
  });

  it('names what was wrong: unknown device 404, bad time 400, extra parameter 400', async () => {
    const { path } = await warehouseFile();
    const s = await app(path);
    expect(await s.get('/v1/reports/device-history/nobody')).toEqual({
      status: 404,
      body: {
        error: {
          code: 'EL_ERR_WAREHOUSE_NO_DEVICE',
          message: 'the warehouse has no device "nobody"',
          requestId: expect.any(String),
        },
      },
    });
    expect(await s.get('/v1/reports/site-trend?from=2026-02-30')).toEqual({
      status: 400,
      body: {
        error: {
          code: 'EL_ERR_WAREHOUSE_REPORT',
          message: 'from: "2026-02-30" is not a valid date or time',
          requestId: expect.any(String),
        },
      },
    });
    const extra = await s.get('/v1/reports/fleet-health?limit=3');
    expect(extra.status).toBe(400);
    expect(extra.body.error).toEqual({
      code: 'EL_ERR_WAREHOUSE_HTTP',
      message: 'querystring must NOT have additional properties',
      requestId: expect.any(String),
    });
    const none = await app(join(tempDir(), 'warehouse.duckdb'));
    const missing = await none.get('/v1/reports/fleet-health');
    expect(missing.status).toBe(503);
    expect(missing.body.error.code).toBe('EL_ERR_WAREHOUSE_OPEN');
    expect((await none.get('/healthz')).status).toBe(503);
    const asOf = await s.get('/v1/reports/model-impact?asOf=yesterday');
    expect(asOf.status).toBe(400);
    expect(asOf.body.error.message).toMatch(/^querystring\/asOf /);
    const long = await s.get(`/v1/reports/device-history/${'d'.repeat(129)}`);
    expect(long.status).toBe(400);
    expect(long.body.error.message).toBe('params/deviceId must NOT have more than 128 characters');
  });

  it('lets go of the file when idle, so a refresh can lock it, and then reads what the refresh wrote', async () => {
    const { dir, path } = await warehouseFile();
    const server = new ReportsServer({ path, idleCloseMs: 50 });
    await server.start();
    onTestFinished(() => server.close());
    const health = async () =>
      (await fetch(`${server.url}/healthz`)).json() as Promise<{ ok: boolean; refreshedAt: string | null }>;
    const plantB = async () =>
      (
        (await (await fetch(`${server.url}/v1/reports/site-trend?site=plant-b`)).json()) as {
          rows: Array<{ readings: number }>;
        }
      ).rows[0]!.readings;
    const before = await health();
    expect(before.ok).toBe(true);
    expect(await plantB()).toBe(180);
    expect(await plantB()).toBe(180);
    await new Promise((r) => setTimeout(r, 200));
    // ten more readings of dev-b, archived and refreshed while the server is idle
    await archiveMessages(dir, timeline('dev-b', 180, 190, [], 300));
    const w = await Warehouse.open({
      path,
      archiveDir: join(dir, 'archive'),
      checks: { maxStalenessMs: null },
      clock: new ManualClock(Date.parse(before.refreshedAt!) + 60_000),
    });
    try {
      await w.refresh();
    } finally {
      w.close();
    }
    expect((await health()).refreshedAt).toBe(new Date(Date.parse(before.refreshedAt!) + 60_000).toISOString());
    expect(await plantB()).toBe(190);
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/reports.js">');
  });

  it('runs as the cloud part of a reports: section, over <dataDir>/warehouse.duckdb', async () => {
    const { dir } = await warehouseFile();
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        only: ['reports'],
        reports: { port: 0 },
        http: { enabled: false },
        logLevel: 'silent',
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();
    expect([...cloud.parts.keys()]).toEqual(['reports']);
    const url = cloud.get(reportsPart).url!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/v1/reports/site-trend?site=plant-b`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { rows: unknown[] }).rows).toHaveLength(1);
    expect(cloud.health().parts.reports).toMatchObject({ ok: true, url });
    await cloud.close();
    expect(cloud.get(reportsPart).url).toBeUndefined();
  });
});
