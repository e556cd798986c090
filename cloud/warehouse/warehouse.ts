/**
 * Warehouse: the fleet warehouse in one DuckDB file, built from the raw archive (cloud/archive/) by refresh().
 * Tables in schema.ts; dim_device is SCD Type 2 (scd2.ts); checks in checks.ts; named reports in reports.ts.
 *
 * refresh() is incremental and idempotent:
 *   1. the archive's committed files are listed per table and hour partition; a partition whose file list (names
 *      and sizes) differs from the one it was loaded from is reloaded whole (delete its rows, insert from its
 *      files); a compaction changes the list but not the rows, so a reload changes nothing. The status and
 *      model-report partitions (the SCD2 sources) are loaded first;
 *   2. dim_device is rebuilt from every status and 'active' model report (dim-device.ts); for a device whose
 *      versions changed (a late status), the facts already held from the first changed version on are re-keyed;
 *   3. the reading and event partitions are loaded, each fact keyed to the version valid at its ts as it is inserted;
 *   4. the days touched (reloaded partitions, re-keyed facts) are re-aggregated from the facts, hourly and daily, at
 *      every level: device, site, model version (aggregates.ts);
 *   5. dim_model (registry), dim_date, the fact_feature view, then the data-quality checks (results in dq_results).
 * A compaction that replaces files between the listing and the load rolls the transaction back and lists again.
 * A rerun with nothing new touches nothing; refresh({ full: true }) rebuilds everything and gives the same rows
 * (aggregates are computed in a fixed order, so even floating-point means are identical).
 *
 * One writer at a time (DuckDB locks the file); readers open it with `readOnly` (the query surface).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { listPartitions } from '../archive/archive-files.ts';
import { type ArchiveTableName, partitionStart } from '../archive/archive-tables.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import { z } from 'zod';
import { dependency, parseOptions } from '../../lib/options.ts';
import { runChecks, type CheckOptions, type CheckResult } from './checks.ts';
import { AGGREGATE_TEMP_TABLES, aggregateStatements } from './aggregates.ts';
import { DEVICE_KEY_AT_TS, DEVICE_VERSION_AT_TS, rebuildDimDevice } from './dim-device.ts';
import { featureViews, rebuildDimDate, rebuildDimModel } from './dimensions.ts';
import { dateKeyOf, FACT_TABLES, SCHEMA_SQL, timeKeys, WAREHOUSE_SCHEMA_VERSION } from './schema.ts';
import { readSqlite } from './sqlite-sources.ts';

export interface WarehouseOptions {
  /** the DuckDB file. Required. */
  path: string;
  /** the raw archive root (`<dataDir>/archive`). Required for refresh(). */
  archiveDir?: string;
  /** the feature store's Parquet history (`<dataDir>/offline`): exposed as the fact_feature view */
  offlineDir?: string;
  /** the model registry database, for dim_model */
  registryDb?: string;
  /** the ingest's dedup state, for the reconciliation check */
  dedupDb?: string;
  /** open read-only (queries, reports); refresh() and check() refuse */
  readOnly?: boolean;
  /** options of the data-quality checks */
  checks?: CheckOptions;
  /** DuckDB threads. Default 1 (a refresh beside a running cloud); a batch job on its own may give it the cores */
  threads?: number;
  clock?: Clock;
}

export interface RefreshResult {
  refreshId: number;
  partitionsLoaded: number;
  partitionsRemoved: number;
  devicesChanged: number;
  hoursAggregated: number;
  daysAggregated: number;
  checks: CheckResult[];
  /** milliseconds spent in each step: load, dimDevice, aggregate, dimensions, checks */
  phases: Record<RefreshPhase, number>;
}

export type RefreshPhase = 'load' | 'dimDevice' | 'aggregate' | 'dimensions' | 'checks';

/** The options as lib/options.ts checks them: an unknown key is refused with a suggestion, a bad value names it. */
const WarehouseOptionsSchema = z.strictObject({
  path: z.string({ error: 'required' }).min(1, 'required'),
  archiveDir: z.string().min(1).optional(),
  offlineDir: z.string().min(1).optional(),
  registryDb: z.string().min(1).optional(),
  dedupDb: z.string().min(1).optional(),
  readOnly: z.boolean().optional(),
  checks: dependency<CheckOptions>('check options', (v) => typeof v === 'object' && v !== null).optional(),
  threads: z.number().int().min(1).optional(),
  clock: dependency<Clock>('a Clock').optional(),
});
const C = 'Warehouse';

