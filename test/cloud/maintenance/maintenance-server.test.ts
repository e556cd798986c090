/**
 * The maintenance API through the real Fastify server (inject) on a real service (shipped RUL model on ORT, SQLite
 * alert store): the documented answers, and every operation fuzzed against the OpenAPI document it publishes
 * (test/helpers/openapi-fuzz.ts).
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildMaintenanceServer } from '../../../cloud/maintenance/maintenance-server.ts';
import { fuzzOpenApi, generateCases, type OpenApiDocument } from '../../helpers/openapi-fuzz.ts';
import { MANIFEST, service, windowMessages } from './fixtures.ts';

const T0 = 1_764_000_000_000;

async function setup(ids: string[], metrics = true) {
  const registry = new Registry();
  const svc = await service({ horizon: 40, registry });
  ids.forEach((id, i) => {
    for (const m of windowMessages(id, MANIFEST.testVector.input[i % 4]!, T0)) svc.observe(m);
  });
  await svc.idle();
  const app = buildMaintenanceServer({ service: svc, ...(metrics ? { registry } : {}) });
  onTestFinished(() => app.close());
  const send = async (r: { method: string; url: string; headers: Record<string, string>; body?: string }) => {
    const res = await app.inject({
      method: r.method as 'GET',
      url: r.url,
      headers: r.headers,
      ...(r.body === undefined ? {} : { payload: r.body }),
    });
    return { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.body };
  };
  return { app, svc, send };
}

describe('maintenance server', () => {
  it('answers a device RUL, the fleet by RUL, the alerts, and 404 for an unknown device', async () => {
    const { app } = await setup(['pump-1', 'pump-2', 'pump-3', 'pump-4']);
    const one = await app.inject({ url: '/v1/devices/pump-2/rul' });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({
      deviceId: 'pump-2',
      status: 'ok',
      cycles: (MANIFEST.inputs as { window: { length: number } }).window.length,
      alert: true,
    });
    const fleet = (await app.inject({ url: '/v1/maintenance/devices?sort=rul&limit=2' })).json();
    expect(fleet).toMatchObject({ total: 4, horizon: 40 });
    expect(fleet.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['pump-2', 'pump-4']);
    const alerts = (await app.inject({ url: '/v1/maintenance/alerts?state=firing' })).json();
    expect(alerts.alerts.map((a: { deviceId: string }) => a.deviceId).sort()).toEqual(['pump-2', 'pump-4']);
    const missing = await app.inject({ url: '/v1/devices/nope/rul' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'EL_ERR_MAINTENANCE_UNKNOWN_DEVICE' } });
    const bad = await app.inject({ url: '/v1/maintenance/devices?sort=age' });
    expect(bad.statusCode).toBe(400);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/edgeloop_maintenance_alerts_total\{state="firing"\} 2/);
  });

  for (const metrics of [true, false]) {
    it(`every operation answers as its OpenAPI document says (metrics: ${metrics})`, { timeout: 60_000 }, async () => {
      const probe = await setup([], metrics);
      const doc = (await probe.app.inject({ url: '/openapi.json' })).json() as OpenApiDocument;
      expect(Object.keys(doc.paths).includes('/metrics')).toBe(metrics);
      const cases = generateCases(doc);
      // every valid device id the generator made has a scored window
      const ids = new Set<string>();
      for (const c of cases) if (c.valid && typeof c.params.deviceId === 'string') ids.add(c.params.deviceId);
      expect(ids.size).toBeGreaterThan(3);
      const s = await setup([...ids], metrics);
      const { findings, statuses } = await fuzzOpenApi(doc, s.send, { cases });
      expect(findings.slice(0, 15), `${findings.length} findings`).toEqual([]);
      const rul = 'GET /v1/devices/{deviceId}/rul';
      expect(statuses[rul]![200]).toBeGreaterThan(3);
      expect(statuses[rul]![400]).toBeGreaterThan(3);
      expect(statuses['GET /v1/maintenance/devices']![400]).toBeGreaterThan(3);
    });
  }
});
