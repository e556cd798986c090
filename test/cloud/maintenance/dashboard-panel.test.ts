/**
 * The dashboard's RUL panel in headless Chromium: a real maintenance service (shipped RUL model on ORT) scores four
 * devices from their live cycles; the page shows them by predicted RUL with the p10-p90 interval drawn as a bar,
 * the alerting devices marked, and a warming-up device as such. Without a maintenance part the panel stays hidden.
 * A screenshot goes to test-results/ for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DashboardServer } from '../../../cloud/dashboard/dashboard-server.ts';
import { FleetView } from '../../../cloud/dashboard/fleet-view.ts';
import { launchChromium } from '../../helpers/chromium.ts';
import { MANIFEST, service, windowMessages } from './fixtures.ts';

interface El {
  textContent: string | null;
  hidden: boolean;
  className: string;
  getAttribute(name: string): string | null;
  querySelectorAll(sel: string): ArrayLike<El>;
  querySelector(sel: string): El | null;
}

async function dashboard(maintenance?: () => never | undefined) {
  const view = new FleetView(Date.now());
  const server = new DashboardServer({
    source: { snapshot: () => view.snapshot(Date.now()), device: () => undefined },
    ...(maintenance ? { maintenance } : {}),
  });
  await server.start();
  onTestFinished(() => server.close());
  const browser = await launchChromium();
  onTestFinished(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return { server, page };
}

describe('dashboard RUL panel', () => {
  it('shows devices by predicted RUL with their interval and alerts', { timeout: 60_000 }, async () => {
    const svc = await service({ horizon: 40 });
    const t0 = Date.now() - 60_000;
    MANIFEST.testVector.input.forEach((row, i) => {
      for (const m of windowMessages(`engine-${i + 1}`, row, t0)) svc.observe(m);
    });
    // a device with 10 cycles: warming up
    for (const m of windowMessages('engine-9', MANIFEST.testVector.input[0]!, t0).slice(0, 10)) svc.observe(m);
    await svc.idle();
    const { server, page } = await dashboard(() => svc as never);
    await page.goto(server.url!);
    await page.waitForSelector('#rul-card:not([hidden]) tbody tr');
    const rows = await page.$$eval('#rul tbody tr', (trs) =>
      (trs as unknown as El[]).map((tr) => ({
        id: tr.getAttribute('data-rul'),
        rul: tr.querySelector('.rul-v')?.textContent ?? null,
        alert: tr.className.includes('alert'),
        bar: tr.querySelector('.bar')?.getAttribute('aria-label') ?? null,
        text: tr.textContent,
      })),
    );
    // lowest RUL first (the test vector's rows 1, 3, 2, 0), the warming-up device last
    expect(rows.map((r) => r.id)).toEqual(['engine-2', 'engine-4', 'engine-3', 'engine-1', 'engine-9']);
    expect(rows.map((r) => r.alert)).toEqual([true, true, false, false, false]);
    const r1 = svc.rul('engine-3');
    expect(rows[2]!.rul).toBe(Math.round(r1.rul!).toLocaleString('en-US'));
    expect(rows[2]!.bar).toContain(`p90 ${Math.round(r1.p90!)}`);
    expect(rows[4]!.text).toContain(
      `warming up: 10 of ${(MANIFEST.inputs as { window: { length: number } }).window.length} cycles`,
    );
    expect(await page.textContent('#rul-sub')).toContain('alert horizon (40 cycles)');
    const shots = join(import.meta.dirname, '..', '..', '..', 'test-results');
    mkdirSync(shots, { recursive: true });
    await page.locator('#rul-card').screenshot({ path: join(shots, 'dashboard-rul-panel.png') });
  });

  it('stays hidden without a maintenance part', { timeout: 60_000 }, async () => {
    const { server, page } = await dashboard();
    const res = await fetch(`${server.url}api/maintenance`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ available: false });
    await page.goto(server.url!);
    await page.waitForLoadState('networkidle');
    expect(await page.$eval('#rul-card', (e) => (e as unknown as El).hidden)).toBe(true);
  });
});
