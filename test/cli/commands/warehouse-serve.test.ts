/**
 * `edgeloop warehouse serve` as a process: it prints where it listens, answers the reports and the page from the
 * data directory's warehouse, and exits 0 on SIGTERM; `report site-trend` takes the API's site/from/to too.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../../cloud/e2e/e2e-helpers.ts';
import { fleet, refreshedWarehouse, T0, tempDir } from '../../cloud/warehouse/fleet-fixture.ts';
import { serveProcess } from '../serve-process.ts';

async function warehouseDir(): Promise<string> {
  const dir = tempDir();
  await refreshedWarehouse(dir, fleet());
  return dir;
}

describe('edgeloop warehouse serve', () => {
  it('serves the reports and the page until SIGTERM, then exits 0', { timeout: 60_000 }, async () => {
    const dir = await warehouseDir();
    const child = serveProcess(['warehouse', 'serve', '--data-dir', dir, '--port', '0']);
    const url = (await child.waitFor(/warehouse reports on (http:\/\/[^/\s]+)\//))[1]!;
    const trend = (await (await fetch(`${url}/v1/reports/site-trend?site=plant-b`)).json()) as {
      rows: Array<{ site: string; readings: number }>;
    };
    expect(trend.rows.map((r) => [r.site, r.readings])).toEqual([['plant-b', 180]]);
    expect((await fetch(`${url}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
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
