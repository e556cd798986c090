/**
 * `edgeloop up --scenario degradation` with no other configuration: real agents (SQLite outbox + ONNX each) on the
 * embedded cloud send the cycles of engines that wear to failure; `up` runs the maintenance part with the shipped
 * RUL model, and the dashboard's RUL panel (checked in headless Chromium) shows every device's RUL counting down to
 * its failure, with a maintenance alert before it. The maintenance API's URL is printed with the others.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { startUp } from '../../cli/up/parts.ts';
import { deviceIds } from '../../simulator/build-fleet.ts';
import { degradationFleet } from '../../simulator/scenarios/degradation.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { testUpOptions } from '../helpers/up-options.ts';

interface Row {
  deviceId: string;
  status: 'ok' | 'warming-up';
  rul: number | null;
  p10: number | null;
  cycles: number;
  alert: boolean;
}

interface El {
  getAttribute(name: string): string | null;
  className: string;
}

const DEVICES = 4;
const RATE = 25;
const SEED = 5;

describe('edgeloop up --scenario degradation', () => {
  it('shows RUL countdowns to each failure on the dashboard', { timeout: 120_000 }, async () => {
    // no other configuration: the default fault rate too (the scenario has no faults)
    const { options } = testUpOptions('el-up-rul-', {
      devices: DEVICES,
      rate: RATE,
      seed: SEED,
      faultEverySec: 6,
      scenario: 'degradation',
    });
    const notes: string[] = [];
    const handle = await startUp(options, (s) => notes.push(s));
    onTestFinished(() => handle.close());
    expect(handle.running, notes.join('\n')).toContain('maintenance');
    expect(handle.missing.map((m) => m.part)).not.toContain('maintenance');
    expect(handle.urls.maintenance).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // the lives up's fleet wears through: the same seed and ids give the same ones
    const lives = new Map(degradationFleet(SEED, deviceIds('dev-', DEVICES)).lives.map((l) => [l.deviceId, l.cycles]));

    const panel = async (): Promise<{ available: boolean; devices: Row[] }> =>
      (await fetch(`${handle.dashboardUrl}api/maintenance`)).json() as never;
    // every device's RUL over its life, as the dashboard serves it
    const seen = new Map<string, Array<{ cycles: number; rul: number }>>();
    const deadline = Date.now() + 90_000;
    let rows: Row[] = [];
    for (;;) {
      const p = await panel();
      expect(p.available).toBe(true);
      rows = p.devices;
      for (const r of rows)
        if (r.status === 'ok' && r.rul !== null) {
          const s = seen.get(r.deviceId) ?? [];
          if (s.at(-1)?.cycles !== r.cycles) s.push({ cycles: r.cycles, rul: r.rul });
          seen.set(r.deviceId, s);
        }
      const failed = rows.filter((r) => r.cycles >= lives.get(r.deviceId)!);
      if (failed.length === DEVICES || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(rows.map((r) => r.deviceId).sort(), notes.join('\n')).toEqual([...lives.keys()]);
    for (const r of rows) {
      const life = lives.get(r.deviceId)!;
      // every cycle to the failure arrived and was scored; the countdown fell from well above the horizon to near 0
      expect(r.cycles, r.deviceId).toBe(life);
      expect(r.status).toBe('ok');
      const s = seen.get(r.deviceId)!;
      expect(s.length, r.deviceId).toBeGreaterThan(3);
      expect(s[0]!.rul, r.deviceId).toBeGreaterThan(r.rul! + 30);
      expect(r.rul!, r.deviceId).toBeLessThan(40);
      // the maintenance alert is open at failure: p10 is at or below the horizon (30 cycles)
      expect(r.alert, r.deviceId).toBe(true);
      expect(r.p10!).toBeLessThanOrEqual(30);
    }

    // the panel in the browser: one row per device, each alerting, its interval drawn
    const browser = await launchChromium();
    onTestFinished(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(handle.dashboardUrl);
    await page.waitForSelector('#rul-card:not([hidden]) tbody tr');
    await page.waitForFunction(`document.querySelectorAll('#rul tbody tr').length === ${DEVICES}`);
    const shown = await page.$$eval('#rul tbody tr', (trs) =>
      (trs as unknown as El[]).map((tr) => ({
        id: tr.getAttribute('data-rul'),
        alert: tr.className.includes('alert'),
      })),
    );
    expect(shown.map((r) => r.id).sort()).toEqual([...lives.keys()]);
    expect(shown.every((r) => r.alert)).toBe(true);
  });
});