const LOAD_COLUMNS: Record<ArchiveTableName, string> = {
  readings: 'device_id, seq, sensor, ts, value, arrived_at',
  events: 'device_id, seq, ts, kind, severity, model_name, model_version, score, threshold, sensors, arrived_at',
  status:
    'device_id, seq, ts, online, agent_version, model_name, model_version, models, site, hardware, config_hash, inference_windows, inference_anomalies, inference_p95_ms, arrived_at',
  model_reports: 'device_id, seq, ts, model, version, state, rollout_id, reason, arrived_at',
};

export class Warehouse {
  readonly #o: WarehouseOptions;
  readonly #clock: Clock;
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;

  private constructor(o: WarehouseOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
  }

  /** Open (and, read-write, create or migrate) the warehouse file. */
  static async open(opts: WarehouseOptions): Promise<Warehouse> {
    const { path } = parseOptions(WarehouseOptionsSchema, opts, { where: C });
    const w = new Warehouse(opts);
    try {
      w.#instance = await DuckDBInstance.create(path, {
        threads: String(opts.threads ?? 1),
        ...(opts.readOnly ? { access_mode: 'READ_ONLY' } : {}),
      });
      w.#conn = await w.#instance.connect();
    } catch (cause) {
      w.close();
      throw new EdgeloopError(
        'EL_ERR_WAREHOUSE_OPEN',
        `${C}: cannot open ${path}${opts.readOnly ? ' read-only' : ''}: ${(cause as Error).message}`,
        { cause },
      );
    }
    await w.#conn.run("SET TimeZone = 'UTC'");
    if (!opts.readOnly) await w.#migrate();
    return w;
  }

  async #migrate(): Promise<void> {
    await this.#conn!.run(SCHEMA_SQL);
    const v = await this.meta('schema_version');
    if (v !== undefined && Number(v) > WAREHOUSE_SCHEMA_VERSION) {
      throw new EdgeloopError(
        'EL_ERR_WAREHOUSE_OPEN',
        `${C}: ${this.#o.path} has schema version ${v}, newer than this edgeloop (${WAREHOUSE_SCHEMA_VERSION})`,
      );
    }
    await this.#setMeta('schema_version', String(WAREHOUSE_SCHEMA_VERSION));
    const n = await this.#scalar('SELECT count(*) FROM dim_time');
    if (Number(n) === 0)
      await this.#conn!.run(
        'INSERT INTO dim_time SELECT CAST(m AS INTEGER), CAST(m // 60 AS INTEGER), CAST(m % 60 AS INTEGER) FROM range(1440) t(m)',
      );
  }

  get connection(): DuckDBConnection {
    if (!this.#conn) throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    return this.#conn;
  }

  /** Rows of a query as plain objects (JSON-friendly values: timestamps as ISO-like strings, big integers as numbers). */
  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const r = await this.connection.runAndReadAll(sql);
    return r.getRowObjectsJson() as Record<string, unknown>[];
  }

  /** Column names, DuckDB types and rows of a query, for the query surface. */
  async query(sql: string): Promise<{ columns: string[]; types: string[]; rows: unknown[][] }> {
    const r = await this.connection.runAndReadAll(sql);
    // DuckDB's JSON form gives 64-bit integers as strings (count(*) is a BIGINT): numbers when they fit exactly
    const wide = r.columnTypes().map((t) => /^(BIGINT|HUGEINT|UBIGINT|UHUGEINT)$/.test(t.toString()));
    const rows = (r.getRowsJson() as unknown[][]).map((row) =>
      row.map((v, i) => (wide[i] && typeof v === 'string' && Number.isSafeInteger(Number(v)) ? Number(v) : v)),
    );
    return { columns: r.columnNames(), types: r.columnTypes().map(String), rows };
  }

  async meta(key: string): Promise<string | undefined> {
    const r = await this.rows(`SELECT value FROM wh_meta WHERE key = ${sqlString(key)}`);
    return r[0]?.value as string | undefined;
  }

  async #setMeta(key: string, value: string): Promise<void> {
    await this.connection.run(`INSERT OR REPLACE INTO wh_meta VALUES (${sqlString(key)}, ${sqlString(value)})`);
  }

  async #scalar(sql: string): Promise<unknown> {
    const r = await this.connection.runAndReadAll(sql);
    return r.getRowsJS()[0]?.[0];
  }

  #writable(what: string): void {
    if (this.#o.readOnly)
      throw new EdgeloopError(
        'EL_ERR_WAREHOUSE_READ_ONLY',
        `${C}: ${what} needs a read-write warehouse (opened read-only)`,
      );
  }

  /** Bring the warehouse up to date with the archive (see the file comment), then run the checks. */
  async refresh(o: { full?: boolean; reaggregate?: { from: number; to: number } } = {}): Promise<RefreshResult> {
    this.#writable('refresh');
    const archiveDir = this.#o.archiveDir;
    if (!archiveDir)
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: option "archiveDir" is required for refresh()`);
    // a compaction may replace a partition's files between the listing and the load: the refresh is one
    // transaction, so it is rolled back and run again on a fresh listing
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#refreshOnce(archiveDir, o);
      } catch (err) {
        if (attempt < 3 && /No files found|No such file|Cannot open file/i.test((err as Error).message)) continue;
        if (err instanceof EdgeloopError) throw err;
        throw new EdgeloopError(
          'EL_ERR_WAREHOUSE_REFRESH',
          `${C}: refresh failed (nothing changed): ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }

  async #refreshOnce(
    archiveDir: string,
    o: { full?: boolean; reaggregate?: { from: number; to: number } },
  ): Promise<RefreshResult> {
    const conn = this.connection;
    const refreshId = Number((await this.meta('refresh_id')) ?? 0) + 1;
    const phases: Record<RefreshPhase, number> = { load: 0, dimDevice: 0, aggregate: 0, dimensions: 0, checks: 0 };
    let mark = performance.now();
    const lap = (phase: RefreshPhase): void => {
      const now = performance.now();
      phases[phase] += now - mark;
      mark = now;
    };
    await conn.run('BEGIN TRANSACTION');
    try {
      if (o.full) {
        for (const t of [
          'wh_partitions',
          ...Object.values(FACT_TABLES),
          'dim_device',
          'agg_sensor_hourly',
          'agg_sensor_daily',
          'agg_health_hourly',
          'agg_health_daily',
        ])
          await conn.run(`DELETE FROM ${t}`);
      }
      await conn.run('CREATE OR REPLACE TEMP TABLE touched_hours (hour TIMESTAMPTZ PRIMARY KEY)');
      const plan = await this.#plan(archiveDir);
      for (const key of plan.remove) await this.#removePartition(key);
      // the SCD2 sources first: the facts are keyed to the versions as they are loaded
      const sources = plan.load.filter((p) => !isFact(p.table));
      const facts = plan.load.filter((p) => isFact(p.table));
      for (const p of sources) await this.#loadPartition(p);
      lap('load');
      const devicesChanged = await rebuildDimDevice({
        conn,
        rows: (sql) => this.rows(sql),
        pending: facts.flatMap((p) => p.files),
        replaced: [...facts, ...plan.remove.map(splitKey)]
          .filter((p) => isFact(p.table))
          .map((p) => ({ table: FACT_TABLES[p.table] as 'fact_reading' | 'fact_event', partition: p.partition })),
      });
      lap('dimDevice');
      for (const p of facts) await this.#loadPartition(p);
      lap('load');
      // a backfill (cloud/batch/) asks for every hour of its range again, changed or not
      if (o.reaggregate)
        await conn.run(
          `INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM fact_reading WHERE hour >= make_timestamptz(${Math.round(o.reaggregate.from) * 1000}::BIGINT) AND hour < make_timestamptz(${Math.round(o.reaggregate.to) * 1000}::BIGINT)`,
        );
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE touched_days AS SELECT DISTINCT ${dateKeyOf('hour')} AS date_key FROM touched_hours`,
      );
      for (const sql of aggregateStatements()) await conn.run(sql);
      const hours = Number(await this.#scalar('SELECT count(DISTINCT hour) FROM agg_dv'));
      const days = Number(await this.#scalar('SELECT count(*) FROM touched_days'));
      for (const t of [...AGGREGATE_TEMP_TABLES, 'touched_days']) await conn.run(`DROP TABLE ${t}`);
      lap('aggregate');
      await rebuildDimModel(conn, this.#o.registryDb);
      await rebuildDimDate(conn);
      await this.#setMeta('refresh_id', String(refreshId));
      await this.#setMeta('refreshed_at', new Date(this.#clock.now()).toISOString());
      await conn.run('COMMIT');
      await featureViews(conn, this.#o.offlineDir);
      lap('dimensions');
      const checks = await this.check(refreshId);
      lap('checks');
      return {
        refreshId,
        partitionsLoaded: plan.load.length,
        partitionsRemoved: plan.remove.length,
        devicesChanged,
        hoursAggregated: hours,
        daysAggregated: days,
        checks,
        phases,
      };
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** Run the data-quality checks and keep their results in dq_results under `refreshId` (default: the last refresh). */
  async check(refreshId?: number): Promise<CheckResult[]> {
    this.#writable('check');
    const id = refreshId ?? Number((await this.meta('refresh_id')) ?? 0);
    const dedup =
      this.#o.dedupDb && existsSync(this.#o.dedupDb)
        ? readSqlite(this.#o.dedupDb, 'SELECT device_id, intervals FROM dedup_state')
        : undefined;
    const results = await runChecks(this, {
      ...this.#o.checks,
      now: this.#clock.now(),
      ingestIntervals: dedup as { device_id: string; intervals: string }[] | undefined,
    });
    const at = new Date(this.#clock.now()).toISOString();
    for (const r of results) {
      await this.connection.run(
        `INSERT INTO dq_results VALUES (${id}, ${sqlString(at)}::TIMESTAMPTZ, ${sqlString(r.name)}, ${sqlString(r.status)}, ${r.observed ?? 'NULL'}, ${sqlString(r.detail)})`,
      );
    }
    return results;
  }

  /** What changed in the archive since the last refresh: partitions to (re)load, and partitions gone from it. */
  async #plan(dir: string): Promise<{ load: ArchivePartition[]; remove: string[] }> {
    const known = new Map(
      (await this.rows('SELECT archive_table, partition, files FROM wh_partitions')).map((r) => [
        `${r.archive_table}/${r.partition}`,
        r.files as string,
      ]),
    );
    // signature: the file names and sizes a partition was loaded from (a compaction changes it, not the rows)
    const current = new Map<string, ArchivePartition>();
    for (const p of await listPartitions(dir)) {
      if (p.files.length === 0) continue;
      const { table, partition } = splitKey(p.partition);
      current.set(p.partition, {
        table,
        partition,
        files: p.files.map((f) => join(dir, f.path)),
        signature: p.files.map((f) => `${f.path.slice(p.partition.length + 1)}:${f.bytes}`).join(','),
      });
    }
    return {
      load: [...current.entries()].filter(([key, p]) => known.get(key) !== p.signature).map(([, p]) => p),
      remove: [...known.keys()].filter((key) => !current.has(key)),
    };
  }

  async #removePartition(key: string): Promise<void> {
    const { table, partition } = splitKey(key);
    const target = FACT_TABLES[table];
    await this.#touchPartition(target, partition);
    await this.connection.run(`DELETE FROM ${target} WHERE partition = ${sqlString(partition)}`);
    await this.connection.run(
      `DELETE FROM wh_partitions WHERE archive_table = ${sqlString(table)} AND partition = ${sqlString(partition)}`,
    );
  }

  /** Mark a partition's hour for re-aggregation: the archive partitions by the UTC hour of ts (archive-tables.ts). */
  async #touchPartition(target: string, partition: string): Promise<void> {
    const start = partitionStart(partition);
    await this.connection.run(
      start === undefined
        ? `INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM ${target} WHERE partition = ${sqlString(partition)}`
        : `INSERT OR IGNORE INTO touched_hours VALUES (make_timestamptz(${start * 1000}::BIGINT))`,
    );
  }

  /** Replace a partition's rows with its files' rows; readings and events get the device version valid at their ts. */
  async #loadPartition(p: ArchivePartition): Promise<void> {
    const conn = this.connection;
    const target = FACT_TABLES[p.table];
    const cols = LOAD_COLUMNS[p.table];
    const list = `[${p.files.map(sqlString).join(', ')}]`;
    await this.#touchPartition(target, p.partition);
    await conn.run(`DELETE FROM ${target} WHERE partition = ${sqlString(p.partition)}`);
    const source = `(SELECT ${cols} FROM read_parquet(${list})) f`;
    const fCols = cols
      .split(', ')
      .map((c) => `f.${c}`)
      .join(', ');
    await conn.run(
      isFact(p.table)
        ? `INSERT INTO ${target} (${cols}, device_key, partition, hour, date_key, time_key)
           SELECT ${fCols}, ${DEVICE_KEY_AT_TS}, ${sqlString(p.partition)}, ${timeKeys('f.ts', partitionStart(p.partition))}
           FROM ${source} ${DEVICE_VERSION_AT_TS}`
        : `INSERT INTO ${target} (${cols}, partition, hour, date_key, time_key)
           SELECT ${fCols}, ${sqlString(p.partition)}, ${timeKeys('f.ts', partitionStart(p.partition))} FROM ${source}`,
    );
    await conn.run(
      `INSERT OR REPLACE INTO wh_partitions VALUES (${sqlString(p.table)}, ${sqlString(p.partition)}, ${sqlString(p.signature)})`,
    );
  }

  close(): void {
    this.#conn?.closeSync();
    this.#conn = undefined;
    this.#instance?.closeSync();
    this.#instance = undefined;
  }
}

interface ArchivePartition {
  table: ArchiveTableName;
  partition: string;
  files: string[];
  signature: string;
}

/** readings and events: the facts keyed to a device version (status and model reports are the SCD2 sources) */
function isFact(table: ArchiveTableName): boolean {
  return table === 'readings' || table === 'events';
}

function splitKey(key: string): { table: ArchiveTableName; partition: string } {
  const [table, ...rest] = key.split('/');
  return { table: table as ArchiveTableName, partition: rest.join('/') };
}
