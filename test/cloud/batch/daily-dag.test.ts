/**
 * The daily DAG: its order, a failed task stopping its dependents and a rerun resuming from it, the run log, and
 * what the tasks write (the retraining dataset, the published tables), on a real archive and warehouse.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../../../cloud/batch/batch-store.ts';
import { DailyDag, DAILY_TASKS } from '../../../cloud/batch/daily-dag.ts';
import { dagOrder, runDag } from '../../../cloud/batch/dag.ts';
import { archiveMessages, fleet, T0, tempDir } from '../warehouse/fleet-fixture.ts';

const DATE = new Date(T0).toISOString().slice(0, 10);

async function scalar(sql: string): Promise<unknown> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    return (await c.runAndReadAll(sql)).getRowsJS()[0]?.[0];
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}

function dag(dir: string, extra: Partial<ConstructorParameters<typeof DailyDag>[0]> = {}): DailyDag {
  return new DailyDag({
    archiveDir: join(dir, 'archive'),
    warehousePath: join(dir, 'warehouse.duckdb'),
    stateDir: join(dir, 'batch'),
    datasetsDir: join(dir, 'datasets'),
    publishDir: join(dir, 'published'),
    retry: { minMs: 1, maxMs: 2 },
    ...extra,
  });
}

describe('dag', () => {
  it('orders tasks by their needs and refuses cycles and unknown tasks, naming them', () => {
    expect(dagOrder(DAILY_TASKS).map((t) => t.name)).toEqual([
      'compact',
      'refresh',
      'checks',
      'export-dataset',
      'publish',
    ]);
    expect(
      dagOrder([
        { name: 'b', needs: ['a'] },
        { name: 'a', needs: [] },
      ]).map((t) => t.name),
    ).toEqual(['a', 'b']);
    expect(() =>
      dagOrder([
        { name: 'a', needs: ['c'] },
        { name: 'b', needs: ['a'] },
        { name: 'c', needs: ['b'] },
      ]),
    ).toThrow('DAG: a cycle: a -> c -> b -> a');
    expect(() => dagOrder([{ name: 'a', needs: ['x'] }])).toThrow('task "a" needs "x", which is not a task');
  });

  it('a failed task skips its dependents only; done-before tasks are not run again', async () => {
    const ran: string[] = [];
    const tasks = [
      { name: 'a', needs: [] },
      { name: 'b', needs: ['a'] },
      { name: 'c', needs: ['b'] },
      { name: 'd', needs: ['a'] },
    ];
    const r = await runDag(tasks, {
      now: () => 0,
      doneBefore: new Set(['a']),
      run: async (t) => {
        ran.push(t);
        if (t === 'b') throw new Error('boom');
        return { rows: 1 };
      },
    });
    expect(ran).toEqual(['b', 'd']);
    expect(r.map((x) => [x.task, x.status])).toEqual([
      ['a', 'done-before'],
      ['b', 'failed'],
      ['c', 'skipped'],
      ['d', 'ok'],
    ]);
    expect(r[2]).toEqual({ task: 'c', status: 'skipped', reason: 'b failed' });
  });
});

describe('DailyDag', () => {
  it('runs compact → refresh → checks → export-dataset, publish; a failure stops dependents; a rerun resumes from it', {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    let refreshFails = true;
    const attempts: string[] = [];
    const d = dag(dir, {
      beforeTask: (task, attempt) => {
        attempts.push(`${task}#${attempt}`);
        if (task === 'refresh' && refreshFails) throw new Error('warehouse disk full');
      },
    });
    const first = await d.run({ date: DATE });
    expect(first.status).toBe('failed');
    expect(first.reports.map((r) => [r.task, r.status])).toEqual([
      ['compact', 'ok'],
      ['refresh', 'failed'],
      ['checks', 'skipped'],
      ['export-dataset', 'skipped'],
      ['publish', 'skipped'],
    ]);
    // refresh was retried once (2 attempts), nothing after it ran
    expect(attempts).toEqual(['compact#1', 'refresh#1', 'refresh#2']);
    expect(existsSync(join(dir, 'warehouse.duckdb'))).toBe(false);

    refreshFails = false;
    attempts.length = 0;
    const second = await d.run({ date: DATE });
    expect(second.status).toBe('ok');
    expect(attempts).toEqual(['refresh#1', 'checks#1', 'export-dataset#1', 'publish#1']);
    expect(second.reports.map((r) => [r.task, r.status])).toEqual([
      ['compact', 'done-before'],
      ['refresh', 'ok'],
      ['checks', 'ok'],
      ['export-dataset', 'ok'],
      ['publish', 'ok'],
    ]);

    // the run log
    const store = BatchStore.open(join(dir, 'batch', 'batch.db'));
    const runs = store.runs();
    expect(runs.map((r) => [r.runId, r.date, r.status])).toEqual([
      [2, DATE, 'ok'],
      [1, DATE, 'failed'],
    ]);
    const log1 = store.tasks(1);
    expect(log1.find((t) => t.task === 'refresh')).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: 'warehouse disk full',
    });
    expect(log1.find((t) => t.task === 'checks')).toMatchObject({ status: 'skipped', detail: 'refresh failed' });
    const log2 = store.tasks(2);
    expect(log2.find((t) => t.task === 'compact')).toMatchObject({ status: 'done-before' });
    const refresh = log2.find((t) => t.task === 'refresh')!;
    expect(refresh).toMatchObject({ status: 'ok', rows: 360, attempts: 1, error: null });
    expect(refresh.bytes).toBeGreaterThan(0);
    expect(refresh.endedAt! >= refresh.startedAt!).toBe(true);
    const exp = log2.find((t) => t.task === 'export-dataset')!;
    expect(exp).toMatchObject({ status: 'ok', rows: 349 });
    store.close();

    // the retraining dataset: 360 one-minute windows, the 11 that hold an anomaly left out
    const ds = join(dir, 'datasets', 'normal_windows', `date=${DATE}`);
    const manifest = JSON.parse(readFileSync(join(ds, '_manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 1,
      dataset: 'normal_windows',
      date: DATE,
      rows: 349,
      excludedWindows: 11,
    });
    expect(manifest.featureColumns).toContain('temp_mean_1m');
    expect(Number(await scalar(`SELECT count(*) FROM read_parquet('${join(ds, 'part-0.parquet')}')`))).toBe(349);
    // the minute of dev-a's first anomaly (minute 5, its event at 5:30) is not in it
    const a5 = T0 + 6 * 60_000;
    expect(
      Number(
        await scalar(
          `SELECT count(*) FROM read_parquet('${join(ds, 'part-0.parquet')}') WHERE entity_id = 'dev-a' AND epoch_ms(event_time) = ${a5}`,
        ),
      ),
    ).toBe(0);

    // published: the day's facts by hour, aggregates by date, dimensions whole
    const pub = join(dir, 'published');
    expect(Number(await scalar(`SELECT count(*) FROM read_parquet('${pub}/fact_reading/*/*/*.parquet')`))).toBe(360);
    expect(Number(await scalar(`SELECT count(*) FROM read_parquet('${pub}/dim_device/part-0.parquet')`))).toBe(4);
    expect(existsSync(join(pub, 'agg_health_daily', `date=${DATE}`, 'part-0.parquet'))).toBe(true);

    // a third run of the same date does nothing again
    const third = await d.run({ date: DATE });
    expect(third.reports.every((r) => r.status === 'done-before')).toBe(true);
  });
});
