import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
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
    await store.append('device_features', [
      { entityId: 'm1', eventTime: DAY1, features: { t_mean_1m: 21.5, model_version_anomaly: '1.0.0' } },
      { entityId: 'm2', eventTime: DAY2, features: { t_mean_1m: 22, rpm_last: 1500, gone: null } },
    ]);
    await store.append('other', [{ entityId: 'x', eventTime: DAY2, features: { v: 'a' } }]);
    await store.flush();
    expect(store.stats()).toMatchObject({ rowsWritten: 3, filesWritten: 3, buffered: 0 });
    const days = readdirSync(join(dir, 'device_features')).sort();
    expect(days).toEqual(['_commit.json', '_schema.json', 'date=2026-01-01', 'date=2026-11-24', 'date=2026-11-25']);
    expect(readdirSync(join(dir, 'device_features', 'date=2026-11-24'))).toEqual([
      expect.stringMatching(/^part-\d+-[0-9a-f]{8}\.parquet$/),
    ]);
    const rows = await query(
      `SELECT entity_id, epoch_ms(event_time) AS t, CAST(date AS VARCHAR) AS date, t_mean_1m, rpm_last, model_version_anomaly, typeof(t_mean_1m) AS ty
       FROM read_parquet('${dir}/device_features/*/*.parquet', hive_partitioning = true) ORDER BY entity_id`,
    );
    expect(rows).toEqual([
      {
        entity_id: 'm1',
        t: BigInt(DAY1),
        date: '2026-11-24',
        t_mean_1m: 21.5,
        rpm_last: null,
        model_version_anomaly: '1.0.0',
        ty: 'DOUBLE',
      },
      {
        entity_id: 'm2',
        t: BigInt(DAY2),
        date: '2026-11-25',
        t_mean_1m: 22,
        rpm_last: 1500,
        model_version_anomaly: null,
        ty: 'DOUBLE',
      },
    ]);
  });

  it('flushes a group when it reaches flushRows, on its timer, and on close', async () => {
    const dir = tempDir();
    const clock = new ManualClock(DAY1);
    const store = new ParquetOfflineStore({ dir, flushRows: 3, flushIntervalMs: 1000, clock });
    await store.start();
    const rec = (i: number) => ({ entityId: `d${i}`, eventTime: DAY1, features: { i } });
    await store.append('g', [rec(1), rec(2)]);
    expect(store.stats().filesWritten).toBe(0);
    await store.append('g', [rec(3)]);
    await store.flush();
    expect(store.stats()).toMatchObject({ filesWritten: 1, rowsWritten: 3 });
    await store.append('g', [rec(4)]);
    clock.advance(1000);
    await store.flush();
    expect(store.stats().rowsWritten).toBe(4);
    await store.append('g', [rec(5)]);
    await store.close();
    await store.close();
    const [{ n }] = (await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${dir}/g/*/*.parquet')`)) as [
      { n: number },
    ];
    expect(n).toBe(5);
    expect(() => store.append('g', [rec(6)])).toThrow(/closed/);
  });

  it('refuses bad records and reserved feature names', async () => {
    const store = new ParquetOfflineStore({ dir: tempDir() });
    await store.start();
    onTestFinished(() => store.close());
    expect(() => store.append('g', [{ entityId: 'd', eventTime: 1, features: { entity_id: 'x' } }])).toThrow(
      /reserved/,
    );
    expect(() => store.append('bad group', [])).toThrow(/feature group/);
  });

  it('start() finishes a committed flush whose renames a crash cut short, and drops an uncommitted one', async () => {
    const dir = tempDir();
    const clock = new ManualClock(DAY2);
    const a = new ParquetOfflineStore({ dir, clock });
    await a.start();
    await a.append('g', [{ entityId: 'd1', eventTime: DAY1, features: { v: 1 } }], {
      consumer: 'processor',
      positions: { 'shard-0': '7' },
    });
    await a.flush();
    await a.close();
    const day = join(dir, 'g', 'date=2026-11-24');
    const [file] = readdirSync(day);
    // the state of a crash after _commit.json was written and before the rename
    renameSync(join(day, file!), join(day, `.${file}.tmp`));
    // and the temp file of a flush that had not committed, and a schema file not yet updated
    writeFileSync(join(day, '.part-1-beef.parquet.tmp'), 'half a file');
    rmSync(join(dir, 'g', '_schema.json'));
    const b = new ParquetOfflineStore({ dir, clock });
    await b.start();
    onTestFinished(() => b.close());
    expect(readdirSync(day)).toEqual([file]);
    expect(b.committedPositions('g', 'processor')).toEqual({ 'shard-0': '7' });
    expect(JSON.parse(readFileSync(join(dir, 'g', '_schema.json'), 'utf8'))).toMatchObject({
      version: 1,
      columns: expect.arrayContaining([{ name: 'v', type: 'DOUBLE', nullable: true, feature: 'v' }]),
    });
    expect(await query(`SELECT entity_id, v FROM read_parquet('${dir}/g/*/*.parquet')`)).toEqual([
      { entity_id: 'd1', v: 1 },
    ]);
  });

  it('commits stream positions with the rows, also from an append of no records, and keeps them across restarts', async () => {
    const dir = tempDir();
    const clock = new ManualClock(DAY2);
    const a = new ParquetOfflineStore({ dir, clock });
    await a.start();
    await a.append('g', [{ entityId: 'd1', eventTime: DAY1, features: { v: 1 } }], {
      consumer: 'p',
      positions: { s0: '5', s1: '3' },
    });
    expect(a.committedPositions('g', 'p')).toEqual({});
    await a.flush();
    expect(a.committedPositions('g', 'p')).toEqual({ s0: '5', s1: '3' });
    await a.append('g', [], { consumer: 'p', positions: { s1: '9' } });
    await a.append('g', [], { consumer: 'other', positions: { s0: '1' } });
    await a.flush();
    await a.close();
    const b = new ParquetOfflineStore({ dir, clock });
    await b.start();
    onTestFinished(() => b.close());
    expect(b.committedPositions('g', 'p')).toEqual({ s0: '5', s1: '9' });
    expect(b.committedPositions('g', 'other')).toEqual({ s0: '1' });
    expect(b.committedPositions('nothing', 'p')).toEqual({});
    expect(b.stats()).toMatchObject({ rowsWritten: 0, filesWritten: 0 });
  });

  it('adopts files of an older edgeloop (one schema per file, naive timestamps, hyphens): one UTC schema after start', async () => {
    const dir = tempDir();
    const day = join(dir, 'legacy', 'date=2026-11-24');
    mkdirSync(day, { recursive: true });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `COPY (SELECT 'a' AS entity_id, make_timestamp(${DAY1 * 1000}) AS event_time, make_timestamp(${DAY2 * 1000}) AS write_time, 1.5::DOUBLE AS "temp-c_last") TO '${day}/part-1-aaaa.parquet' (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT 'b' AS entity_id, make_timestamp(${DAY1 * 1000}) AS event_time, make_timestamp(${DAY2 * 1000}) AS write_time, 2.5::DOUBLE AS "temp-c_last", 'x' AS status) TO '${day}/part-2-bbbb.parquet' (FORMAT parquet)`,
    );
    conn.closeSync();
    db.closeSync();
    const store = new ParquetOfflineStore({ dir });
    await store.start();
    onTestFinished(() => store.close());
    expect(JSON.parse(readFileSync(join(dir, 'legacy', '_schema.json'), 'utf8'))).toMatchObject({
      version: 1,
      columns: expect.arrayContaining([
        { name: 'temp_c_last', type: 'DOUBLE', nullable: true, feature: 'temp-c_last' },
      ]),
    });
    expect(readdirSync(day).sort()).toEqual(['part-1-aaaa.parquet', 'part-2-bbbb.parquet']);
    const rows = await query(
      `SELECT entity_id, epoch_ms(event_time)::DOUBLE AS t, typeof(event_time) AS ty, temp_c_last, status FROM read_parquet('${dir}/legacy/*/*.parquet') ORDER BY entity_id`,
    );
    expect(rows).toEqual([
      { entity_id: 'a', t: DAY1, ty: 'TIMESTAMP WITH TIME ZONE', temp_c_last: 1.5, status: null },
      { entity_id: 'b', t: DAY1, ty: 'TIMESTAMP WITH TIME ZONE', temp_c_last: 2.5, status: 'x' },
    ]);
  });

  it('append() waits instead of dropping rows when writes keep failing beyond maxBufferedRows', async () => {
    const dir = tempDir();
    const clock = new ManualClock(DAY1);
    // a file where the day's directory must go: every write of that day fails
    mkdirSync(join(dir, 'g'), { recursive: true });
    writeFileSync(join(dir, 'g', 'date=2026-11-24'), '');
    const store = new ParquetOfflineStore({ dir, flushRows: 1_000, flushIntervalMs: 1000, maxBufferedRows: 2, clock });
    await store.start();
    onTestFinished(() => store.close());
    const rec = (i: number) => ({ entityId: `d${i}`, eventTime: DAY1, features: { i } });
    expect(store.append('g', [rec(1), rec(2)])).toBeUndefined();
    const waiting = store.append('g', [rec(3)]);
    expect(waiting).toBeInstanceOf(Promise);
    let resolved = false;
    void waiting!.then(() => (resolved = true));
    await expect(store.flush()).rejects.toMatchObject({ code: 'EL_ERR_OFFLINE_STORE_WRITE' });
    expect(resolved).toBe(false);
    expect(store.stats()).toMatchObject({ buffered: 3, rowsWritten: 0 });
    rmSync(join(dir, 'g', 'date=2026-11-24'));
    clock.advance(1000);
    await waiting;
    expect(store.stats()).toMatchObject({ buffered: 0, rowsWritten: 3 });
  });

  it('refuses to start on a malformed commit record, naming the file', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'g'));
    writeFileSync(
      join(dir, 'g', '_commit.json'),
      '{"format":1,"schema":{"version":1,"columns":[{"name":"Bad-Name"}]}}',
    );
    const store = new ParquetOfflineStore({ dir });
    onTestFinished(() => store.close());
    await expect(store.start()).rejects.toMatchObject({
      code: 'EL_ERR_OFFLINE_STORE_COMMIT',
      message: expect.stringContaining('_commit.json'),
    });
  });
});
