/**
 * The dashboard page as a person sees it, in headless Chromium at 800 and 1440 px: every request answered (the
 * favicon too), a chart whose labels are drawn at the element's own size with a clock-time axis, a device table
 * that sorts, filters and opens a device's details, and no sideways scrolling on a small screen. Screenshots go
 * to test-results/ for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../cloud/dashboard/dashboard-server.ts';
import { FleetView } from '../../cloud/dashboard/fleet-view.ts';
import type { TelemetryMessage } from '../../protocol/messages.ts';
import { launchChromium } from '../helpers/chromium.ts';

const root = join(import.meta.dirname, '..', '..');

/** The part of a DOM element these page functions use (the project compiles without the DOM library). */
interface El {
  textContent: string | null;
  clientWidth: number;
  clientHeight: number;
  scrollWidth: number;
  getAttribute(name: string): string | null;
  querySelector(sel: string): El | null;
  querySelectorAll(sel: string): ArrayLike<El>;
  getBoundingClientRect(): { width: number; height: number };
}
const shots = join(root, 'test-results');

let server: DashboardServer;
let browser: Browser;
const view = new FleetView(Date.now() - 120_000, { staleAfterMs: 20_000 });

function feed(): void {
  const now = Date.now();
  for (let d = 0; d < 30; d++) {
    const id = `pump-${String(d + 1).padStart(2, '0')}`;
    // devices 25.. went quiet a minute ago (stale); the others report every second for the last 90 s
    const lastAt = d >= 25 ? now - 60_000 : now;
    let seq = 1;
    for (let t = now - 90_000; t <= lastAt; t += 1000) {
      const m: TelemetryMessage = {
        v: 1,
        type: 'telemetry',
        deviceId: id,
        seq,
        sentAt: t,
        readings: ['temperature', 'vibration', 'pressure']
          .slice(0, 1 + (d % 3))
          .map((sensor, i) => ({ seq: seq + i, sensor, ts: t, value: 20 + d + i / 10 + ((t / 1000) % 7) })),
      };
      seq += m.readings.length;
      view.telemetry(m, t + 5 + (d % 4));
    }
    if (d % 7 === 0)
      view.events(
        id,
        [
          {
            seq,
            ts: lastAt,
            kind: 'anomaly',
            severity: 'warning',
            score: 0.8,
            threshold: 0.5,
            sensors: ['temperature'],
          },
        ],
        lastAt,
      );
  }
  view.status({ v: 1, type: 'status', deviceId: 'pump-30', seq: 999, ts: now, online: false }, now);
  view.setRecommendations('pump-02', [{ item: 'restore cooling', score: 0.91, reason: 'HDF' }]);
}

