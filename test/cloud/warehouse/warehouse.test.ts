/**
 * The fleet warehouse over a real archive (LocalStream → RawArchive → Parquet) in a real DuckDB file: SCD2 device
 * versions with exact validity ranges, anomaly rate by model version as of a time, late and out-of-order data
 * landing in the right version, incremental refresh equal to a full rebuild byte for byte, and failing checks.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Warehouse } from '../../../cloud/warehouse/warehouse.ts';
import { reportSql } from '../../../cloud/warehouse/reports.ts';
import { encodeMessage } from '../../../protocol/messages.ts';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { archiveMessages, fleet, MIN, status, T0, tempDir, timeline } from './fleet-fixture.ts';

async function openWarehouse(dataDir: string, file = 'warehouse.duckdb'): Promise<Warehouse> {
  const w = await Warehouse.open({
    path: join(dataDir, file),
    archiveDir: join(dataDir, 'archive'),
    checks: { maxStalenessMs: null },
  });
  onTestFinished(() => w.close());
  return w;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function versions(w: Warehouse, device: string) {
  const rows = await w.rows(
    `SELECT version, site, model_name, model_version, epoch_ms(valid_from) AS vf, epoch_ms(valid_to) AS vt, is_current FROM dim_device WHERE device_id = '${device}' ORDER BY version`,
  );
  return rows.map((r) => ({
    v: r.version,
    site: r.site,
    model: `${r.model_name}@${r.model_version}`,
    from: iso(Number(r.vf)),
    to: r.vt === null ? null : iso(Number(r.vt)),
    current: r.is_current,
  }));
}

/** sha256 of every table a refresh writes, each exported as CSV in a fixed order */
async function fingerprint(w: Warehouse, dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of [
    'fact_reading',
    'fact_event',
    'dim_device',
    'dim_date',
    'agg_sensor_hourly',
    'agg_sensor_daily',
    'agg_health_hourly',
    'agg_health_daily',
  ]) {
    const file = join(dir, `${t}.csv`);
    await w.connection.run(`COPY (SELECT * FROM ${t} ORDER BY ALL) TO '${file}' (FORMAT csv)`);
    out[t] = createHash('sha256').update(readFileSync(file)).digest('hex');
    rmSync(file);
  }
  return out;
}

