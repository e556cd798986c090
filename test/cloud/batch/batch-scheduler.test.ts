import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { BatchScheduler, nextRunAt } from '../../../cloud/batch/batch-scheduler.ts';
import { BatchStore } from '../../../cloud/batch/batch-store.ts';
import { DailyDag } from '../../../cloud/batch/daily-dag.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { batchPart } from '../../../cloud/parts/batch.ts';
import { tempDir } from './batch-fixture.ts';

const T = Date.parse('2026-12-03T01:00:00Z');

describe('BatchScheduler', () => {
  it('nextRunAt: the next instant at the UTC time, today or tomorrow', () => {
    expect(new Date(nextRunAt(T, '02:30')).toISOString()).toBe('2026-12-03T02:30:00.000Z');
    expect(new Date(nextRunAt(T, '01:00')).toISOString()).toBe('2026-12-04T01:00:00.000Z');
    expect(new Date(nextRunAt(T, '00:59')).toISOString()).toBe('2026-12-04T00:59:00.000Z');
    expect(() => nextRunAt(T, '24:00')).toThrow('batch.schedule "24:00" is not a UTC time "HH:MM"');
  });

  it('runs the daily DAG for yesterday at the scheduled time, then re-arms for the next day', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const clock = new ManualClock(T);
    const dag = new DailyDag({
      archiveDir: join(dir, 'archive'),
      warehousePath: join(dir, 'warehouse.duckdb'),
      stateDir: join(dir, 'batch'),
      datasetsDir: join(dir, 'datasets'),
      publishDir: join(dir, 'published'),
      clock,
    });
    const s = new BatchScheduler({ dag, schedule: '02:30', clock });
    s.start();
    expect(s.health().nextRunAt).toBe('2026-12-03T02:30:00.000Z');
    clock.advance(89 * 60_000);
    expect(dag.running).toBe(false);
    clock.advance(60_000);
    expect(dag.running).toBe(true);
    while (s.health().lastRun === undefined) await new Promise((r) => setTimeout(r, 20));
    expect(s.health().nextRunAt).toBe('2026-12-04T02:30:00.000Z');
    await s.close();
    expect(s.health()).toMatchObject({ ok: true, lastRun: { date: '2026-12-02', status: 'ok' } });
    const store = BatchStore.open(join(dir, 'batch', 'batch.db'));
    expect(store.runs().map((r) => [r.date, r.trigger, r.status])).toEqual([['2026-12-02', 'schedule', 'ok']]);
    store.close();
  });

  it('the batch part runs only with batch.schedule, which must be a UTC time', () => {
    expect(batchPart.enabled(ctxOf({}))).toBe(false);
    expect(batchPart.enabled(ctxOf({ batch: { schedule: '03:15' } }))).toBe(true);
    expect(() => parseCloudConfig({ batch: { schedule: '3:15' } })).toThrow(/UTC time/);
    expect(() => parseCloudConfig({ batch: { skewFactor: 1 } })).toThrow();
  });
});

function ctxOf(c: Parameters<typeof parseCloudConfig>[0]) {
  return { config: parseCloudConfig(c) } as Parameters<typeof batchPart.enabled>[0];
}