beforeAll(async () => {
  feed();
  server = new DashboardServer({
    source: { snapshot: () => view.snapshot(Date.now()), device: (id) => view.device(id, Date.now()) },
    intervalMs: 200,
  });
  await server.start();
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function open(width: number): Promise<{ page: Page; failed: string[]; ok: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const failed: string[] = [];
  const ok: string[] = [];
  page.on('response', (r) => (r.status() >= 400 ? failed : ok).push(`${r.status()} ${new URL(r.url()).pathname}`));
  page.on('requestfailed', (r) => {
    if (!r.url().endsWith('/api/stream')) failed.push(`failed ${new URL(r.url()).pathname}`);
  });
  await page.goto(server.url!);
  await page.waitForFunction('Number(document.body.dataset.readings) > 0');
  // the browser asks for the icon after the page has loaded
  await page.waitForTimeout(300);
  return { page, failed, ok };
}

const rows = (page: Page): Promise<string[][]> =>
  page.$$eval('#fleet tbody tr[data-device]', (trs: El[]) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')),
  );

describe('dashboard page in Chromium', () => {
  for (const width of [800, 1440]) {
    it(`at ${width} px: every request answered, chart drawn at its own size with a clock-time axis, no sideways scroll`, async () => {
      const { page, failed, ok } = await open(width);
      await page.screenshot({ path: join(shots, `dashboard-${width}.png`), fullPage: true });
      expect(failed).toEqual([]);
      expect(ok.some((r) => /^200 \/favicon\.(svg|ico)$/.test(r))).toBe(true);
      const chart = await page.$eval('#chart', (svg: El) => {
        const vb = (svg.getAttribute('viewBox') ?? '').split(' ').map(Number);
        const ticks = Array.from(svg.querySelectorAll('text.tick')).map((t) => ({
          text: t.textContent ?? '',
          x: Number(t.getAttribute('x')),
        }));
        const label = svg.querySelector('text')!.getBoundingClientRect();
        return {
          vbWidth: vb[2]!,
          vbHeight: vb[3]!,
          width: svg.clientWidth,
          height: svg.clientHeight,
          ticks,
          labelHeight: label.height,
        };
      });
      // one user unit = one pixel: labels keep their shape whatever the width
      expect(Math.abs(chart.vbWidth - chart.width)).toBeLessThanOrEqual(1);
      expect(Math.abs(chart.vbHeight - chart.height)).toBeLessThanOrEqual(1);
      expect(chart.labelHeight).toBeGreaterThan(8);
      expect(chart.labelHeight).toBeLessThan(20);
      expect(chart.ticks.length).toBeGreaterThanOrEqual(3);
      for (const t of chart.ticks) expect(t.text).toMatch(/^\d{2}:\d{2}:\d{2}$/);
      const xs = chart.ticks.map((t) => t.x);
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
      const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
      expect(overflow).toBeLessThanOrEqual(0);
      // the first KPI value is not cut off
      const kpiClipped = await page.$$eval('.kpi b', (bs: El[]) => bs.some((b) => b.scrollWidth > b.clientWidth + 1));
      expect(kpiClipped).toBe(false);
      await page.close();
    });
  }

  it('sorts by a column, filters by id and health, and opens a device from the table', async () => {
    const { page } = await open(1440);
    const readingsOf = (r: string[][]): number[] => r.map((c) => Number(c[3]!.replace(/,/g, '')));
    expect((await rows(page)).map((r) => r[0])).toEqual([...(await rows(page)).map((r) => r[0]!)].sort());
    await page.click('#fleet th[data-key="readings"] button');
    let r = readingsOf(await rows(page));
    expect(r).toEqual([...r].sort((a, b) => b - a));
    expect(await page.getAttribute('#fleet th[data-key="readings"]', 'aria-sort')).toBe('descending');
    await page.click('#fleet th[data-key="readings"] button');
    r = readingsOf(await rows(page));
    expect(r).toEqual([...r].sort((a, b) => a - b));

    await page.fill('#filter', 'pump-1');
    await page.waitForFunction("document.querySelectorAll('#fleet tbody tr[data-device]').length === 10");
    expect((await rows(page)).every((c) => c[0]!.includes('pump-1'))).toBe(true);
    expect(await page.textContent('#fleet-count')).toBe('10 of 30 devices');
    await page.fill('#filter', '');
    await page.selectOption('#health-filter', 'stale');
    await page.waitForFunction("document.querySelectorAll('#fleet tbody tr[data-device]').length > 0");
    expect((await rows(page)).every((c) => c[1] === 'stale')).toBe(true);
    await page.selectOption('#health-filter', '');

    await page.click('#fleet tbody tr[data-device="pump-02"]');
    await page.waitForSelector('#detail:not([hidden])');
    expect(await page.textContent('#d-id')).toBe('pump-02');
    const values = await page.$$eval('#d-values tbody tr', (trs: El[]) =>
      trs.map((tr) => tr.querySelector('td')!.textContent),
    );
    expect(values).toEqual(['temperature', 'vibration']);
    expect(await page.textContent('#d-recs')).toContain('restore cooling');
    expect(new URL(page.url()).hash).toBe('#device=pump-02');
    await page.screenshot({ path: join(shots, 'dashboard-device.png') });
    // the selection survives live updates, and closes
    await page.waitForTimeout(500);
    expect(await page.textContent('#d-id')).toBe('pump-02');
    await page.click('#d-close');
    expect(await page.isHidden('#detail')).toBe(true);
    await page.close();
  });
});
