/**
 * The warehouse's time keys are integer arithmetic on the epoch: they equal DuckDB's own calendar functions in UTC
 * (date_trunc, strftime, extract) on edge instants (before 1970, leap days, year ends) and on random ones.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { dateKeyOf, dateOfKey, hourOf, minuteOfDay, timeKeys } from '../../../cloud/warehouse/schema.ts';

describe('warehouse time keys', () => {
  it('equal the calendar functions in UTC', async () => {
    const inst = await DuckDBInstance.create(':memory:');
    const c = await inst.connect();
    try {
      await c.run("SET TimeZone = 'UTC'");
      await c.run(
        'CREATE TABLE t AS SELECT make_timestamptz(CAST(hash(i) % 4000000000000000 AS BIGINT) - 1000000000000000) AS ts FROM range(20000) r(i)',
      );
      await c.run(`INSERT INTO t VALUES ('1969-12-31 23:59:59.999999+00'), ('1970-01-01 00:00:00+00'),
        ('2024-02-29 23:59:59.999+00'), ('2000-03-01 00:00:00+00'), ('1900-02-28 12:34:56+00'),
        ('2100-12-31 23:59:00+00'), ('2026-12-31 23:00:00+00'), ('1960-06-15 07:30:00.5+00')`);
      const r = await c.runAndReadAll(`SELECT
          count(*) FILTER (WHERE date_trunc('hour', ts) <> ${hourOf('ts')}) AS hour,
          count(*) FILTER (WHERE CAST(strftime(ts, '%Y%m%d') AS INTEGER) <> ${dateKeyOf('ts')}) AS date_key,
          count(*) FILTER (WHERE CAST(extract('hour' FROM ts) * 60 + extract('minute' FROM ts) AS INTEGER) <> ${minuteOfDay('ts')}) AS time_key,
          count(*) FILTER (WHERE CAST(ts AS DATE) <> ${dateOfKey(dateKeyOf('ts'))}) AS date,
          count(*) FILTER (WHERE ts < '1970-01-01') AS before_1970, count(*) AS n FROM t`);
      const [row] = r.getRowObjectsJson();
      expect(row).toMatchObject({ hour: '0', date_key: '0', time_key: '0', date: '0', n: '20008' });
      expect(Number(row!.before_1970)).toBeGreaterThan(1000);
      // with an archive partition's hour: constants inside it, the same values for a row inside and outside
      const start = Date.parse('2024-02-29T23:00:00Z');
      await c.run(
        `CREATE TABLE p AS SELECT make_timestamptz(${(start - 7_200_000) * 1000}::BIGINT + i * 1000000) AS ts FROM range(3 * 3600) r(i)`,
      );
      const k =
        await c.runAndReadAll(`SELECT count(*) AS n, count(*) FILTER (WHERE a.hour <> b.hour OR a.date_key <> b.date_key OR a.time_key <> b.time_key) AS differ
        FROM (SELECT ts, ${timeKeys('ts', start)} FROM p) a JOIN (SELECT ts, ${timeKeys('ts')} FROM p) b USING (ts)`);
      expect(k.getRowObjectsJson()[0]).toEqual({ n: '10800', differ: '0' });
    } finally {
      c.closeSync();
      inst.closeSync();
    }
  });
});
