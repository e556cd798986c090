/**
 * The task bodies of the daily batch DAG (daily-dag.ts runs them in order, with retries and the run log): the
 * archive compaction, the warehouse refresh, the data-quality checks, the retraining dataset of normal windows and
 * the publication of the warehouse tables as Hive-partitioned Parquet. Each returns its TaskOutcome (rows, bytes,
 * a line of detail) and writes its files through a temporary file, fsynced and renamed.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { callback, requiredString } from '../../lib/options.ts';
import { RawArchiveTuningSchema } from '../archive/raw-archive-options.ts';
import type { Clock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { fsyncPath } from '../feature-store/parquet-commit.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import type { FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import type { CheckOptions } from '../warehouse/checks.ts';
import { atScaleTables } from './athena.ts';
import { readingFiles } from './backfill.ts';
import { DAY_MS, HOUR_MS, utcDate } from './backfill-plan.ts';
import { compactArchive } from './compact-archive.ts';
import type { TaskOutcome } from './dag.ts';
import { featureColumns, lookbackMs, windowFeatureSql, windowFeatureSpec } from './window-features.ts';

/** What the tasks read of the DAG's options: the part of DailyDag's schema (daily-dag.ts) they use. */
export const DailyTaskOptionsSchema = z.strictObject({
  archiveDir: requiredString('a directory'),
  warehousePath: requiredString('a file path'),
  /** retraining datasets root (`<dataDir>/datasets`) */
  datasetsDir: requiredString('a directory'),
  /** Hive-partitioned warehouse tables for Athena (`<dataDir>/published`) */
  publishDir: requiredString('a directory'),
  offlineDir: z.string().optional(),
  registryDb: z.string().optional(),
  dedupDb: z.string().optional(),
  /** the processor's aggregation options: the dataset's windows (checked by the aggregator) */
  aggregation: z.custom<FeatureAggregatorOptions>().optional(),
  /** data-quality checks; default: freshness off (a daily run looks at a past day) */
  checks: z.custom<CheckOptions>((v) => typeof v === 'object' && v !== null).optional(),
  /** archive compaction settings (the archive's config; the archive's defaults) */
  archive: RawArchiveTuningSchema.pick({ targetFileBytes: true, compactSettleMs: true }).prefault({}),
  /** compaction done by someone else (the running archive): replaces the built-in one */
  compact: callback<() => Promise<TaskOutcome>>().optional(),
});

export type DailyTaskOptions = z.input<typeof DailyTaskOptionsSchema>;

export class DailyTasks {
  readonly #o: z.output<typeof DailyTaskOptionsSchema>;
  readonly #clock: Clock;

  constructor(o: z.output<typeof DailyTaskOptionsSchema>, clock: Clock) {
    this.#o = o;
    this.#clock = clock;
  }

  /** compact: the raw archive's small files of settled hours merged, or the running archive's own compaction */
  async compact(conn: DuckDBConnection): Promise<TaskOutcome> {
    if (this.#o.compact) return this.#o.compact();
    const r = await compactArchive(conn, this.#o.archiveDir, {
      now: this.#clock.now(),
      settleMs: this.#o.archive.compactSettleMs,
      targetBytes: this.#o.archive.targetFileBytes,
    });
    return { rows: r.filesMerged, bytes: r.bytes, detail: `${r.filesMerged} files merged into ${r.groups}` };
  }

