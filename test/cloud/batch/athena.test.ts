/**
 * The Athena / Glue DDL under deploy/athena/ is what the generator writes now, and its column types are those of
 * the Parquet files DuckDB actually writes (the raw archive's, and the DAG's published tables), read back with
 * parquet_schema(). The translated aggregate SQL gives the warehouse's aggregates over the published files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { athenaFiles, atScaleTables, glueColumns, type GlueType } from '../../../cloud/batch/athena.ts';
import { DailyDag } from '../../../cloud/batch/daily-dag.ts';
import { archiveMessages, fleet, T0, tempDir } from '../warehouse/fleet-fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DATE = new Date(T0).toISOString().slice(0, 10);

/** The Glue type a reader (Athena, Glue, Spark) gives a Parquet leaf column. */
function glueOf(r: { type: string; logical_type: string | null; converted_type: string | null }): GlueType {
  const logical = r.logical_type ?? '';
  if (r.type === 'BYTE_ARRAY' && (r.converted_type === 'UTF8' || logical.includes('String'))) return 'string';
  if (r.type === 'INT64' && logical.includes('Timestamp') && logical.includes('isAdjustedToUTC=1')) return 'timestamp';
  if (r.type === 'INT64' && !logical && (!r.converted_type || r.converted_type === 'INT_64')) return 'bigint';
  if (r.type === 'INT32' && (r.converted_type === 'DATE' || logical.includes('Date'))) return 'date';
  if (r.type === 'INT32' && !logical && (!r.converted_type || r.converted_type === 'INT_32')) return 'int';
  if (r.type === 'DOUBLE') return 'double';
  if (r.type === 'BOOLEAN') return 'boolean';
  throw new Error(`unexpected Parquet column ${JSON.stringify(r)}`);
}

async function parquetColumns(conn: DuckDBConnection, file: string): Promise<{ name: string; type: GlueType }[]> {
  const rows = (
    await conn.runAndReadAll(
      `SELECT name, type, CAST(logical_type AS VARCHAR) AS logical_type, converted_type FROM parquet_schema('${file}') WHERE num_children IS NULL OR num_children = 0`,
    )
  ).getRowObjectsJS() as { name: string; type: string; logical_type: string | null; converted_type: string | null }[];
  return rows.map((r) => ({ name: r.name, type: glueOf(r) }));
}

function firstParquet(dir: string): string {
  const f = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => /(^|\/)part-[^/]*\.parquet$/.test(p))
    .sort()[0];
  if (!f) throw new Error(`no Parquet file under ${dir}`);
  return join(dir, f);
}

describe('Athena DDL', () => {
  it('deploy/athena/ is what the generator writes (npm run gen:athena)', () => {
    const want = athenaFiles();
    const dir = join(ROOT, 'deploy', 'athena');
    const have = readdirSync(dir).filter((f) => f.endsWith('.sql') || f.endsWith('.json'));
    expect(have.sort()).toEqual(Object.keys(want).sort());
    for (const [name, text] of Object.entries(want))
      expect(readFileSync(join(dir, name), 'utf8'), `${name} is stale: run npm run gen:athena`).toBe(text);
    const g = glueColumns();
    expect(g.fact_reading!.partitionKeys).toEqual([
      { name: 'date', type: 'string' },
      { name: 'hour', type: 'string' },
    ]);
    expect(g.archive_readings!.path).toBe('archive/readings');
  });

  it('column names, order and types match the Parquet DuckDB writes, archive and published tables', {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir();
    await archiveMessages(dir, fleet());
    const dag = new DailyDag({
      archiveDir: join(dir, 'archive'),
      warehousePath: join(dir, 'warehouse.duckdb'),
      stateDir: join(dir, 'batch'),
      datasetsDir: join(dir, 'datasets'),
      publishDir: join(dir, 'published'),
    });
    expect((await dag.run({ date: DATE })).status).toBe('ok');
    const inst = await DuckDBInstance.create(':memory:');
    const conn = await inst.connect();
    try {
      for (const t of atScaleTables()) {
        const base = t.source ? join(dir, 'published', t.name) : join(dir, t.path);
        const file = firstParquet(base);
        expect(await parquetColumns(conn, file), `${t.name} (${file})`).toEqual(t.columns);
        // the partition directories are the DDL's partition keys, in order
        const rel = file
          .slice(base.length + 1)
          .split('/')
          .slice(0, -1);
        expect(rel.map((p) => p.split('=')[0])).toEqual(t.partitions);
      }

      // the translated aggregates (Trino SQL) over the published files give the warehouse's rows
      await conn.run('CREATE SCHEMA edgeloop');
      for (const t of ['fact_reading', 'fact_event', 'dim_device'])
        await conn.run(
          `CREATE VIEW edgeloop.${t} AS SELECT * FROM read_parquet('${join(dir, 'published', t)}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)`,
        );
      for (const t of ['agg_sensor_hourly', 'agg_health_hourly'])
        await conn.run(
          `CREATE TABLE edgeloop.${t} AS SELECT *, '' AS date FROM read_parquet('${join(dir, 'published', t)}/*/*.parquet', hive_partitioning = false) LIMIT 0`,
        );
      // Trino's approx_percentile is approximate; DuckDB's exact quantile stands in for it here
      await conn.run('CREATE MACRO approx_percentile(x, p) AS quantile_disc(x, p)');
      await conn.run("SET TimeZone = 'UTC'");
      await conn.run(
        readFileSync(join(ROOT, 'deploy', 'athena', 'aggregates.sql'), 'utf8').replaceAll('${date}', DATE),
      );
      for (const t of ['agg_sensor_hourly', 'agg_health_hourly']) {
        const q = (from: string): string =>
          `SELECT * EXCLUDE (date) FROM ${from} ORDER BY ALL`.replace('EXCLUDE (date) FROM read', 'FROM read');
        const got = (await conn.runAndReadAll(q(`edgeloop.${t}`))).getRowObjectsJson();
        const want = (
          await conn.runAndReadAll(
            q(`read_parquet('${join(dir, 'published', t)}/*/*.parquet', hive_partitioning = false)`),
          )
        ).getRowObjectsJson();
        expect(got.length).toBeGreaterThan(0);
        const round = (rows: Record<string, unknown>[]) =>
          rows.map((r) =>
            Object.fromEntries(
              Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(12)) : v]),
            ),
          );
        expect(round(got), t).toEqual(round(want));
      }
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  });
});
