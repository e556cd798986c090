import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ParquetOfflineStore } from '../../../cloud/feature-store/parquet-offline-store.ts';
import { ManualClock } from '../../../lib/clock.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-parquet-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

const DAY1 = Date.UTC(2026, 10, 24, 23, 59, 59, 500);
const DAY2 = Date.UTC(2026, 10, 25, 0, 0, 1, 250);

describe('ParquetOfflineStore', () => {
  it('writes date-partitioned Parquet that DuckDB reads back with types, and removes crash leftovers', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'device_features', 'date=2026-01-01'), { recursive: true });
    const leftover = join(dir, 'device_features', 'date=2026-01-01', '.part-1-dead.parquet.tmp');
    writeFileSync(leftover, 'half a file');
    const store = new ParquetOfflineStore({ dir, clock: new ManualClock(DAY2 + 5000) });
    await store.start();
    onTestFinished(() => store.close());
    expect(existsSync(leftover)).toBe(false);
    store.append('device_features', [
      { entityId: 'm1', eventTime: DAY1, features: { t_mean_1m: 21.5, model_version_anomaly: '1.0.0' } },
      { entityId: 'm2', eventTime: DAY2, features: { t_mean_1m: 22, rpm_last: 1500, gone: null } },
    ]);
    store.append('other', [{ entityId: 'x', eventTime: DAY2, features: { v: 'a' } }]);
    await store.flush();
    expect(store.stats()).toMatchObject({ rowsWritten: 3, filesWritten: 3, buffered: 0 });
    const days = readdirSync(join(dir, 'device_features')).sort();
    expect(days).toEqual(['date=2026-01-01', 'date=2026-11-24', 'date=2026-11-25']);
    expect(readdirSync(join(dir, 'device_features', 'date=2026-11-24'))).toEqual([expect.stringMatching(/^part-\d+-[0-9a-f]{8}\.parquet$/)]);
    const rows = await query(
      `SELECT entity_id, epoch_ms(event_time) AS t, CAST(date AS VARCHAR) AS date, t_mean_1m, rpm_last, model_version_anomaly, typeof(t_mean_1m) AS ty
       FROM read_parquet('${dir}/device_features/*/*.parquet', hive_partitioning = true, union_by_name = true) ORDER BY entity_id`,
    );
    expect(rows).toEqual([
      { entity_id: 'm1', t: BigInt(DAY1), date: '2026-11-24', t_mean_1m: 21.5, rpm_last: null, model_version_anomaly: '1.0.0', ty: 'DOUBLE' },
      { entity_id: 'm2', t: BigInt(DAY2), date: '2026-11-25', t_mean_1m: 22, rpm_last: 1500, model_version_anomaly: null, ty: 'DOUBLE' },
    ]);
  });

  it('flushes a group when it reaches flushRows, on its timer, and on close', async () => {
    const dir = tempDir();
    const clock = new ManualClock(DAY1);
    const store = new ParquetOfflineStore({ dir, flushRows: 3, flushIntervalMs: 1000, clock });
    await store.start();
    const rec = (i: number) => ({ entityId: `d${i}`, eventTime: DAY1, features: { i } });
    store.append('g', [rec(1), rec(2)]);
    expect(store.stats().filesWritten).toBe(0);
    store.append('g', [rec(3)]);
    await store.flush();
    expect(store.stats()).toMatchObject({ filesWritten: 1, rowsWritten: 3 });
    store.append('g', [rec(4)]);
    clock.advance(1000);
    await store.flush();
    expect(store.stats().rowsWritten).toBe(4);
    store.append('g', [rec(5)]);
    await store.close();
    await store.close();
    const [{ n }] = (await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${dir}/g/*/*.parquet')`)) as [{ n: number }];
    expect(n).toBe(5);
    expect(() => store.append('g', [rec(6)])).toThrow(/closed/);
  });

  it('refuses bad records and reserved feature names', async () => {
    const store = new ParquetOfflineStore({ dir: tempDir() });
    await store.start();
    onTestFinished(() => store.close());
    expect(() => store.append('g', [{ entityId: 'd', eventTime: 1, features: { entity_id: 'x' } }])).toThrow(/reserved/);
    expect(() => store.append('bad group', [])).toThrow(/feature group/);
  });
});
