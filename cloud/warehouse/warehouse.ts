/**
 * Warehouse: the fleet warehouse in one DuckDB file, built from the raw archive (cloud/archive/) by refresh().
 * Tables in schema.ts; dim_device is SCD Type 2 (scd2.ts); checks in checks.ts; named reports in reports.ts.
 *
 * refresh() is incremental and idempotent:
 *   1. the archive's committed files are listed per table and hour partition; a partition whose file list (names
 *      and sizes) differs from the one it was loaded from is reloaded whole (delete its rows, insert from its
 *      files); a compaction changes the list but not the rows, so a reload changes nothing;
 *   2. dim_device is rebuilt from every status and 'active' model report; for a device whose versions changed
 *      (a late status), its facts from the first changed version on are re-keyed to the version valid at their ts;
 *   3. the hours touched (reloaded partitions, re-keyed facts) and their days are re-aggregated from the facts,
 *      at every level: device, site, model version;
 *   4. dim_model (registry), dim_date, the fact_feature view, then the data-quality checks (results in dq_results).
 * A rerun with nothing new touches nothing; refresh({ full: true }) rebuilds everything and gives the same rows
 * (aggregates are computed in a fixed order, so even floating-point means are identical).
 *
 * One writer at a time (DuckDB locks the file); readers open it with `readOnly` (the query surface).
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { ARCHIVE_TABLE_NAMES, type ArchiveTableName } from '../archive/archive-tables.ts';
import { micros, sqlString } from '../feature-store/parquet-offline-store.ts';
import { checkKnownOptions, stringOption } from '../stream/options.ts';
import { runChecks, type CheckOptions, type CheckResult } from './checks.ts';
import { AGG_LEVELS, FACT_TABLES, SCHEMA_SQL, timeKeys, WAREHOUSE_SCHEMA_VERSION } from './schema.ts';
import { buildDeviceVersions, type DeviceObservation, type DeviceVersion } from './scd2.ts';
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
}

const KNOWN = [
  'path',
  'archiveDir',
  'offlineDir',
  'registryDb',
  'dedupDb',
  'readOnly',
  'checks',
  'threads',
  'clock',
] as const;
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
    checkKnownOptions(C, opts, KNOWN);
    const path = stringOption(C, 'path', opts.path, '');
    if (path === '') throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: option "path" is required`);
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
    const conn = this.connection;
    const refreshId = Number((await this.meta('refresh_id')) ?? 0) + 1;
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
      const { loaded, removed } = await this.#loadPartitions(archiveDir);
      const devicesChanged = await this.#rebuildDimDevice();
      // a backfill (cloud/batch/) asks for every hour of its range again, changed or not
      if (o.reaggregate)
        await conn.run(
          `INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM fact_reading WHERE hour >= make_timestamptz(${Math.round(o.reaggregate.from) * 1000}::BIGINT) AND hour < make_timestamptz(${Math.round(o.reaggregate.to) * 1000}::BIGINT)`,
        );
      const hours = Number(await this.#scalar('SELECT count(*) FROM touched_hours'));
      const days = Number(await this.#scalar('SELECT count(DISTINCT CAST(hour AS DATE)) FROM touched_hours'));
      await this.#aggregate();
      await this.#rebuildDimModel();
      await conn.run(`DELETE FROM dim_date`);
      await conn.run(`INSERT INTO dim_date SELECT CAST(strftime(d, '%Y%m%d') AS INTEGER), CAST(d AS DATE), year(d), month(d), day(d), isodow(d), weekofyear(d)
        FROM (SELECT unnest(generate_series(CAST(min(ts) AS DATE), CAST(max(ts) AS DATE), INTERVAL 1 DAY)) AS d FROM fact_reading HAVING count(*) > 0)`);
      await this.#setMeta('refresh_id', String(refreshId));
      await this.#setMeta('refreshed_at', new Date(this.#clock.now()).toISOString());
      await conn.run('COMMIT');
      await this.#featureView();
      const checks = await this.check(refreshId);
      return {
        refreshId,
        partitionsLoaded: loaded,
        partitionsRemoved: removed,
        devicesChanged,
        hoursAggregated: hours,
        daysAggregated: days,
        checks,
      };
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      if (err instanceof EdgeloopError) throw err;
      throw new EdgeloopError(
        'EL_ERR_WAREHOUSE_REFRESH',
        `${C}: refresh failed (nothing changed): ${(err as Error).message}`,
        { cause: err },
      );
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

  /** Committed archive files per table and partition (`date=…/hour=…`), as `name:size` lists. */
  async #archivePartitions(
    dir: string,
  ): Promise<Map<string, { table: ArchiveTableName; partition: string; files: string[]; signature: string }>> {
    const out = new Map<string, { table: ArchiveTableName; partition: string; files: string[]; signature: string }>();
    for (const table of ARCHIVE_TABLE_NAMES) {
      for (const d of await readdir(join(dir, table)).catch(() => [] as string[])) {
        if (!d.startsWith('date=')) continue;
        for (const h of await readdir(join(dir, table, d)).catch(() => [] as string[])) {
          if (!h.startsWith('hour=')) continue;
          const files: string[] = [];
          const sig: string[] = [];
          for (const f of (await readdir(join(dir, table, d, h)).catch(() => [] as string[])).sort()) {
            if (!f.startsWith('part-') || !f.endsWith('.parquet')) continue;
            const size = await stat(join(dir, table, d, h, f)).then(
              (s) => s.size,
              () => undefined,
            );
            if (size === undefined) continue;
            files.push(join(dir, table, d, h, f));
            sig.push(`${f}:${size}`);
          }
          if (files.length > 0)
            out.set(`${table}/${d}/${h}`, { table, partition: `${d}/${h}`, files, signature: sig.join(',') });
        }
      }
    }
    return out;
  }

  async #loadPartitions(dir: string): Promise<{ loaded: number; removed: number }> {
    const conn = this.connection;
    const known = new Map(
      (await this.rows('SELECT archive_table, partition, files FROM wh_partitions')).map((r) => [
        `${r.archive_table}/${r.partition}`,
        r.files as string,
      ]),
    );
    let loaded = 0;
    let removed = 0;
    // a compaction may replace files while they are listed: list again and retry the partition
    for (let attempt = 1; ; attempt++) {
      const current = await this.#archivePartitions(dir);
      try {
        for (const [key, p] of current) {
          if (known.get(key) === p.signature) continue;
          await this.#loadPartition(p.table, p.partition, p.files);
          await conn.run(
            `INSERT OR REPLACE INTO wh_partitions VALUES (${sqlString(p.table)}, ${sqlString(p.partition)}, ${sqlString(p.signature)})`,
          );
          known.set(key, p.signature);
          loaded++;
        }
      } catch (err) {
        if (attempt < 3 && /No files found|No such file|Cannot open file/i.test((err as Error).message)) continue;
        throw err;
      }
      for (const key of [...known.keys()]) {
        if (current.has(key)) continue;
        const [table, ...rest] = key.split('/');
        const partition = rest.join('/');
        await this.#touchPartition(FACT_TABLES[table as ArchiveTableName], partition);
        await conn.run(
          `DELETE FROM ${FACT_TABLES[table as ArchiveTableName]} WHERE partition = ${sqlString(partition)}`,
        );
        await conn.run(
          `DELETE FROM wh_partitions WHERE archive_table = ${sqlString(table!)} AND partition = ${sqlString(partition)}`,
        );
        known.delete(key);
        removed++;
      }
      return { loaded, removed };
    }
  }

  async #touchPartition(target: string, partition: string): Promise<void> {
    await this.connection.run(
      `INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM ${target} WHERE partition = ${sqlString(partition)}`,
    );
  }

  async #loadPartition(table: ArchiveTableName, partition: string, files: string[]): Promise<void> {
    const conn = this.connection;
    const target = FACT_TABLES[table];
    const cols = LOAD_COLUMNS[table];
    const list = `[${files.map(sqlString).join(', ')}]`;
    const keyed = table === 'readings' || table === 'events';
    await this.#touchPartition(target, partition);
    await conn.run(`DELETE FROM ${target} WHERE partition = ${sqlString(partition)}`);
    await conn.run(
      `INSERT INTO ${target} (${cols}${keyed ? ', device_key' : ''}, partition, hour, date_key, time_key)
       SELECT ${cols}${keyed ? ', NULL' : ''}, ${sqlString(partition)}, ${timeKeys('ts')} FROM read_parquet(${list})`,
    );
    await this.#touchPartition(target, partition);
  }

  async #rebuildDimDevice(): Promise<number> {
    const conn = this.connection;
    const obs: DeviceObservation[] = [];
    for (const r of await this.rows(
      `SELECT device_id, epoch_ms(ts) AS t, seq, agent_version, model_name, model_version, site, hardware, config_hash FROM stg_status`,
    )) {
      const attrs: DeviceObservation['attrs'] = {};
      if (r.agent_version !== null) attrs.agentVersion = r.agent_version as string;
      if (r.model_name !== null) {
        attrs.modelName = r.model_name as string;
        attrs.modelVersion = r.model_version as string;
      }
      if (r.site !== null) attrs.site = r.site as string;
      if (r.hardware !== null) attrs.hardware = r.hardware as string;
      if (r.config_hash !== null) attrs.configHash = r.config_hash as string;
      obs.push({ deviceId: r.device_id as string, ts: Number(r.t), seq: Number(r.seq), attrs });
    }
    for (const r of await this.rows(
      `SELECT device_id, epoch_ms(ts) AS t, seq, model, version FROM stg_model_report WHERE state = 'active'`,
    )) {
      obs.push({
        deviceId: r.device_id as string,
        ts: Number(r.t),
        seq: Number(r.seq),
        attrs: { modelName: r.model as string, modelVersion: r.version as string },
      });
    }
    const seen = new Map<string, number>();
    for (const r of await this.rows(
      `SELECT device_id, epoch_ms(min(ts)) AS t FROM (SELECT device_id, ts FROM fact_reading UNION ALL SELECT device_id, ts FROM fact_event) GROUP BY device_id`,
    )) {
      seen.set(r.device_id as string, Number(r.t));
    }
    const next = buildDeviceVersions(obs, seen);
    const before = groupVersions(
      (
        await this.rows(
          'SELECT device_key, device_id, version, epoch_ms(valid_from) AS vf, epoch_ms(valid_to) AS vt, site, hardware, agent_version, model_name, model_version, config_hash FROM dim_device',
        )
      ).map(
        (r) =>
          ({
            deviceKey: r.device_key,
            deviceId: r.device_id,
            version: r.version,
            validFrom: Number(r.vf),
            validTo: r.vt === null ? null : Number(r.vt),
            isCurrent: r.vt === null,
            site: r.site,
            hardware: r.hardware,
            agentVersion: r.agent_version,
            modelName: r.model_name,
            modelVersion: r.model_version,
            configHash: r.config_hash,
          }) as DeviceVersion,
      ),
    );
    const after = groupVersions(next);
    await conn.run('CREATE OR REPLACE TEMP TABLE rekey (device_id VARCHAR PRIMARY KEY, from_ts TIMESTAMPTZ)');
    let changed = 0;
    for (const [id, versions] of after) {
      const from = firstDifference(before.get(id) ?? [], versions);
      if (from === undefined) continue;
      changed++;
      await conn.run(
        `INSERT INTO rekey VALUES (${sqlString(id)}, make_timestamptz(${Math.round(from * 1000)}::BIGINT))`,
      );
    }
    await conn.run('DELETE FROM dim_device');
    const app = await conn.createAppender('dim_device');
    const s = (v: string | null): void => (v === null ? app.appendNull() : app.appendVarchar(v));
    for (const v of next) {
      app.appendVarchar(v.deviceKey);
      app.appendVarchar(v.deviceId);
      app.appendInteger(v.version);
      s(v.site);
      s(v.hardware);
      s(v.agentVersion);
      s(v.modelName);
      s(v.modelVersion);
      s(v.configHash);
      app.appendTimestampTZ(micros(v.validFrom));
      if (v.validTo === null) app.appendNull();
      else app.appendTimestampTZ(micros(v.validTo));
      app.appendBoolean(v.isCurrent);
      app.endRow();
    }
    app.closeSync();
    for (const t of ['fact_reading', 'fact_event']) {
      const stale = `(${t}.device_key IS NULL OR EXISTS (SELECT 1 FROM rekey r WHERE r.device_id = ${t}.device_id AND ${t}.ts >= r.from_ts))`;
      await conn.run(`INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM ${t} WHERE ${stale}`);
      await conn.run(
        `UPDATE ${t} SET device_key = d.device_key FROM dim_device d
         WHERE d.device_id = ${t}.device_id AND ${t}.ts >= d.valid_from AND (d.valid_to IS NULL OR ${t}.ts < d.valid_to) AND ${stale}`,
      );
    }
    return changed;
  }

  async #aggregate(): Promise<void> {
    const conn = this.connection;
    for (const [period, col, minutes] of [
      ['hourly', 'hour', 60],
      ['daily', 'day', 1440],
    ] as const) {
      const periodExpr = period === 'hourly' ? 'f.hour' : 'CAST(f.hour AS DATE)';
      const scope =
        period === 'hourly'
          ? 'f.hour IN (SELECT hour FROM touched_hours)'
          : 'CAST(f.hour AS DATE) IN (SELECT DISTINCT CAST(hour AS DATE) FROM touched_hours)';
      const mine =
        period === 'hourly'
          ? 'hour IN (SELECT hour FROM touched_hours)'
          : 'day IN (SELECT DISTINCT CAST(hour AS DATE) FROM touched_hours)';
      await conn.run(`DELETE FROM agg_sensor_${period} WHERE ${mine}`);
      await conn.run(`DELETE FROM agg_health_${period} WHERE ${mine}`);
      const sensor = Object.entries(AGG_LEVELS).map(
        ([level, member]) =>
          `SELECT '${level}' AS level, ${member} AS member, ${periodExpr} AS ${col}, f.sensor, count(*) AS readings,
             avg(f.value ORDER BY f.device_id, f.seq) AS mean_value, min(f.value) AS min_value, max(f.value) AS max_value,
             quantile_disc(f.value, 0.95) AS p95_value
           FROM fact_reading f LEFT JOIN dim_device d ON d.device_key = f.device_key WHERE ${scope} GROUP BY ALL`,
      );
      await conn.run(`INSERT INTO agg_sensor_${period} SELECT * FROM (${sensor.join(' UNION ALL ')}) ORDER BY ALL`);
      // per device version and period: counts, active minutes, seqs received out of the seq range seen
      const base = `WITH u AS (
          SELECT f.device_id, f.device_key, ${periodExpr} AS p, f.seq, date_trunc('minute', f.ts) AS minute, 1 AS r, 0 AS e, 0 AS a FROM fact_reading f WHERE ${scope}
          UNION ALL
          SELECT f.device_id, f.device_key, ${periodExpr}, f.seq, NULL, 0, 1, CASE WHEN f.kind = 'anomaly' THEN 1 ELSE 0 END FROM fact_event f WHERE ${scope}
        ), dv AS (
          SELECT device_id, device_key, p, sum(r) AS readings, sum(e) AS events, sum(a) AS anomalies, count(DISTINCT minute) AS active_minutes,
                 count(DISTINCT seq) AS received, max(seq) - min(seq) + 1 AS expected
          FROM u GROUP BY ALL
        )`;
      const health = Object.entries(AGG_LEVELS).map(
        ([level, member]) =>
          `SELECT '${level}' AS level, ${member.replace('f.', 'dv.')} AS member, dv.p AS ${col}, count(DISTINCT dv.device_id) AS devices,
             sum(dv.readings) AS readings, sum(dv.events) AS events, sum(dv.anomalies) AS anomalies,
             CASE WHEN sum(dv.readings) > 0 THEN sum(dv.anomalies) / sum(dv.readings) END AS anomaly_rate,
             sum(dv.active_minutes) / (count(DISTINCT dv.device_id) * ${minutes}.0) AS uptime,
             sum(dv.received) / sum(dv.expected) AS completeness
           FROM dv LEFT JOIN dim_device d ON d.device_key = dv.device_key GROUP BY ALL`,
      );
      await conn.run(
        `INSERT INTO agg_health_${period} ${base} SELECT * FROM (${health.join(' UNION ALL ')}) ORDER BY ALL`,
      );
    }
  }

  async #rebuildDimModel(): Promise<void> {
    const conn = this.connection;
    await conn.run('DELETE FROM dim_model');
    const reg =
      this.#o.registryDb && existsSync(this.#o.registryDb)
        ? readSqlite(
            this.#o.registryDb,
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

  async #featureView(): Promise<void> {
    const dir = this.#o.offlineDir && join(this.#o.offlineDir, 'device_features');
    const has = dir
      ? (await readdir(dir, { recursive: true }).catch(() => [] as string[])).some((f) =>
          /(^|\/)part-[^/]*\.parquet$/.test(String(f)),
        )
      : false;
    if (has)
      await this.connection.run(
        `CREATE OR REPLACE VIEW fact_feature AS SELECT * FROM read_parquet(${sqlString(`${dir}/*/*.parquet`)}, hive_partitioning = true, union_by_name = true)`,
      );
    // the window features a backfill recomputed (cloud/batch/backfill.ts), group device_windows
    const windows = this.#o.offlineDir && join(this.#o.offlineDir, 'device_windows');
    const hasWindows = windows
      ? (await readdir(windows, { recursive: true }).catch(() => [] as string[])).some((f) =>
          /(^|\/)part-[^/]*\.parquet$/.test(String(f)),
        )
      : false;
    if (hasWindows)
      await this.connection.run(
        `CREATE OR REPLACE VIEW fact_window AS SELECT * FROM read_parquet(${sqlString(`${windows}/*/*.parquet`)}, hive_partitioning = true, union_by_name = true)`,
      );
  }

  close(): void {
    this.#conn?.closeSync();
    this.#conn = undefined;
    this.#instance?.closeSync();
    this.#instance = undefined;
  }
}

function groupVersions(vs: Iterable<DeviceVersion>): Map<string, DeviceVersion[]> {
  const m = new Map<string, DeviceVersion[]>();
  for (const v of vs) {
    const l = m.get(v.deviceId);
    if (l) l.push(v);
    else m.set(v.deviceId, [v]);
  }
  for (const l of m.values()) l.sort((a, b) => a.version - b.version);
  return m;
}

const ATTRS = [
  'validFrom',
  'validTo',
  'site',
  'hardware',
  'agentVersion',
  'modelName',
  'modelVersion',
  'configHash',
] as const;

/** The earliest instant from which two version lists of a device differ; undefined when they are equal. */
export function firstDifference(a: readonly DeviceVersion[], b: readonly DeviceVersion[]): number | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x && y && ATTRS.every((k) => x[k] === y[k])) continue;
    return Math.min(x?.validFrom ?? Infinity, y?.validFrom ?? Infinity);
  }
  return undefined;
}
