import { describe, expect, it, onTestFinished } from 'vitest';
import { FleetView } from '../../cloud/dashboard/fleet-view.ts';
import { DashboardServer } from '../../cloud/dashboard/dashboard-server.ts';
import type { StatusMessage, TelemetryMessage } from '../../protocol/messages.ts';

const tel = (deviceId: string, seq: number, ts: number, n = 2): TelemetryMessage => ({
  v: 1,
  type: 'telemetry',
  deviceId,
  seq,
  sentAt: ts,
  readings: Array.from({ length: n }, (_, i) => ({ seq: seq + i, sensor: `s${i}`, ts, value: i + 0.5 })),
});
const status = (deviceId: string, online: boolean, extra: Partial<StatusMessage> = {}): StatusMessage => ({
  v: 1,
  type: 'status',
  deviceId,
  seq: 0,
  ts: 0,
  online,
  ...extra,
});

describe('FleetView', () => {
  it('tracks throughput per second, latency, health and the anomaly feed', () => {
    const v = new FleetView(1_000_000, { staleAfterMs: 5000, backlogDepth: 10 });
    v.telemetry(tel('a', 1, 1_000_000), 1_000_040);
    v.telemetry(tel('b', 1, 1_000_100), 1_000_120);
    v.telemetry(tel('a', 3, 1_001_000), 1_001_030);
    v.status(status('b', true, { outbox: { depth: 50, bytes: 1, oldestAgeMs: 1 } }), 1_001_100);
    v.events(
      'a',
      [{ seq: 9, ts: 1_001_000, kind: 'anomaly', severity: 'warning', score: 0.9, threshold: 0.5, sensors: ['s0'] }],
      1_001_200,
    );
    v.status(status('c', false), 1_001_300);
    const s = v.snapshot(1_002_500);
    expect(s.totals).toMatchObject({
      devices: 3,
      readings: 6,
      messages: 3,
      anomalies: 1,
      readingsPerSec: 2,
      messagesPerSec: 1,
    });
    expect(s.throughput).toEqual([4, 2]);
    expect(s.latency.deviceToDashboard.p99).toBe(40);
    expect(s.devices.map((d) => [d.deviceId, d.health])).toEqual([
      ['a', 'ok'],
      ['b', 'backlog'],
      ['c', 'offline'],
    ]);
    expect(s.devices[0]!.values).toEqual({ s0: 0.5, s1: 1.5 });
    expect(s.devices[0]!.lastSeq).toBe(4);
    expect(s.anomalies[0]).toMatchObject({ deviceId: 'a', severity: 'warning', score: 0.9, sensors: ['s0'] });
    // later: a silent device goes stale, old seconds leave the throughput window
    const later = v.snapshot(1_009_000);
    expect(later.devices.find((d) => d.deviceId === 'a')!.health).toBe('stale');
    expect(later.throughput.slice(-3)).toEqual([0, 0, 0]);
    v.setRecommendations('a', [{ item: 'replace tool', score: 0.8 }]);
    expect(v.device('a', 1_009_000)!.recommendations).toEqual([{ item: 'replace tool', score: 0.8 }]);
  });
});

describe('DashboardServer', () => {
  it('serves the page, JSON and an SSE stream of snapshots, and closes with streams open', async () => {
    const view = new FleetView(Date.now());
    view.telemetry(tel('dev-1', 1, Date.now()), Date.now());
    const server = new DashboardServer({
      source: { snapshot: () => view.snapshot(Date.now()), device: (id) => view.device(id, Date.now()) },
      port: 0,
      intervalMs: 50,
      title: 'test<fleet>',
    });
    await server.start();
    onTestFinished(() => server.close());
    const url = server.url!;
    const html = await (await fetch(url)).text();
    expect(html).toContain('<title>test&lt;fleet&gt; — live fleet</title>');
    expect(html).not.toMatch(/https?:\/\//);
    expect((await fetch(new URL('dashboard.js', url))).headers.get('content-type')).toMatch(/javascript/);
    const snap = (await (await fetch(new URL('api/snapshot', url))).json()) as { totals: { devices: number } };
    expect(snap.totals.devices).toBe(1);
    expect((await fetch(new URL('api/devices/dev-1', url))).status).toBe(200);
    const unknown = await fetch(new URL('api/devices/nope', url));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: {
        code: 'EL_ERR_NOT_FOUND',
        message: 'unknown device "nope"',
        requestId: unknown.headers.get('x-request-id'),
        details: { deviceId: 'nope' },
      },
    });
    const res = await fetch(new URL('api/stream', url));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/event: snapshot/g) ?? []).length < 2)
      text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^event: snapshot\ndata: \{"now":/);
    const t0 = Date.now();
    await server.close(); // must not hang on the open stream
    expect(Date.now() - t0).toBeLessThan(1000);
    await reader.cancel().catch(() => {});
    expect(() => new DashboardServer({} as never)).toThrow(/source/);
  });
});
