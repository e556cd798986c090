/**
 * The maintenance service on a real ONNX Runtime session of the shipped RUL model and a real SQLite alert store:
 * the manifest's test-vector windows sent cycle by cycle as telemetry are served with the manifest's expected
 * outputs; alerts fire once, survive a restart without firing again, and show in the metrics.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { MANIFEST, service, tempDir, windowMessages } from './fixtures.ts';

const tv = MANIFEST.testVector;
const T0 = 1_764_000_000_000;
/** cycles per model window (the manifest's) */
const W = (MANIFEST.inputs as { window: { length: number } }).window.length;

describe('MaintenanceService', () => {
  it('serves the model outputs of each device window, batched', async () => {
    const clock = new ManualClock(T0 + 100_000);
    const svc = await service({ clock, maxBatch: 3 });
    expect(() => svc.rul('nobody')).toThrow(expect.objectContaining({ code: 'EL_ERR_MAINTENANCE_UNKNOWN_DEVICE' }));
    // interleave the devices' cycles as a stream would
    const perDevice = tv.input.map((row, i) => windowMessages(`dev-${i}`, row, T0));
    for (let k = 0; k < W - 1; k++) for (const msgs of perDevice) svc.observe(msgs[k]!);
    expect(svc.rul('dev-0')).toMatchObject({ status: 'warming-up', rul: null, cycles: W - 1 });
    for (const msgs of perDevice) svc.observe(msgs[W - 1]!);
    await svc.idle();
    for (let i = 0; i < tv.input.length; i++) {
      const r = svc.rul(`dev-${i}`);
      const [rul, a, b] = tv.expected[i]!;
      expect(r.status).toBe('ok');
      expect(r.rul).toBeCloseTo(rul!, 3);
      expect(r.p10).toBeCloseTo(Math.min(a!, b!), 3);
      expect(r.p90).toBeCloseTo(Math.max(a!, b!), 3);
      const last = (W - 1) * 1000;
      expect(r).toMatchObject({ cycles: W, window: W, lastCycleAt: T0 + last, freshnessMs: 100_000 - last });
      expect(r.model).toEqual({ name: MANIFEST.name, version: MANIFEST.version });
      // W cycles over W - 1 s: 3600 cycles per hour; service due when p10 is reached at that rate
      expect(r.cyclesPerHour).toBeCloseTo(3600, 6);
      expect(r.suggestedServiceAt).toBe(Math.round(T0 + last + Math.max(0, r.p10!) * 1000));
    }
    expect(svc.stats()).toMatchObject({ scored: 4, batches: 2 });
    const fleet = svc.fleet({ sort: 'rul' });
    expect(fleet.total).toBe(4);
    expect(fleet.devices.map((d) => d.deviceId)).toEqual(['dev-1', 'dev-3', 'dev-2', 'dev-0']);
    expect(svc.fleet({ sort: 'deviceId', limit: 2 }).devices.map((d) => d.deviceId)).toEqual(['dev-0', 'dev-1']);
  });

  it('fires an alert once when p10 falls to the horizon, keeps it across a restart, counts it', async () => {
    const dir = tempDir();
    const registry = new Registry();
    // horizon 40: the test vector's rows 1 (p10 -8) and 3 (p10 39) are at or below it, rows 0 and 2 are not
    const svc = await service({ dir, horizon: 40, registry });
    for (let i = 0; i < tv.input.length; i++)
      for (const m of windowMessages(`dev-${i}`, tv.input[i]!, T0)) svc.observe(m);
    await svc.idle();
    // W more cycles of dev-1 (same values), sent before the next batch: coalesced into one scoring, no second alert
    const extra = windowMessages('dev-1', tv.input[1]!, T0 + W * 1000);
    for (const m of extra) svc.observe(m);
    await svc.idle();
    const alerts = await svc.alerts();
    expect(alerts.map((a) => [a.deviceId, a.state]).sort()).toEqual([
      ['dev-1', 'firing'],
      ['dev-3', 'firing'],
    ]);
    expect(alerts.find((a) => a.deviceId === 'dev-1')).toMatchObject({
      cycles: W,
      at: T0 + (W - 1) * 1000,
      horizon: 40,
    });
    expect(svc.rul('dev-1').alert).toBe(true);
    expect(svc.rul('dev-0').alert).toBe(false);
    const text = await registry.metrics();
    expect(text).toMatch(/edgeloop_maintenance_alerts_total\{state="firing"\} 2/);
    expect(text).toMatch(/edgeloop_maintenance_alerts_open 2/);
    expect(text).toMatch(/edgeloop_maintenance_windows_scored_total 5/);
    expect(text).toMatch(/edgeloop_maintenance_devices\{status="ok"\} 4/);
    await svc.close();

    // a restart reads the open alerts back: the same prediction fires nothing new
    const again = await service({ dir, horizon: 40 });
    for (const m of windowMessages('dev-1', tv.input[1]!, T0 + 100_000)) again.observe(m);
    await again.idle();
    expect(again.rul('dev-1').alert).toBe(true);
    expect((await again.alerts()).length).toBe(2);
  });

  it('refuses a model that is not a RUL model and unknown options', async () => {
    const { MaintenanceService } = await import('../../../cloud/maintenance/maintenance-service.ts');
    const bad = { ...MANIFEST, kind: 'anomaly' } as typeof MANIFEST;
    const runner = {
      inputName: 'x',
      outputName: 'y',
      run: async () => ({ data: new Float32Array(), rows: 0, width: 0 }),
      close: async () => {},
    };
    const store = {
      start: async () => {},
      append: async () => [],
      list: async () => [],
      openDevices: async () => [],
      close: async () => {},
    };
    expect(() => new MaintenanceService({ manifest: bad, runner, store })).toThrow(
      expect.objectContaining({ code: 'EL_ERR_MAINTENANCE_MODEL' }),
    );
    expect(() => new MaintenanceService({ manifest: MANIFEST, runner, store, horizn: 3 } as never)).toThrow(
      /unknown option "horizn"/,
    );
  });
});