describe('Warehouse', () => {
  it('dim_device is SCD Type 2: a device that changes model twice has three versions with exact validity ranges', async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    const w = await openWarehouse(dir);
    const r = await w.refresh();
    expect(r.partitionsLoaded).toBeGreaterThan(0);
    expect(await versions(w, 'dev-a')).toEqual([
      { v: 1, site: 'plant-a', model: 'anomaly@1', from: iso(T0), to: iso(T0 + 60 * MIN), current: false },
      { v: 2, site: 'plant-a', model: 'anomaly@2', from: iso(T0 + 60 * MIN), to: iso(T0 + 120 * MIN), current: false },
      { v: 3, site: 'plant-a', model: 'anomaly@3', from: iso(T0 + 120 * MIN), to: null, current: true },
    ]);
    expect(await versions(w, 'dev-b')).toEqual([
      { v: 1, site: 'plant-b', model: 'anomaly@1', from: iso(T0), to: null, current: true },
    ]);
    // every reading is keyed to the version valid at its ts
    const keyed = await w.rows(
      `SELECT device_key, count(*) AS n, epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM fact_reading WHERE device_id = 'dev-a' GROUP BY ALL ORDER BY device_key`,
    );
    expect(keyed.map((k) => [k.device_key, Number(k.n), Number(k.lo) - T0, Number(k.hi) - T0])).toEqual([
      ['dev-a#1', 60, 0, 59 * MIN],
      ['dev-a#2', 60, 60 * MIN, 119 * MIN],
      ['dev-a#3', 60, 120 * MIN, 179 * MIN],
    ]);
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    const inference = await w.rows(`SELECT device_id, model_version, windows, anomalies, p95_ms FROM fact_inference`);
    expect(inference).toEqual([
      { device_id: 'dev-a', model_version: '1', windows: '12', anomalies: '1', p95_ms: 4.25 },
    ]);
  });

  it('anomaly rate by model version as of time T counts each fact for the version its device ran then', async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    const w = await openWarehouse(dir);
    await w.refresh();
    const at = await w.rows(reportSql('model-impact', { asOf: T0 + 100 * MIN }));
    // @1: dev-a minutes 0-59 (6 anomalies) + dev-b minutes 0-99 (1: minute 10); @2: dev-a minutes 60-99 (3)
    expect(
      at.map((r) => [r.model_version, Number(r.devices), Number(r.readings), Number(r.anomalies), r.anomaly_rate]),
    ).toEqual([
      ['1', 2, 160, 7, 0.04375],
      ['2', 1, 40, 3, 0.075],
    ]);
    const all = await w.rows(reportSql('model-impact'));
    expect(all.map((r) => [r.model_version, Number(r.readings), Number(r.anomalies)])).toEqual([
      ['1', 240, 8],
      ['2', 60, 3],
      ['3', 60, 0],
    ]);
    // the same from the materialised hourly aggregates at the model level
    const hourly = await w.rows(
      `SELECT member, sum(readings) AS r, sum(anomalies) AS a FROM agg_health_hourly WHERE level = 'model' GROUP BY member ORDER BY member`,
    );
    expect(hourly.map((h) => [h.member, Number(h.r), Number(h.a)])).toEqual([
      ['anomaly@1', 240, 8],
      ['anomaly@2', 60, 3],
      ['anomaly@3', 60, 0],
    ]);
    const health = await w.rows(
      `SELECT member, uptime, completeness FROM agg_health_hourly WHERE level = 'device' ORDER BY member, hour`,
    );
    expect(health.every((h) => h.uptime === 1 && h.completeness === 1)).toBe(true);
  });

  it('late and out-of-order data land in the right version; the incremental refresh equals a full rebuild byte for byte', async () => {
    const dir = tempDir();
    const all = fleet();
    // held back: dev-b's readings of minutes 30-39 (seqs 31-40, minute 10 had an anomaly: seq offset +1) and a status
    // from minute 90 saying dev-b moved to plant-c
    const late = all.filter(
      (m) =>
        m.deviceId === 'dev-b' &&
        m.type === 'telemetry' &&
        m.readings[0]!.ts >= T0 + 30 * MIN &&
        m.readings[0]!.ts < T0 + 40 * MIN,
    );
    const moved = status('dev-b', 90, 92, { site: 'plant-c' });
    await archiveMessages(
      dir,
      all.filter((m) => !late.includes(m as never)),
    );
    const w = await openWarehouse(dir);
    await w.refresh();
    expect(await versions(w, 'dev-b')).toHaveLength(1);
    const before = await w.rows(
      `SELECT completeness FROM agg_health_hourly WHERE level = 'device' AND member = 'dev-b' AND hour = make_timestamptz(${T0 * 1000}::BIGINT)`,
    );
    expect(before[0]!.completeness).toBeCloseTo(51 / 61, 10);

    await archiveMessages(dir, [moved, ...late.reverse()]);
    const r = await w.refresh();
    expect(r.devicesChanged).toBe(1);
    expect(await versions(w, 'dev-b')).toEqual([
      { v: 1, site: 'plant-b', model: 'anomaly@1', from: iso(T0), to: iso(T0 + 90 * MIN), current: false },
      { v: 2, site: 'plant-c', model: 'anomaly@1', from: iso(T0 + 90 * MIN), to: null, current: true },
    ]);
    const sites = await w.rows(
      `SELECT member, sum(readings) AS r FROM agg_health_hourly WHERE level = 'site' GROUP BY member ORDER BY member`,
    );
    expect(sites.map((s) => [s.member, Number(s.r)])).toEqual([
      ['plant-a', 180],
      ['plant-b', 90],
      ['plant-c', 90],
    ]);
    const after = await w.rows(
      `SELECT completeness FROM agg_health_hourly WHERE level = 'device' AND member = 'dev-b' AND hour = make_timestamptz(${T0 * 1000}::BIGINT)`,
    );
    expect(after[0]!.completeness).toBe(1);

    // the same archive into a fresh file, in one full refresh: every table identical
    const fresh = await openWarehouse(dir, 'fresh.duckdb');
    await fresh.refresh({ full: true });
    expect(await fingerprint(w, dir)).toEqual(await fingerprint(fresh, dir));
  });

  it('refresh is idempotent: a rerun touches nothing, a full rebuild gives byte-identical tables, a compaction changes no row', async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet().slice(0, 200));
    const w = await openWarehouse(dir);
    await w.refresh();
    const filesBefore = (readdirSync(join(dir, 'archive', 'readings'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.parquet'))
      .sort();
    // the second round's archive compacts the first round's files with its own into one file per partition
    await archiveMessages(dir, fleet().slice(200));
    const filesAfter = (readdirSync(join(dir, 'archive', 'readings'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.parquet'))
      .sort();
    expect(filesAfter.filter((f) => filesBefore.includes(f))).toEqual([]);
    const second = await w.refresh();
    expect(second.partitionsLoaded).toBeGreaterThan(0);
    const first = await fingerprint(w, dir);
    const again = await w.refresh();
    expect([again.partitionsLoaded, again.hoursAggregated, again.devicesChanged]).toEqual([0, 0, 0]);
    expect(await fingerprint(w, dir)).toEqual(first);
    await w.refresh({ full: true });
    expect(await fingerprint(w, dir)).toEqual(first);
    await w.refresh({ full: true });
    expect(await fingerprint(w, dir)).toEqual(first);
  });

  it('checks fail on duplicate (device, seq), a reading out of range and stale data, and the results are kept', async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    // a producer other than the ingest writes a reading of dev-a again (the ingest would have dropped it)
    const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 2 });
    await stream.start();
    const dupe = timeline('dev-a', 3, 4, [], 4)[0]!;
    await stream.put([
      {
        partitionKey: 'dev-a',
        data: encodeMessage({
          ...dupe,
          readings: [
            {
              ...(dupe as { readings: { seq: number; sensor: string; ts: number; value: number }[] }).readings[0]!,
              value: 999,
            },
          ],
        } as never),
      },
    ]);
    await stream.close();
    await archiveMessages(dir, []);
    const w = await Warehouse.open({
      path: join(dir, 'warehouse.duckdb'),
      archiveDir: join(dir, 'archive'),
      checks: { maxStalenessMs: 1, ranges: { temp: [0, 500] } },
    });
    onTestFinished(() => w.close());
    const r = await w.refresh();
    const byName = Object.fromEntries(r.checks.map((c) => [c.name, c]));
    expect(byName['unique-device-seq']).toMatchObject({ status: 'fail', observed: 1 });
    expect(byName['unique-device-seq']!.detail).toContain('dev-a#4 ×2');
    expect(byName['value-ranges']).toMatchObject({ status: 'fail', observed: 1 });
    expect(byName['value-ranges']!.detail).toContain('dev-a#4 temp=999');
    expect(byName['freshness']!.status).toBe('fail');
    expect(byName['non-null-keys']!.status).toBe('pass');
    // the repeated seq is received once: completeness stays what the seq range says
    const dev = await w.rows(
      `SELECT sum(readings) AS r, min(completeness) AS lo, max(completeness) AS hi FROM agg_health_daily WHERE level = 'device' AND member = 'dev-a'`,
    );
    expect([Number(dev[0]!.r), dev[0]!.lo, dev[0]!.hi]).toEqual([
      fleet().filter((m) => m.deviceId === 'dev-a' && m.type === 'telemetry').length + 1,
      1,
      1,
    ]);
    expect(byName['scd2-ranges']!.status).toBe('pass');
    expect(byName['reconcile-ingest']!.status).toBe('skip');
    const kept = await w.rows(
      `SELECT check_name, status FROM dq_results WHERE refresh_id = ${r.refreshId} ORDER BY check_name`,
    );
    expect(kept.filter((k) => k.status === 'fail').map((k) => k.check_name)).toEqual([
      'freshness',
      'unique-device-seq',
      'value-ranges',
    ]);
  });

  it('a partition removed from the archive is removed from the facts and its hours re-aggregated', async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    const w = await openWarehouse(dir);
    await w.refresh();
    const hourDir = join(dir, 'archive', 'readings', `date=${new Date(T0).toISOString().slice(0, 10)}`, 'hour=09');
    rmSync(hourDir, { recursive: true });
    const r = await w.refresh();
    expect(r.partitionsRemoved).toBe(1);
    const n = await w.rows(`SELECT count(*) AS n FROM fact_reading`);
    expect(Number(n[0]!.n)).toBe(240);
    const hourly = await w.rows(`SELECT sum(readings) AS r FROM agg_health_hourly WHERE level = 'device'`);
    expect(Number(hourly[0]!.r)).toBe(240);
    expect(readdirSync(join(dir, 'archive', 'readings')).length).toBe(1);
  });
});