  async #warehouse(readOnly = false) {
    const { Warehouse } = await import('../warehouse/warehouse.ts');
    return Warehouse.open({
      path: this.#o.warehousePath,
      archiveDir: this.#o.archiveDir,
      ...(this.#o.offlineDir ? { offlineDir: this.#o.offlineDir } : {}),
      ...(this.#o.registryDb ? { registryDb: this.#o.registryDb } : {}),
      ...(this.#o.dedupDb ? { dedupDb: this.#o.dedupDb } : {}),
      checks: { maxStalenessMs: null, ...this.#o.checks },
      readOnly,
      clock: this.#clock,
    });
  }

  /** refresh: the warehouse refresh; rows = the day's readings in the warehouse */
  async refresh(day: number): Promise<TaskOutcome> {
    const wh = await this.#warehouse();
    try {
      const r = await wh.refresh();
      const n = await wh.rows(
        `SELECT count(*) AS n FROM fact_reading WHERE ts >= make_timestamptz(${day * 1000}::BIGINT) AND ts < make_timestamptz(${(day + DAY_MS) * 1000}::BIGINT)`,
      );
      return {
        rows: Number(n[0]?.n ?? 0),
        bytes: (await stat(this.#o.warehousePath)).size,
        detail: `refresh #${r.refreshId}: ${r.partitionsLoaded} partitions loaded, ${r.hoursAggregated} hours re-aggregated`,
      };
    } finally {
      wh.close();
    }
  }

  /** checks: the data-quality checks; a failure throws EL_ERR_WAREHOUSE_CHECK_FAILED */
  async checks(): Promise<TaskOutcome> {
    const { formatChecks } = await import('../warehouse/checks.ts');
    const wh = await this.#warehouse();
    try {
      const checks = await wh.check();
      const failed = checks.filter((c) => c.status === 'fail');
      if (failed.length > 0)
        throw new EdgeloopError(
          'EL_ERR_WAREHOUSE_CHECK_FAILED',
          `${failed.length} check(s) failed: ${formatChecks(failed).replace(/\n/g, '; ')}`,
        );
      return { rows: checks.length, detail: `${checks.filter((c) => c.status === 'pass').length} checks passed` };
    } finally {
      wh.close();
    }
  }

  /** export-dataset: the day's normal windows and their `_manifest.json`, written last */
  async exportDataset(conn: DuckDBConnection, day: number): Promise<TaskOutcome> {
    const spec = windowFeatureSpec(this.#o.aggregation);
    const date = utcDate(day);
    const dir = join(this.#o.datasetsDir, 'normal_windows', `date=${date}`);
    await mkdir(dir, { recursive: true });
    await rm(join(dir, '_manifest.json'), { force: true });
    const files = await readingFiles(this.#o.archiveDir, day - lookbackMs(spec), day + DAY_MS);
    const out = join(dir, 'part-0.parquet');
    if (files.length === 0) {
      await rm(out, { force: true });
      await this.#manifest(dir, { date, rows: 0, excluded: 0, windows: spec.windows, columns: [] });
      return { rows: 0, bytes: 0, detail: 'no readings that day' };
    }
    const list = `[${files.map(sqlString).join(', ')}]`;
    const sensors = (
      await (
        await conn.runAndReadAll(
          `SELECT DISTINCT sensor FROM read_parquet(${list}) WHERE ts >= make_timestamptz(${day * 1000}::BIGINT) AND ts < make_timestamptz(${(day + DAY_MS) * 1000}::BIGINT) ORDER BY 1`,
        )
      ).getRowObjectsJS()
    ).map((r) => String(r.sensor));
    const kw = await conn.runAndReadAll(
      "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'",
    );
    const columns = featureColumns(
      spec,
      sensors,
      new Set(kw.getRowObjectsJS().map((r) => String(r.keyword_name).toLowerCase())),
    );
    const sql = windowFeatureSql(spec, { files, from: day, to: day + DAY_MS, columns, writeTime: this.#clock.now() });
    const eventFiles = await archiveFiles(this.#o.archiveDir, 'events', day - lookbackMs(spec), day + DAY_MS);
    const size = lookbackMs(spec);
    const normal =
      eventFiles.length === 0
        ? `SELECT * EXCLUDE (write_time) FROM (${sql})`
        : `SELECT w.* EXCLUDE (write_time) FROM (${sql}) w WHERE NOT EXISTS (SELECT 1 FROM read_parquet([${eventFiles.map(sqlString).join(', ')}]) e
           WHERE e.device_id = w.entity_id AND e.ts >= w.event_time - to_milliseconds(${size}) AND e.ts < w.event_time)`;
    const tmp = join(dir, '.part-0.parquet.tmp');
    const res = await conn.run(`COPY (${normal}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    await fsyncPath(tmp);
    await rename(tmp, out);
    const all = await conn.runAndReadAll(`SELECT count(*) AS n FROM (${sql})`);
    const rows = Number(res.rowsChanged);
    const excluded = Number(all.getRowObjectsJS()[0]!.n) - rows;
    await this.#manifest(dir, { date, rows, excluded, windows: spec.windows, columns: columns.map((c) => c.column) });
    return {
      rows,
      bytes: (await stat(out)).size,
      detail: `${rows} normal windows (${excluded} with an anomaly left out)`,
    };
  }

  async #manifest(
    dir: string,
    m: { date: string; rows: number; excluded: number; windows: unknown; columns: string[] },
  ): Promise<void> {
    const doc = {
      format: 1,
      dataset: 'normal_windows',
      date: m.date,
      rows: m.rows,
      excludedWindows: m.excluded,
      windows: m.windows,
      key: ['entity_id', 'event_time'],
      featureColumns: m.columns,
      files: m.rows > 0 ? ['part-0.parquet'] : [],
      createdAt: new Date(this.#clock.now()).toISOString(),
    };
    const tmp = join(dir, '._manifest.json.tmp');
    await writeFile(tmp, `${JSON.stringify(doc, null, 1)}\n`);
    await fsyncPath(tmp);
    await rename(tmp, join(dir, '_manifest.json'));
  }

  /** publish: the day's facts and aggregates and the dimensions as Hive-partitioned Parquet */
  async publish(day: number): Promise<TaskOutcome> {
    const wh = await this.#warehouse(true);
    const date = utcDate(day);
    let rows = 0;
    let bytes = 0;
    const write = async (sql: string, dir: string): Promise<void> => {
      await mkdir(dir, { recursive: true });
      const out = join(dir, 'part-0.parquet');
      const tmp = join(dir, '.part-0.parquet.tmp');
      const n = Number((await wh.rows(`SELECT count(*) AS n FROM (${sql})`))[0]?.n ?? 0);
      if (n === 0) {
        await rm(out, { force: true });
        return;
      }
      await wh.connection.run(`COPY (${sql}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
      await fsyncPath(tmp);
      await rename(tmp, out);
      rows += n;
      bytes += (await stat(out)).size;
    };
    const ts = (ms: number): string => `make_timestamptz(${ms * 1000}::BIGINT)`;
    try {
      for (const t of atScaleTables()) {
        if (!t.source) continue;
        const cols = t.columns.map((c) => c.name).join(', ');
        const base = join(this.#o.publishDir, t.name);
        if (t.partitions.includes('hour')) {
          for (let h = day; h < day + DAY_MS; h += HOUR_MS)
            await write(
              `SELECT ${cols} FROM ${t.source} WHERE hour = ${ts(h)} ORDER BY device_id, seq`,
              join(base, `date=${date}`, `hour=${new Date(h).toISOString().slice(11, 13)}`),
            );
        } else if (t.partitions.includes('date')) {
          const where = t.columns.some((c) => c.name === 'day')
            ? `day = DATE '${date}'`
            : `hour >= ${ts(day)} AND hour < ${ts(day + DAY_MS)}`;
          await write(`SELECT ${cols} FROM ${t.source} WHERE ${where} ORDER BY ALL`, join(base, `date=${date}`));
        } else await write(`SELECT ${cols} FROM ${t.source} ORDER BY ALL`, base);
      }
    } finally {
      wh.close();
    }
    return { rows, bytes, detail: `${date} published to ${this.#o.publishDir}` };
  }
}

/** Files of an archive table whose hour partition overlaps [from, to). */
async function archiveFiles(archiveDir: string, table: string, from: number, to: number): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const out: string[] = [];
  for (let h = Math.floor(from / HOUR_MS) * HOUR_MS; h < to; h += HOUR_MS) {
    const iso = new Date(h).toISOString();
    const dir = join(archiveDir, table, `date=${iso.slice(0, 10)}`, `hour=${iso.slice(11, 13)}`);
    for (const f of (await readdir(dir).catch(() => [] as string[])).sort())
      if (f.startsWith('part-') && f.endsWith('.parquet')) out.push(join(dir, f));
  }
  return out;
}
