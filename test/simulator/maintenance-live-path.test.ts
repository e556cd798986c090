/**
 * The live maintenance path on a small synthetic fleet: the simulator's degradation scenario (devices wear to
 * failure and stop) publishes to the embedded cloud (createCloud: embedded aedes broker, ingest, local stream,
 * processor, SQLite feature store, the maintenance part on the shipped RUL model), and its report scores the RUL
 * served over HTTP against the truth. Every cycle sent must reach the model; the figures in the report must be
 * the ones the API serves.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud } from '../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../cloud/config.ts';
import { maintenancePart } from '../../cloud/parts/maintenance.ts';
import { runSimulation } from '../../simulator/run-simulation.ts';

describe('degradation scenario × embedded cloud', () => {
  it('serves a RUL for every device from its live sequence and scores it', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'el-maint-live-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        logLevel: 'silent',
        broker: { mode: 'embedded', embedded: { host: '127.0.0.1', port: 0, allowAnonymous: true } },
        http: { enabled: false },
        processor: { idleWaitMs: 20 },
        maintenance: { port: 0, horizon: 30 },
      } as never),
    );
    await cloud.start();
    onTestFinished(() => cloud.close());
    const maintenance = cloud.get(maintenancePart);
    const r = await runSimulation({
      url: cloud.urls.mqtt!,
      devices: 6,
      durationSec: 3.5,
      messageRate: 40,
      scenario: 'degradation',
      degradation: { minLifeCycles: 70, maxLifeCycles: 110 },
      seed: 7,
      observe: false,
      maintenanceUrl: maintenance.url!,
      drainTimeoutSec: 20,
    });
    const m = r.maintenance!;
    expect(r.fleet.sensors).toHaveLength(24);
    expect(m).toMatchObject({ scenario: 'degradation', devices: 6, failures: 6 });
    const s = m.score!;
    // every cycle each device sent until it failed was seen and scored
    expect(s.complete).toBe(6);
    expect(s.scored).toBe(6);
    for (const d of s.perDevice) {
      expect(d.failed).toBe(true);
      expect(d.seen).toBe(d.sent);
      expect(d.trueRul).toBe(0);
      // what the report scored is what the API serves
      const served = maintenance.instance.rul(d.deviceId);
      expect(served.cycles).toBe(d.sent);
      expect(served.rul).toBe(d.rul);
    }
    expect(s.rmseAtFailure).toBe(s.rmseAtLastReading);
    expect(s.rmseAtFailure).toBeGreaterThanOrEqual(0);
    expect(s.alerts.failed).toBe(6);
    expect(s.alerts.alerted + s.alerts.missed).toBe(6);
    // alerts in the report are the API's
    const alerts = await maintenance.instance.alerts({ state: 'firing' });
    expect(new Set(alerts.map((a) => a.deviceId)).size).toBe(s.alerts.alerted + s.alerts.alertedWithoutFailure);
    // the shipped model reads the synthetic wear as C-MAPSS wear: near 0 at failure (6.3 cycles RMSE at seed 7)
    expect(s.rmseAtFailure).toBeLessThan(25);
    expect(s.alerts.alerted).toBeGreaterThanOrEqual(4);
  });
});
