/**
 * The materialised aggregates (cloud/warehouse/aggregates.ts) equal the plain SQL definitions computed from the facts
 * and dim_device: count, avg, min, max and quantile_disc per level and period; devices, readings, events, anomalies,
 * active minutes (count DISTINCT minute) and completeness (count DISTINCT seq over the seq range). The fleet has a
 * device that changes version inside an hour and a seq that arrives twice.
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { AGG_LEVELS } from '../../../cloud/warehouse/schema.ts';
import { Warehouse } from '../../../cloud/warehouse/warehouse.ts';
import { encodeMessage } from '../../../protocol/messages.ts';
import { archiveMessages, fleet, status, tempDir, timeline } from './fleet-fixture.ts';

const LEVELS = Object.entries(AGG_LEVELS);

/** the reference of one aggregate table: plain SQL over the facts joined to dim_device */
function sensorReference(period: 'hourly' | 'daily'): string {
  const p = period === 'hourly' ? 'f.hour' : 'CAST(f.hour AS DATE)';
  return LEVELS.map(
    ([level, member]) => `SELECT '${level}' AS level, ${member} AS member, ${p} AS k, f.sensor, count(*) AS readings,
      avg(f.value) AS mean_value, min(f.value) AS min_value, max(f.value) AS max_value, quantile_disc(f.value, 0.95) AS p95_value
      FROM fact_reading f LEFT JOIN dim_device d ON d.device_key = f.device_key GROUP BY ALL`,
  ).join(' UNION ALL ');
}

function healthReference(period: 'hourly' | 'daily'): string {
  const p = period === 'hourly' ? 'f.hour' : 'CAST(f.hour AS DATE)';
  const minutes = period === 'hourly' ? 60 : 1440;
  const dv = `SELECT device_id, device_key, ${p} AS k, sum(r) AS readings, sum(e) AS events, sum(a) AS anomalies,
      count(DISTINCT minute) AS active, count(DISTINCT seq) AS received, max(seq) - min(seq) + 1 AS expected
    FROM (SELECT f.*, date_trunc('minute', f.ts) AS minute, 1 AS r, 0 AS e, 0 AS a FROM fact_reading f
          UNION ALL BY NAME
          SELECT f.*, NULL AS minute, 0 AS r, 1 AS e, CASE WHEN f.kind = 'anomaly' THEN 1 ELSE 0 END AS a FROM fact_event f) f
    GROUP BY ALL`;
  return LEVELS.map(
    ([level, member]) => `SELECT '${level}' AS level, ${member} AS member, f.k, count(DISTINCT f.device_id) AS devices,
      sum(f.readings) AS readings, sum(f.events) AS events, sum(f.anomalies) AS anomalies,
      sum(f.active) / (count(DISTINCT f.device_id) * ${minutes}.0) AS uptime, sum(f.received) / sum(f.expected) AS completeness
      FROM (${dv}) f LEFT JOIN dim_device d ON d.device_key = f.device_key GROUP BY ALL`,
  ).join(' UNION ALL ');
}

describe('warehouse aggregates', () => {
  it('equal the plain SQL definitions at every level and period', async () => {
    const dir = tempDir();
    // dev-b moves site at minute 30: two versions inside one hour
    await archiveMessages(dir, [...fleet(), status('dev-b', 30, 31, { site: 'plant-c' })]);
    // a producer other than the ingest sends one of dev-a's readings again
    const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 2 });
    await stream.start();
    await stream.put([{ partitionKey: 'dev-a', data: encodeMessage(timeline('dev-a', 3, 4, [], 4)[0]! as never) }]);
    await stream.close();
    await archiveMessages(dir, []);
    const w = await Warehouse.open({
      path: join(dir, 'warehouse.duckdb'),
      archiveDir: join(dir, 'archive'),
      checks: { maxStalenessMs: null },
    });
    onTestFinished(() => w.close());
    await w.refresh();
    const split = await w.rows(
      `SELECT count(*) AS n FROM (SELECT device_id, hour FROM fact_reading GROUP BY ALL HAVING count(DISTINCT device_key) > 1)`,
    );
    expect(Number(split[0]!.n)).toBeGreaterThan(0);

    for (const period of ['hourly', 'daily'] as const) {
      const k = period === 'hourly' ? 'hour' : 'day';
      const got = await w.rows(
        `SELECT level, member, ${k} AS k, sensor, readings, mean_value, min_value, max_value, p95_value FROM agg_sensor_${period} ORDER BY ALL`,
      );
      const want = await w.rows(`SELECT * FROM (${sensorReference(period)}) ORDER BY level, member, k, sensor`);
      expect(got.length).toBe(want.length);
      expect(got.length).toBeGreaterThan(5);
      got.forEach((g, i) => {
        const r = want[i]!;
        expect([g.level, g.member, g.k, g.sensor, g.readings, g.min_value, g.max_value, g.p95_value]).toEqual([
          r.level,
          r.member,
          r.k,
          r.sensor,
          r.readings,
          r.min_value,
          r.max_value,
          r.p95_value,
        ]);
        expect(Math.abs((g.mean_value as number) - (r.mean_value as number))).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(r.mean_value as number)),
        );
      });
      const health = await w.rows(
        `SELECT level, member, ${k} AS k, devices, readings, events, anomalies, uptime, completeness FROM agg_health_${period} ORDER BY ALL`,
      );
      const healthWant = await w.rows(`SELECT * FROM (${healthReference(period)}) ORDER BY level, member, k`);
      expect(health).toEqual(healthWant);
    }
  });

  it("quantile_disc(v, 0.95) is the ceil(0.95 n)-th smallest, the index the parts' sorted values are read at", async () => {
    const inst = await DuckDBInstance.create(':memory:');
    const c = await inst.connect();
    try {
      await c.run(
        'CREATE TABLE t AS SELECT i % 499 AS g, hash(i) % 100000 / 7.0 AS v FROM range(300000) r(i) WHERE hash(i * 31) % 499 <= i % 499',
      );
      const r =
        await c.runAndReadAll(`SELECT count(*) AS groups, count(*) FILTER (WHERE q <> s[CAST(ceil(0.95 * n) AS BIGINT)]) AS differ,
          min(n) AS lo, max(n) AS hi FROM (SELECT quantile_disc(v, 0.95) AS q, list_sort(list(v)) AS s, count(*) AS n FROM t GROUP BY g)`);
      const row = r.getRowObjectsJson()[0]!;
      expect(row.differ).toBe('0');
      expect(Number(row.groups)).toBeGreaterThan(400);
      expect([Number(row.lo) < 20, Number(row.hi) > 500]).toEqual([true, true]);
    } finally {
      c.closeSync();
      inst.closeSync();
    }
  });
});
