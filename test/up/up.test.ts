/**
 * `edgeloop up` as a user runs it: a child process that prints the dashboard URL, serves the live page (checked in
 * headless Chromium: the numbers change), and exits cleanly on SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { launchChromium } from '../helpers/chromium.ts';

const root = join(import.meta.dirname, '..', '..');

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(
      () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output so far:\n${buf}`)),
      timeoutMs,
    );
    const onData = (b: Buffer): void => {
      buf += String(b);
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`edgeloop up exited with ${code} before printing ${re}:\n${buf}`)));
  });
}

describe('edgeloop up', () => {
  it('prints the URL, serves a live dashboard, and stops cleanly on SIGINT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'el-up-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'edgeloop.js'),
        'up',
        '--devices',
        '4',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'state'),
        '--fault-every',
        '2s',
        '--seed',
        '7',
      ],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    let stderr = '';
    child.stderr!.on('data', (b) => (stderr += String(b)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const [, url] = await waitForLine(child, /dashboard\s+(http:\/\/\S+\/)/, 100_000);
    await waitForLine(child, /Press Ctrl-C to stop/, 10_000).catch(() => undefined);
    const page = await fetch(url!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>edgeloop');

    const browser = await launchChromium();
    onTestFinished(() => browser.close());
    const tab = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const requests: string[] = [];
    tab.on('request', (r) => requests.push(r.url()));
    await tab.goto(url!);
    // live: the SSE stream connects and the reading counter keeps growing
    await tab.waitForFunction("document.getElementById('conn')?.textContent === 'live'", undefined, {
      timeout: 20_000,
    });
    await tab.waitForFunction('Number(document.body.dataset.readings ?? 0) > 0', undefined, { timeout: 20_000 });
    const first = Number(await tab.evaluate('document.body.dataset.readings'));
    await tab.waitForFunction(`Number(document.body.dataset.readings ?? 0) > ${first}`, undefined, { timeout: 20_000 });
    const rows = await tab.locator('#fleet tbody tr').count();
    expect(rows).toBe(4);
    expect(await tab.locator('#k-online').textContent()).toMatch(/^\d+ \/ 4$/);
    expect(await tab.locator('#k-lat').textContent()).toMatch(/ms$/);
    // no third-party requests: the page works on a closed network
    expect(requests.every((r) => r.startsWith(url!.replace(/\/$/, '')))).toBe(true);
    await tab.waitForFunction("document.querySelectorAll('#chart polyline').length === 1");
    const shot = join(dir, 'dashboard.png');
    await tab.screenshot({ path: shot, fullPage: false });
    expect(existsSync(shot)).toBe(true);
    // the picture in the docs is refreshed on request only, so a test run never dirties the work tree
    if (process.env.EDGELOOP_UPDATE_DOCS_SCREENSHOT) {
      mkdirSync(join(root, 'docs', 'img'), { recursive: true });
      copyFileSync(shot, join(root, 'docs', 'img', 'dashboard.png'));
    }
    await browser.close();

    const api = (await (await fetch(new URL('api/snapshot', url))).json()) as {
      totals: { devices: number; readings: number };
      parts: Record<string, { ok: boolean }>;
    };
    expect(api.totals.devices).toBe(4);
    expect(api.totals.readings).toBeGreaterThan(first);

    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(0);
  }, 180_000);

  it('fails with a one-line reason on a bad flag', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'edgeloop.js'), 'up', '--devices', 'many'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (b) => (err += String(b)));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toBe('edgeloop up: --devices: invalid value "many" (expected an integer in [0, 100000])\n');
  });
});
