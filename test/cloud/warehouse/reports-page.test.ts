/**
 * The reports page as a person sees it, in headless Chromium at 800 and 1440 px, served by a real ReportsServer
 * over a real warehouse file: every request answered (the icon too), a site trend chart and a model-version
 * comparison drawn at their own pixel size with data points and both axes, and no sideways scrolling. Screenshots
 * go to test-results/ for a person to look at.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportsServer } from '../../../cloud/warehouse/reports-server.ts';
import { refreshedWarehouse, twoDayFleet } from './fleet-fixture.ts';
import { launchChromium } from '../../helpers/chromium.ts';

/** The part of a DOM element these page functions use (the project compiles without the DOM library). */
interface El {
  textContent: string | null;
  clientWidth: number;
  clientHeight: number;
  getAttribute(name: string): string | null;
  querySelector(sel: string): El | null;
  querySelectorAll(sel: string): ArrayLike<El>;
  getBoundingClientRect(): { width: number; height: number };
}

const shots = join(import.meta.dirname, '..', '..', '..', 'test-results');
let dir: string;
let server: ReportsServer;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgeloop-wh-page-'));
  const path = await refreshedWarehouse(dir, twoDayFleet());
  server = new ReportsServer({ path });
  await server.start();
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(width: number): Promise<{ page: Page; failed: string[]; ok: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const failed: string[] = [];
  const ok: string[] = [];
  page.on('response', (r) => (r.status() >= 400 ? failed : ok).push(`${r.status()} ${new URL(r.url()).pathname}`));
  page.on('requestfailed', (r) => failed.push(`failed ${new URL(r.url()).pathname}`));
  await page.goto(server.url!);
  await page.waitForFunction('document.body.dataset.loaded !== undefined');
  // the browser asks for the icon after the page has loaded
  await page.waitForTimeout(300);
  return { page, failed, ok };
}

/** what a chart holds: its viewBox against its pixel size, its marks and its axis labels */
const chartOf = (page: Page, id: string, mark: string) =>
  page.$eval(
    `#${id}`,
    (svg: El, m: string) => {
      const vb = (svg.getAttribute('viewBox') ?? '').split(' ').map(Number);
      const texts = (cls: string) =>
        Array.from(svg.querySelectorAll(`text.${cls}`)).map((t) => ({
          text: t.textContent ?? '',
          x: Number(t.getAttribute('x')),
          w: t.getBoundingClientRect().width,
          h: t.getBoundingClientRect().height,
        }));
      const marks = Array.from(svg.querySelectorAll(m)).map((e) => ({
        site: e.getAttribute('data-site'),
        day: e.getAttribute('data-day'),
        version: e.getAttribute('data-version'),
        height: Number(e.getAttribute('height')),
      }));
      return {
        vbWidth: vb[2]!,
        vbHeight: vb[3]!,
        width: svg.clientWidth,
        height: svg.clientHeight,
        x: texts('xtick'),
        y: texts('ytick'),
        marks,
        axis: svg.querySelectorAll('line.axis').length,
      };
    },
    mark,
  );

describe('reports page in Chromium', () => {
  for (const width of [800, 1440]) {
    it(`at ${width} px: every request answered, both charts drawn at their own size with data and axes, no sideways scroll`, async () => {
      const { page, failed, ok } = await open(width);
      await page.screenshot({ path: join(shots, `reports-${width}.png`), fullPage: true });
      expect(failed).toEqual([]);
      expect(await page.evaluate('document.body.dataset.loaded')).toBe('true');
      for (const path of [
        '/healthz',
        '/v1/reports/site-trend',
        '/v1/reports/model-impact',
        '/v1/reports/fleet-health',
        '/reports.js',
        '/reports.css',
      ])
        expect(ok).toContain(`200 ${path}`);
      expect(ok.some((r) => /^200 \/favicon\.(svg|ico)$/.test(r))).toBe(true);

      const trend = await chartOf(page, 'trend', 'circle.point');
      const models = await chartOf(page, 'models', 'rect.bar');
      for (const c of [trend, models]) {
        // one user unit = one pixel: labels keep their shape whatever the width
        expect(Math.abs(c.vbWidth - c.width)).toBeLessThanOrEqual(1);
        expect(Math.abs(c.vbHeight - c.height)).toBeLessThanOrEqual(1);
        expect(c.axis).toBe(1);
        expect(c.y.length).toBeGreaterThanOrEqual(3);
        for (const t of [...c.x, ...c.y]) {
          // whole inside the chart (x is each day label's middle)
          if (c.x.includes(t))
            expect(t.x - t.w / 2 >= 0 && t.x + t.w / 2 <= c.vbWidth, `${t.text} at ${t.x} (${t.w} px wide)`).toBe(true);
          expect(t.h).toBeGreaterThan(8);
          expect(t.h).toBeLessThan(20);
        }
      }
      // a point per site and day; the day axis in order
      expect(trend.marks.map((m) => `${m.site} ${m.day}`).sort()).toEqual(
        (
          (await (await fetch(`${server.url}/v1/reports/site-trend`)).json()) as {
            rows: Array<{ site: string; day: string }>;
          }
        ).rows
          .map((r) => `${r.site} ${r.day}`)
          .sort(),
      );
      expect(trend.marks).toHaveLength(3);
      expect(trend.x.map((t) => t.text)).toEqual([...new Set(trend.marks.map((m) => m.day!))].sort());
      for (const t of trend.x) expect(t.text).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const xs = trend.x.map((t) => t.x);
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
      expect(trend.y[0]!.text).toBe('0 %');
      // a bar per model version, the highest anomaly rate the tallest: anomaly@2 (3 of 60 readings)
      expect(models.marks.map((m) => m.version)).toEqual(['anomaly@1', 'anomaly@2', 'anomaly@3']);
      expect(Math.max(...models.marks.map((m) => m.height))).toBe(models.marks[1]!.height);
      expect(models.marks[2]!.height).toBe(0);
      expect(await page.$$eval('#model-table tbody tr', (trs: El[]) => trs.length)).toBe(3);
      expect(await page.$$eval('#fleet tbody tr', (trs: El[]) => trs.length)).toBe(3);

      const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
      expect(overflow).toBeLessThanOrEqual(0);
      await page.close();
    });
  }

  it('picks one site and another metric and redraws', async () => {
    const { page } = await open(1440);
    await page.selectOption('#trend-site', 'plant-b');
    let trend = await chartOf(page, 'trend', 'circle.point');
    expect(trend.marks.map((m) => m.site)).toEqual(['plant-b']);
    await page.selectOption('#trend-site', '');
    await page.selectOption('#trend-metric', 'readings');
    trend = await chartOf(page, 'trend', 'circle.point');
    expect(trend.marks).toHaveLength(3);
    // 240 readings is the most: the value axis reaches at least that far in round steps
    expect(Math.max(...trend.y.map((t) => Number(t.text.replace(/,/g, ''))))).toBeGreaterThanOrEqual(240);
    await page.screenshot({ path: join(shots, 'reports-readings.png') });
    await page.close();
  });
});
