/**
 * Other tools read a whole offline group: every file has the group's one schema (features added later are
 * nullable columns of every file), timestamps are UTC-adjusted, column names are SQL-safe. Read back by DuckDB
 * without union_by_name, and by hyparquet (a pure-JS Parquet reader, independent of DuckDB's implementation),
 * file by file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ParquetOfflineStore } from '../../../cloud/feature-store/parquet-offline-store.ts';
import type { FeatureRecord } from '../../../cloud/feature-store/feature-store.ts';
import { ManualClock } from '../../../lib/clock.ts';

const GROUP = 'device-features';
const DAY1 = Date.UTC(2026, 10, 24, 23, 59, 58, 250);
const WRITE_TIME = Date.UTC(2026, 10, 25, 1, 0, 0, 0);

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-parquet-interop-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** 17 features in the first flush, 48 from the second on: hyphens, a keyword, a leading digit, case twins */
const FIRST = [
  'temp-c_mean_1m',
  'temp-c_std_1m',
  'Temp_last',
  'temp_last',
  'order',
  '1st-sensor_last',
  'model_version_anomaly-v2',
  'online',
  'last_seen',
  'late_readings',
  'rpm_mean_1m',
  'rpm_max_1m',
  'rpm_min_1m',
  'rpm_count_1m',
  'anomaly_count_15m',
  'anomaly_rate_15m',
  'status',
];
const LATER = [...FIRST, ...Array.from({ length: 31 }, (_, i) => `vib-${i}_ewma`)];
const STRINGS = new Set(['model_version_anomaly-v2', 'status']);

function record(i: number, names: string[], flush: number): FeatureRecord {
  const features: FeatureRecord['features'] = {};
  names.forEach((n, j) => {
    if ((i + j) % 7 === 3) return; // some features absent in some rows: nulls
    features[n] = STRINGS.has(n) ? `v${i}.${j}` : i * 100 + j + 0.5;
  });
  // from the second flush on, `rpm_count_1m` also carries strings: the column becomes VARCHAR
  if (flush > 1 && i % 5 === 0) features.rpm_count_1m = `n/a-${i}`;
  return { entityId: `dev-${String(i).padStart(3, '0')}`, eventTime: DAY1 + i * 750, features };
}

/** three flushes: 17 features, then 48 (with a type change), then the same 48 again */
async function writeGroup(dir: string, compression: 'zstd' | 'snappy'): Promise<FeatureRecord[]> {
  const store = new ParquetOfflineStore({ dir, compression, clock: new ManualClock(WRITE_TIME) });
  await store.start();
  onTestFinished(() => store.close());
  const all: FeatureRecord[] = [];
  const flushes: [number, number, string[]][] = [
    [0, 10, FIRST],
    [10, 20, LATER],
    [20, 30, LATER],
  ];
  for (const [flush, [from, to, names]] of flushes.entries()) {
    const recs = Array.from({ length: to - from }, (_, k) => record(from + k, names, flush + 1));
    await store.append(GROUP, recs);
    all.push(...recs);
    await store.flush();
  }
  await store.close();
  return all;
}

interface SchemaDoc {
  version: number;
  columns: { name: string; type: string; nullable: boolean; feature?: string }[];
}

function schemaDoc(dir: string): SchemaDoc {
  return JSON.parse(readFileSync(join(dir, GROUP, '_schema.json'), 'utf8')) as SchemaDoc;
}

/** the rows as the group schema says they must read: one value (or null) per column */
function expectedRows(doc: SchemaDoc, records: FeatureRecord[]): Record<string, unknown>[] {
  return records.map((r) => {
    const row: Record<string, unknown> = { entity_id: r.entityId, event_time: r.eventTime, write_time: WRITE_TIME };
    for (const c of doc.columns.slice(3)) {
      const v = r.features[c.feature!];
      row[c.name] = v === undefined ? null : c.type === 'VARCHAR' ? String(v) : v;
    }
    return row;
  });
}

function partFiles(dir: string): string[] {
  return readdirSync(join(dir, GROUP), { recursive: true })
    .map(String)
    .filter((f) => /(^|\/)part-[^/]*\.parquet$/.test(f))
    .sort();
}

