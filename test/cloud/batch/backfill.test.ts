/**
 * The backfill against a real archive (LocalStream → RawArchive, test/helpers/archive-messages.ts): its window
 * features equal the processor's own (FeatureAggregator fed the same messages), a rerun replaces instead of
 * duplicating, a skewed device is split, a failing unit is retried and the success rate says so.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Backfill } from '../../../cloud/batch/backfill.ts';
import { FeatureAggregator } from '../../../cloud/processor/feature-aggregator.ts';
import { archiveMessages } from '../../helpers/archive-messages.ts';
import { BatchStore } from '../../../cloud/batch/batch-store.ts';
import { D0, DAY, fleet, tempDir } from './batch-fixture.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'backfill-crash-child.ts');

/** every window row of a group, without write_time (a job's own), in a fixed order */
function windowRows(offlineDir: string): Promise<Record<string, unknown>[]> {
  const glob = join(offlineDir, 'device_windows', '*', '*.parquet');
  return rows(
    `SELECT * EXCLUDE (write_time) FROM read_parquet('${glob}', hive_partitioning = true) ORDER BY entity_id, event_time`,
  );
}

function options(dir: string, extra: Partial<ConstructorParameters<typeof Backfill>[0]> = {}) {
  return {
    archiveDir: join(dir, 'archive'),
    offlineDir: join(dir, 'offline'),
    stateDir: join(dir, 'batch'),
    ...extra,
  };
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    return (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}

describe('Backfill', () => {
  it("recomputes the processor's window features from the archive, per UTC day, idempotently", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const messages = fleet(3, 4, 10_000);
    await archiveMessages(dir, messages);
    const aggregation = { windows: [{ sizeMs: 60_000 }, { sizeMs: 300_000, slideMs: 60_000 }] };
    const bf = new Backfill({
      archiveDir: join(dir, 'archive'),
      offlineDir: join(dir, 'offline'),
      stateDir: join(dir, 'batch'),
      aggregation,
      targetRows: 1000,
    });
    const r = await bf.run({ from: D0, to: D0 + 2 * DAY });
    expect(r.unitsFailed).toBe(0);
    expect(r.successRate).toBe(1);
    expect(r.readings).toBe(messages.length * 2);
    expect(r.daysCommitted).toHaveLength(2);
    const glob = join(dir, 'offline', 'device_windows', '*', '*.parquet');
    const out = await rows(
      `SELECT entity_id, epoch_ms(event_time) AS e, CAST(date AS VARCHAR) AS date, air_temp_mean_1m, air_temp_count_1m, air_temp_std_5m, process_temp_max_5m, process_temp_last_1m FROM read_parquet('${glob}', hive_partitioning = true) ORDER BY entity_id, e`,
    );
    // the processor's values, window by window, from the same messages in order
    const agg = new FeatureAggregator({ ...aggregation, allowedLatenessMs: 0 });
    const seen = new Map<string, Record<string, unknown>>();
    for (const m of messages) {
      agg.ingest(m, m.type === 'telemetry' ? m.sentAt : 0);
      const f = agg.features(m.deviceId)!.features;
      if (f.air_temp_mean_1m === undefined) continue;
      const end = Math.floor((m as { sentAt: number }).sentAt / 60_000) * 60_000;
      seen.set(`${m.deviceId}@${end}`, f);
    }
    expect(out.length).toBeGreaterThan(600);
    let compared = 0;
    for (const row of out) {
      const f = seen.get(`${row.entity_id}@${row.e}`);
      expect(row.date).toBe(new Date(Number(row.e)).toISOString().slice(0, 10));
      if (!f) continue;
      compared++;
      expect(row.air_temp_count_1m).toBe(f.air_temp_count_1m);
      expect(row.air_temp_mean_1m as number).toBeCloseTo(f.air_temp_mean_1m as number, 9);
      expect(row.air_temp_std_5m as number).toBeCloseTo(f.air_temp_std_5m as number, 6);
      expect(row.process_temp_max_5m).toBe(f.process_temp_max_5m);
      expect(row.process_temp_last_1m).toBe(f.process_temp_last_1m);
    }
    expect(compared).toBeGreaterThan(600);
    // a new job over the same range replaces the days: same rows, no duplicates
    const again = await bf.run({ from: D0, to: D0 + 2 * DAY });
    expect(again.jobId).toBe(r.jobId + 1);
    const n = await rows(
      `SELECT count(*) AS n, count(DISTINCT (entity_id, event_time)) AS k FROM read_parquet('${glob}')`,
    );
    expect(Number(n[0]!.n)).toBe(out.length);
    expect(Number(n[0]!.k)).toBe(out.length);
  });

  it('splits a skewed device into sub-ranges and gets the same rows as without the split', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    // device 0 sends every second, the others every 2 minutes: 120x the median
    await archiveMessages(dir, fleet(5, 3, 120_000, 1000));
    const aggregation = { windows: [{ sizeMs: 60_000 }, { sizeMs: 600_000, slideMs: 60_000 }] };
    const split = await new Backfill(options(dir, { aggregation, targetRows: 4000 })).run({
      from: D0,
      to: D0 + 2 * DAY,
    });
    expect(split.skewed.map((x) => [x.device, x.units > 1])).toEqual([
      ['dev-000', true],
      ['dev-000', true],
    ]);
    const splitRows = await windowRows(join(dir, 'offline'));
    const whole = tempDir();
    await archiveMessages(whole, fleet(5, 3, 120_000, 1000));
    const one = await new Backfill(options(whole, { aggregation, targetRows: 10_000_000, skewFactor: 1e9 })).run({
      from: D0,
      to: D0 + 2 * DAY,
    });
    expect(one.units).toBe(2);
    expect(one.skewed).toEqual([]);
    const wholeRows = await windowRows(join(whole, 'offline'));
    // the same rows; a mean or std of a split device is summed in another order, so a fraction is equal to within
    // a relative 1e-9 (a std from sums of squares cancels) — a tolerance, not rounding, which flips at a boundary
    const within = (rs: Record<string, unknown>[]) =>
      rs.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            typeof v === 'number' && !Number.isInteger(v)
              ? expect.toSatisfy(
                  (x: unknown) => typeof x === 'number' && Math.abs(x - v) <= 1e-9 * Math.max(1, Math.abs(v)),
                )
              : v,
          ]),
        ),
      );
    expect(splitRows).toEqual(within(wholeRows));
    expect(splitRows.length).toBe(wholeRows.length);
  });

  it('retries a failing unit, reports the success rate, and resumes the units that still failed', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet(4, 3, 30_000));
    let flaky = 0;
    const down = new Set<string>();
    const r = await new Backfill(
      options(dir, {
        targetRows: 600,
        retry: { minMs: 1, maxMs: 2, maxAttempts: 3 },
        beforeUnit: (u, attempt) => {
          // one unit fails once (then works); every unit of the second day fails every time
          if (u.id.endsWith('/0001') && u.date === new Date(D0).toISOString().slice(0, 10) && attempt === 1) {
            flaky++;
            throw new Error('transient: archive file busy');
          }
          if (u.date !== new Date(D0).toISOString().slice(0, 10) && !down.has('fixed')) throw new Error('disk full');
        },
      }),
    ).run({ from: D0, to: D0 + 2 * DAY });
    expect(flaky).toBe(1);
    const secondDay = r.units - r.unitsOk;
    expect(secondDay).toBeGreaterThan(0);
    expect(r.unitsFailed).toBe(secondDay);
    expect(r.successRate).toBeCloseTo(r.unitsOk / r.units, 12);
    expect(r.successRate).toBeLessThan(1);
    expect(r.unitsRetried).toBe(1 + secondDay);
    expect(r.attempts).toBe(r.units + 1 + 2 * secondDay);
    expect(r.daysCommitted).toEqual([new Date(D0).toISOString().slice(0, 10)]);
    expect(r.errors.every((e) => e.error === 'disk full')).toBe(true);
    // the same command again: the same job, only the failed units run
    down.add('fixed');
    const again = await new Backfill(options(dir, { targetRows: 600 })).run({ from: D0, to: D0 + 2 * DAY });
    expect(again.jobId).toBe(r.jobId);
    expect(again.resumed).toBe(true);
    expect(again.unitsRun).toBe(secondDay);
    expect(again.successRate).toBe(1);
    expect(again.daysCommitted).toHaveLength(2);
  });

  it('kill -9 after a unit, during a day commit and after it: the same command resumes the job and the rows are those of a clean run', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const messages = fleet(6, 4, 20_000);
    await archiveMessages(dir, messages);
    const range = [String(D0), String(D0 + 2 * DAY)];
    for (const [phase, n] of [
      ['unit-done', '2'],
      ['day-committed', '1'],
      ['day-applied', '1'],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, ...range, phase, n], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const lines: string[] = [];
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
      const signal = await new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_c, sig) => res(sig)));
      expect(signal, `the child never reached ${phase}`).toBe('SIGKILL');
      expect(lines.some((l) => l.includes('"done"'))).toBe(false);
    }
    const store = BatchStore.open(join(dir, 'batch', 'batch.db'));
    const [job] = store.jobs();
    const before = store.units(job!.jobId);
    store.close();
    expect(job!.status).toBe('running');
    const r = await new Backfill(options(dir, { targetRows: 500 })).run({ from: D0, to: D0 + 2 * DAY });
    expect(r.jobId).toBe(job!.jobId);
    expect(r.resumed).toBe(true);
    expect(r.unitsRun).toBeLessThan(r.units);
    expect(before.some((u) => u.status === 'done')).toBe(true);
    expect(r.successRate).toBe(1);
    const clean = tempDir();
    await archiveMessages(clean, messages);
    await new Backfill(options(clean, { targetRows: 500 })).run({ from: D0, to: D0 + 2 * DAY });
    const got = await windowRows(join(dir, 'offline'));
    expect(got.length).toBeGreaterThan(1000);
    expect(got).toEqual(await windowRows(join(clean, 'offline')));
  });
});
