/**
 * `edgeloop warehouse serve` as a process: it prints where it listens, answers the reports and the page from the
 * data directory's warehouse, and exits 0 on SIGTERM; `report site-trend` takes the API's site/from/to too.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cli } from '../../cloud/e2e/e2e-helpers.ts';
import { fleet, refreshedWarehouse, T0, tempDir } from '../../cloud/warehouse/fleet-fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

async function warehouseDir(): Promise<string> {
  const dir = tempDir();
  await refreshedWarehouse(dir, fleet());
  return dir;
}

describe('edgeloop warehouse serve', () => {
  it('serves the reports and the page until SIGTERM, then exits 0', { timeout: 60_000 }, async () => {
    const dir = await warehouseDir();
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'edgeloop.js'), 'warehouse', 'serve', '--data-dir', dir, '--port', '0'],
      {
        cwd: ROOT,
        env: { ...process.env, EDGELOOP_LOG_LEVEL: 'silent', NODE_OPTIONS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /warehouse reports on (http:\/\/[^/\s]+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}${err}`)));
    });
    const trend = (await (await fetch(`${url}/v1/reports/site-trend?site=plant-b`)).json()) as {
      rows: Array<{ site: string; readings: number }>;
    };
    expect(trend.rows.map((r) => [r.site, r.readings])).toEqual([['plant-b', 180]]);
    expect((await fetch(`${url}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('report site-trend takes --site, --from and --to', async () => {
    const dir = await warehouseDir();
    const day = new Date(T0).toISOString().slice(0, 10);
    const one = await cli([
      'warehouse',
      'report',
      'site-trend',
      '--site',
      'plant-a',
      '--from',
      day,
      '--to',
      day,
      '--format',
      'csv',
      '--data-dir',
      dir,
    ]);
    expect(one.stderr).toBe('');
    expect(
      one.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(0, 3).join(',')),
    ).toEqual([`plant-a,${day},1`]);
    const none = await cli([
      'warehouse',
      'report',
      'site-trend',
      '--from',
      new Date(T0 + 86_400_000).toISOString(),
      '--format',
      'csv',
      '--data-dir',
      dir,
    ]);
    expect(none.stdout.trim().split('\n')).toHaveLength(1);
    const bad = await cli(['warehouse', 'report', 'site-trend', '--from', 'soon', '--data-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from');
  });
});