function checkSchemaDoc(doc: SchemaDoc): void {
  expect(doc.version).toBe(2);
  expect(doc.columns.slice(0, 3)).toEqual([
    { name: 'entity_id', type: 'VARCHAR', nullable: false },
    { name: 'event_time', type: 'TIMESTAMPTZ', nullable: false },
    { name: 'write_time', type: 'TIMESTAMPTZ', nullable: false },
  ]);
  expect(doc.columns).toHaveLength(3 + 48);
  for (const c of doc.columns) expect(c.name).toMatch(/^[a-z_][a-z0-9_]*$/);
  const byFeature = Object.fromEntries(doc.columns.slice(3).map((c) => [c.feature, c]));
  expect(byFeature['temp-c_mean_1m']).toEqual({
    name: 'temp_c_mean_1m',
    type: 'DOUBLE',
    nullable: true,
    feature: 'temp-c_mean_1m',
  });
  expect(byFeature['Temp_last']!.name).toBe('temp_last');
  expect(byFeature['temp_last']!.name).toBe('temp_last_2');
  expect(byFeature['order']!.name).toBe('order_');
  expect(byFeature['1st-sensor_last']!.name).toBe('f_1st_sensor_last');
  expect(byFeature['model_version_anomaly-v2']).toMatchObject({ name: 'model_version_anomaly_v2', type: 'VARCHAR' });
  expect(byFeature['rpm_count_1m']).toMatchObject({ type: 'VARCHAR' });
  expect(byFeature['vib-30_ewma']).toMatchObject({ name: 'vib_30_ewma', type: 'DOUBLE' });
}

async function duckRead(
  dir: string,
  timeZone: string,
): Promise<{ columns: [string, string][]; rows: Record<string, unknown>[] }> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run(`SET TimeZone = '${timeZone}'`);
    const from = `read_parquet('${join(dir, GROUP)}/*/*.parquet', hive_partitioning = true)`;
    const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`)).getRowObjectsJS();
    const columns = described.map((r) => [String(r.column_name), String(r.column_type)] as [string, string]);
    const res = await conn.runAndReadAll(
      `SELECT * EXCLUDE (date) REPLACE (epoch_ms(event_time)::DOUBLE AS event_time, epoch_ms(write_time)::DOUBLE AS write_time), CAST(date AS VARCHAR) AS date FROM ${from} ORDER BY entity_id`,
    );
    return { columns, rows: res.getRowObjectsJS() as Record<string, unknown>[] };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

async function checkWithDuckDb(dir: string, records: FeatureRecord[]): Promise<void> {
  const doc = schemaDoc(dir);
  checkSchemaDoc(doc);
  // the instants do not depend on the reader's time zone
  for (const tz of ['UTC', 'America/New_York']) {
    const { columns, rows } = await duckRead(dir, tz);
    const duckType = (t: string) => (t === 'TIMESTAMPTZ' ? 'TIMESTAMP WITH TIME ZONE' : t);
    expect(columns).toEqual([
      ...doc.columns.map((c) => [c.name, duckType(c.type)]),
      ['date', expect.stringMatching(/DATE|VARCHAR/)],
    ]);
    const want = expectedRows(doc, records).map((r) => ({
      ...r,
      date: new Date(r.event_time as number).toISOString().slice(0, 10),
    }));
    expect(rows).toEqual(want);
  }
}

describe('ParquetOfflineStore: one schema per group that other tools read', () => {
  it('DuckDB reads the whole group without union_by_name: every column, every row, TIMESTAMP WITH TIME ZONE', async () => {
    const dir = tempDir();
    const records = await writeGroup(dir, 'zstd');
    // two UTC days; the first flush's files were rewritten to the later schema
    expect(new Set(partFiles(dir).map((f) => f.split('/')[0]))).toEqual(
      new Set(['date=2026-11-24', 'date=2026-11-25']),
    );
    await checkWithDuckDb(dir, records);
  });

  it('hyparquet reads every file with the one group schema, UTC-adjusted timestamps and every row', async () => {
    const dir = tempDir();
    // hyparquet decodes snappy itself (zstd needs its optional codecs package)
    const records = await writeGroup(dir, 'snappy');
    const doc = schemaDoc(dir);
    checkSchemaDoc(doc);
    const files = partFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const physical = (t: string) => (t === 'VARCHAR' ? 'BYTE_ARRAY' : t === 'DOUBLE' ? 'DOUBLE' : 'INT64');
    const rows: Record<string, unknown>[] = [];
    for (const f of files) {
      const buf = await readFile(join(dir, GROUP, f));
      const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const meta = await parquetMetadataAsync(file);
      const leaves = meta.schema.slice(1);
      expect(leaves.map((s) => [s.name, s.type])).toEqual(doc.columns.map((c) => [c.name, physical(c.type)]));
      for (const name of ['event_time', 'write_time']) {
        expect(leaves.find((s) => s.name === name)!.logical_type).toEqual({
          type: 'TIMESTAMP',
          isAdjustedToUTC: true,
          unit: 'MICROS',
        });
      }
      expect(meta.key_value_metadata).toContainEqual({ key: 'edgeloop_schema_version', value: '2' });
      rows.push(...((await parquetReadObjects({ file })) as Record<string, unknown>[]));
    }
    const got = rows
      .map(
        (r): Record<string, unknown> => ({
          ...r,
          event_time: (r.event_time as Date).getTime(),
          write_time: (r.write_time as Date).getTime(),
        }),
      )
      .sort((a, b) => String(a.entity_id).localeCompare(String(b.entity_id)));
    expect(got).toEqual(expectedRows(doc, records));
    await checkWithDuckDb(dir, records);
  });
});
