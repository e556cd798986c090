/**
 * The dashboard's drift panel in headless Chromium, fed by a real DriftService over a SQLite drift store: one site
 * of the fleet reads one of its sensors 1.5 σ high, the monitors detect it on the site and its devices, and the page
 * shows the alarms and, per feature, the reference and the recent distributions, the shifted one marked. Without a
 * drift service the page asks for no panel at all.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../cloud/dashboard/dashboard-server.ts';
import { driftPanel } from '../../cloud/dashboard/drift-view.ts';
import { FleetView } from '../../cloud/dashboard/fleet-view.ts';
import { DriftService } from '../../cloud/drift/drift-service.ts';
import { buildReference } from '../../cloud/drift/reference.ts';
import { SqliteDriftStore } from '../../cloud/drift/sqlite-drift-store.ts';
import { ManualClock } from '../../lib/clock.ts';
import { Prng } from '../../lib/prng.ts';
import { launchChromium } from '../helpers/chromium.ts';

interface El {
  textContent: string | null;
  className: string;
  hidden: boolean;
  querySelectorAll(sel: string): ArrayLike<El>;
  getAttribute(name: string): string | null;
}

const shots = join(import.meta.dirname, '..', '..', 'test-results');
const dir = mkdtempSync(join(tmpdir(), 'edgeloop-dash-drift-'));
const clock = new ManualClock(Date.now());
const store = new SqliteDriftStore({ path: join(dir, 'drift.db') });
const drift = new DriftService({
  store,
  clock,
  intervalMs: 3_600_000,
  policy: { minSamples: 50, detectK: 1, window: 2, cooldownMs: 0 },
  deviceInfo: (id) => ({ site: id < 'pump-05' ? 'plant-a' : 'plant-b' }),
});
const view = new FleetView(Date.now());
let withDrift: DashboardServer;
let without: DashboardServer;
let browser: Browser;

beforeAll(async () => {
  const prng = new Prng(4);
  const ref = buildReference({
    process_temp_last: Array.from({ length: 2000 }, () => 310 + 3 * prng.normal()),
    torque_last: Array.from({ length: 2000 }, () => 40 + 4 * prng.normal()),
  });
  await store.start();
  await drift.start();
  drift.setReference({ ...ref, model: { name: 'anomaly', version: '1.0.0' } });
  const ids = Array.from({ length: 8 }, (_, i) => `pump-0${i + 1}`);
  for (const id of ids)
    drift.observeStatus({
      v: 1,
      type: 'status',
      deviceId: id,
      seq: 1,
      ts: clock.now(),
      online: true,
      models: [{ name: 'anomaly', version: '1.0.0' }],
    });
  for (let k = 0; k < 120; k++)
    for (const id of ids) {
      const shifted = id >= 'pump-05';
      drift.observeFeatures({
        deviceId: id,
        features: {
          process_temp_last: 310 + 3 * prng.normal() + (shifted ? 4.5 : 0),
          torque_last: 40 + 4 * prng.normal(),
        },
      });
    }
  clock.advance(60_000);
  await drift.check();
  const source = { snapshot: () => view.snapshot(Date.now()), device: (id: string) => view.device(id, Date.now()) };
  withDrift = new DashboardServer({ source, drift, intervalMs: 500 });
  without = new DashboardServer({ source, intervalMs: 500 });
  await withDrift.start();
  await without.start();
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await withDrift?.close();
  await without?.close();
  await drift.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('drift panel', () => {
  it('chooses the cohort in drift, cohorts before devices, and turns the evidence into shares per bin', async () => {
    const p = driftPanel(await drift.status({ events: 20 }));
    expect(p.drifting).toBeGreaterThan(0);
    expect(p.alarms[0]).toMatchObject({ subject: 'site:plant-b', monitor: 'input' });
    expect(p.alarms.filter((a) => a.kind === 'device').map((a) => a.subject)).toEqual([
      'device:pump-05',
      'device:pump-06',
      'device:pump-07',
      'device:pump-08',
    ]);
    expect(p.alarms.some((a) => a.subject === 'site:plant-a')).toBe(false);
    // half the fleet moved: the fleet's model cohort drifts too, listed after the site
    expect(p.alarms.map((a) => a.kind).indexOf('model')).toBeGreaterThan(0);
    expect(p.selected).toBe('site:plant-b');
    const pt = p.charts.find((c) => c.feature === 'process_temp_last')!;
    expect(pt.drifted).toBe(true);
    expect(p.charts[0]!.feature).toBe('process_temp_last'); // the fired test first
    expect(pt.reference).toHaveLength(pt.edges.length + 1); // a bin below and one above the display range
    expect(pt.reference.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(pt.recent.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(p.charts.find((c) => c.feature === 'torque_last')!.drifted).toBe(false);
    // asked for a subject that is fine: its evidence, nothing fired
    const a = driftPanel(await drift.status(), { subject: 'site:plant-a' });
    expect(a.selected).toBe('site:plant-a');
    expect(a.charts.every((c) => !c.drifted)).toBe(true);
    // an unknown subject falls back to the default choice
    expect(driftPanel(await drift.status(), { subject: 'site:nowhere' }).selected).toBe('site:plant-b');
  });

  it('in Chromium: the alarms, the histograms (recent shifted right of the reference), and a click selects a subject', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failed: string[] = [];
    page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${new URL(r.url()).pathname}`));
    await page.goto(withDrift.url!);
    await page.waitForFunction('Number(document.body.dataset.driftChecked) > 0');
    expect(await page.$eval('#drift', (e: El) => e.hidden)).toBe(false);
    const alarms = await page.$$eval('#drift-alarms li', (li: El[]) => li.map((l) => l.textContent ?? ''));
    expect(alarms[0]).toMatch(/^site:plant-b · input · since/);
    const charts = await page.$$eval('#drift-charts .hist', (hs: El[]) =>
      hs.map((h) => {
        const bars = (cls: string) =>
          Array.from(h.querySelectorAll(`rect.${cls}`)).map((r) => ({
            x: Number(r.getAttribute('x')),
            h: Number(r.getAttribute('height')),
          }));
        return {
          feature: h.getAttribute('data-feature'),
          drifted: h.className.includes('drifted'),
          ref: bars('ref'),
          rec: bars('rec'),
        };
      }),
    );
    const pt = charts.find((c) => c.feature === 'process_temp_last')!;
    expect(pt.drifted).toBe(true);
    expect(pt.ref.length).toBeGreaterThan(4);
    expect(pt.rec).toHaveLength(pt.ref.length);
    // the centre of mass of the recent bars sits right of the reference's
    const centre = (b: { x: number; h: number }[]) =>
      b.reduce((s, r) => s + r.x * r.h, 0) / b.reduce((s, r) => s + r.h, 0);
    expect(centre(pt.rec)).toBeGreaterThan(centre(pt.ref) + 10);
    expect(charts.find((c) => c.feature === 'torque_last')!.drifted).toBe(false);
    await page.screenshot({ path: join(shots, 'dashboard-drift.png'), fullPage: true });
    await page.click('#drift-alarms button[data-subject="device:pump-06"]');
    await page.waitForFunction(`document.getElementById('drift-sel').textContent.startsWith('device:pump-06')`);
    expect(failed).toEqual([]);
    await page.close();
  });

  it('without drift monitors the panel stays hidden and the page never asks for it', async () => {
    const page = await browser.newPage();
    const paths: string[] = [];
    page.on('request', (r) => paths.push(new URL(r.url()).pathname));
    await page.goto(without.url!);
    await page.waitForTimeout(300);
    expect(await page.$eval('#drift', (e: El) => e.hidden)).toBe(true);
    expect(paths).not.toContain('/api/drift');
    const res = await page.request.get(new URL('/api/drift', without.url!).toString());
    expect(res.status()).toBe(404);
    await page.close();
  });
});
