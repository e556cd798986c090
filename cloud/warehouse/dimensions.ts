/**
 * The warehouse's small dimensions and views, rebuilt whole by every refresh: dim_model (the registry's versions
 * and the versions devices reported that it does not know), dim_date (the calendar days of the facts), and the
 * views over the feature store's Parquet history (fact_feature) and a backfill's window features (fact_window).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import { readSqlite } from './sqlite-sources.ts';

export async function rebuildDimModel(conn: DuckDBConnection, registryDb: string | undefined): Promise<void> {
  await conn.run('DELETE FROM dim_model');
  const reg =
    registryDb && existsSync(registryDb)
      ? readSqlite(
          registryDb,
          'SELECT name, version, sha256, bytes, parent_version, created_at, pushed_at FROM versions',
        )
      : [];
  for (const r of reg as {
    name: string;
    version: string;
    sha256: string;
    bytes: number;
    parent_version: string | null;
    created_at: string;
    pushed_at: number;
  }[]) {
    await conn.run(
      `INSERT INTO dim_model VALUES (${sqlString(r.name)}, ${sqlString(r.version)}, ${sqlString(r.sha256)}, ${Number(r.bytes)}, ${r.parent_version === null ? 'NULL' : sqlString(r.parent_version)}, ${sqlString(r.created_at)}, make_timestamptz(${Math.round(Number(r.pushed_at)) * 1000}::BIGINT), 'registry')`,
    );
  }
  await conn.run(`INSERT INTO dim_model SELECT DISTINCT model_name, model_version, NULL, NULL, NULL, NULL, NULL, 'observed' FROM dim_device
    WHERE model_name IS NOT NULL AND model_version IS NOT NULL AND (model_name, model_version) NOT IN (SELECT (model_name, model_version) FROM dim_model)`);
}

export async function rebuildDimDate(conn: DuckDBConnection): Promise<void> {
  await conn.run('DELETE FROM dim_date');
  await conn.run(`INSERT INTO dim_date SELECT CAST(strftime(d, '%Y%m%d') AS INTEGER), CAST(d AS DATE), year(d), month(d), day(d), isodow(d), weekofyear(d)
    FROM (SELECT unnest(generate_series(CAST(min(ts) AS DATE), CAST(max(ts) AS DATE), INTERVAL 1 DAY)) AS d FROM fact_reading HAVING count(*) > 0)`);
}

/** fact_feature (group device_features) and fact_window (group device_windows), when their Parquet files exist */
export async function featureViews(conn: DuckDBConnection, offlineDir: string | undefined): Promise<void> {
  if (!offlineDir) return;
  for (const [view, group] of [
    ['fact_feature', 'device_features'],
    ['fact_window', 'device_windows'],
  ] as const) {
    const dir = join(offlineDir, group);
    const has = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).some((f) =>
      /(^|\/)part-[^/]*\.parquet$/.test(String(f)),
    );
    if (has)
      await conn.run(
        `CREATE OR REPLACE VIEW ${view} AS SELECT * FROM read_parquet(${sqlString(`${dir}/*/*.parquet`)}, hive_partitioning = true, union_by_name = true)`,
      );
  }
}
