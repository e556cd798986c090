/**
 * DailyDag: the daily batch DAG of one logical date (a UTC day, default yesterday), with its run log in the
 * BatchStore (`dag_runs`, `dag_tasks`: start, end, status, rows, bytes, error, attempts).
 *
 *   compact ─► refresh ─► checks ─┬─► export-dataset
 *                                 └─► publish
 *
 *   compact         merge the raw archive's small files of settled hours (compact-archive.ts), or hand it to the
 *                   running archive (`compact` option: the cloud part passes the archive's flush)
 *   refresh         the warehouse refresh (cloud/warehouse/): load what changed, SCD2, re-aggregate
 *   checks          the data-quality checks; a failure stops the two exports (nothing is published or exported
 *                   from data that failed its checks)
 *   export-dataset  the retraining dataset: the day's normal windows (window features of windows without an
 *                   anomaly event of their device), `<datasetsDir>/normal_windows/date=YYYY-MM-DD/part-0.parquet`
 *                   and `_manifest.json` beside it, written last (see docs/batch.md for the layout)
 *   publish         the day's facts and aggregates and the dimensions as Hive-partitioned Parquet for Athena /
 *                   Trino / Spark (`<publishDir>/<table>/date=…[/hour=…]/part-0.parquet`, athena.ts)
 *
 * Each task is retried per `retry` (a failed data-quality check is not retried: it would fail the same way). A
 * failed task stops its dependents; a rerun of the same date (`run()` again) does not repeat the tasks that
 * succeeded in an earlier run of that date and resumes from the failed one (`restart: true` runs all).
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { retry } from '../../lib/retry.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { fsyncPath } from '../feature-store/parquet-commit.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import type { FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import { checkKnownOptions, stringOption } from '../stream/options.ts';
import type { CheckOptions } from '../warehouse/checks.ts';
import { atScaleTables } from './athena.ts';
import { readingFiles } from './backfill.ts';
import { DAY_MS, HOUR_MS, utcDate } from './backfill-plan.ts';
import { BatchStore, type TaskRow } from './batch-store.ts';
import { compactArchive } from './compact-archive.ts';
import { runDag, type DagTask, type TaskOutcome, type TaskReport } from './dag.ts';
import { featureColumns, lookbackMs, windowFeatureSpec, windowFeatureSql } from './window-features.ts';

export const DAILY_TASKS: readonly DagTask[] = [
  { name: 'compact', needs: [] },
  { name: 'refresh', needs: ['compact'] },
  { name: 'checks', needs: ['refresh'] },
  { name: 'export-dataset', needs: ['checks'] },
  { name: 'publish', needs: ['checks'] },
];

export interface DailyDagOptions {
  archiveDir: string;
  warehousePath: string;
  stateDir: string;
  /** retraining datasets root (`<dataDir>/datasets`) */
  datasetsDir: string;
  /** Hive-partitioned warehouse tables for Athena (`<dataDir>/published`) */
  publishDir: string;
  offlineDir?: string;
  registryDb?: string;
  dedupDb?: string;
  /** the processor's aggregation options: the dataset's windows */
  aggregation?: FeatureAggregatorOptions;
  /** data-quality checks; default: freshness off (a daily run looks at a past day) */
  checks?: CheckOptions;
  /** archive compaction settings (the archive's config) */
  archive?: { targetFileBytes?: number; compactSettleMs?: number };
  /** compaction done by someone else (the running archive): replaces the built-in one */
  compact?: () => Promise<TaskOutcome>;
  /** per task; maxAttempts counts calls. Default 2 attempts, 1 s .. 10 s. */
  retry?: Partial<RetryPolicy>;
  /** fault drills and tests: called before each attempt of a task; a throw fails the attempt */
  beforeTask?: (task: string, attempt: number) => void | Promise<void>;
  clock?: Clock;
  logger?: Logger;
}

export interface DagRunResult {
  runId: number;
  date: string;
  status: 'ok' | 'failed';
  reports: TaskReport[];
}

const KNOWN = [
  'archiveDir',
  'warehousePath',
  'stateDir',
  'datasetsDir',
  'publishDir',
  'offlineDir',
  'registryDb',
  'dedupDb',
  'aggregation',
  'checks',
  'archive',
  'compact',
  'retry',
  'beforeTask',
  'clock',
  'logger',
] as const;
const C = 'DailyDag';

/** The UTC day before `now`, YYYY-MM-DD. */
export function yesterday(now: number): string {
  return utcDate(Math.floor(now / DAY_MS) * DAY_MS - DAY_MS);
}

export class DailyDag {
  readonly #o: DailyDagOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #running: Promise<DagRunResult> | undefined;

  constructor(opts: DailyDagOptions) {
    checkKnownOptions(C, opts, KNOWN);
    for (const k of ['archiveDir', 'warehousePath', 'stateDir', 'datasetsDir', 'publishDir'] as const)
      if (stringOption(C, k, opts[k], '') === '')
        throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: option "${k}" is required`);
    windowFeatureSpec(opts.aggregation);
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
  }

  /** Run the DAG for `date` (default yesterday, UTC); one run at a time per instance. */
  run(o: { date?: string; trigger?: string; restart?: boolean } = {}): Promise<DagRunResult> {
    if (this.#running !== undefined) return this.#running;
    const p = this.#run(o).finally(() => {
      this.#running = undefined;
    });
    this.#running = p;
    return p;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  async #run(o: { date?: string; trigger?: string; restart?: boolean }): Promise<DagRunResult> {
    const date = o.date ?? yesterday(this.#clock.now());
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !Number.isFinite(Date.parse(`${date}T00:00:00Z`)))
      throw new EdgeloopError('EL_ERR_BATCH_RANGE', `${C}: date ${JSON.stringify(date)} is not YYYY-MM-DD`);
    const day = Date.parse(`${date}T00:00:00Z`);
    const store = BatchStore.open(join(this.#o.stateDir, 'batch.db'));
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    const conn = await instance.connect();
    try {
      await conn.run("SET TimeZone = 'UTC'");
      const runId = store.createRun(date, o.trigger ?? 'cli', this.#clock.now());
      const doneBefore = o.restart ? new Set<string>() : store.succeededBefore(date, runId);
      const policy = { minMs: 1000, maxMs: 10_000, maxAttempts: 2, ...this.#o.retry };
      const attempts = new Map<string, number>();
      const reports = await runDag(DAILY_TASKS, {
        doneBefore,
        now: () => this.#clock.now(),
        onStart: (task) => store.taskStarted(runId, task, this.#clock.now(), 0),
        onReport: (r) => {
          const a = attempts.get(r.task) ?? 0;
          if (r.status === 'ok')
            store.taskEnded(runId, r.task, {
              status: 'ok',
              startedAt: r.startedAt,
              at: r.endedAt,
              ...(r.rows !== undefined ? { rows: r.rows } : {}),
              ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
              ...(r.detail !== undefined ? { detail: r.detail } : {}),
              attempts: a,
            });
          else if (r.status === 'failed')
            store.taskEnded(runId, r.task, {
              status: 'failed',
              startedAt: r.startedAt,
              at: r.endedAt,
              error: errorLine(r.error),
              attempts: a,
            });
          else
            store.taskEnded(runId, r.task, {
              status: r.status,
              at: this.#clock.now(),
              ...(r.status === 'skipped' ? { detail: r.reason } : { detail: 'succeeded in an earlier run' }),
            });
          this.#log.info({ runId, date, task: r.task, status: r.status }, 'batch task');
        },
        run: (task) =>
          retry(
            async (attempt) => {
              attempts.set(task, attempt);
              await this.#o.beforeTask?.(task, attempt);
              return this.#task(task, conn, day);
            },
            {
              policy,
              clock: this.#clock,
              retryable: (err) => (err as { code?: string }).code !== 'EL_ERR_WAREHOUSE_CHECK_FAILED',
              onFailedAttempt: ({ error, attempt, delayMs }) =>
                this.#log.warn({ err: error, task, attempt, delayMs }, 'batch task attempt failed'),
            },
          ),
      });
      const status = reports.every((r) => r.status === 'ok' || r.status === 'done-before') ? 'ok' : 'failed';
      store.endRun(runId, status, this.#clock.now());
      return { runId, date, status, reports };
    } finally {
      conn.closeSync();
      instance.closeSync();
      store.close();
    }
  }

  #task(task: string, conn: DuckDBConnection, day: number): Promise<TaskOutcome> {
    switch (task) {
      case 'compact':
        return this.#compact(conn);
      case 'refresh':
        return this.#refresh(day);
      case 'checks':
        return this.#checks();
      case 'export-dataset':
        return this.#exportDataset(conn, day);
      case 'publish':
        return this.#publish(day);
      default:
        throw new EdgeloopError('EL_ERR_BATCH_INVALID', `${C}: no task ${task}`);
    }
  }

  async #compact(conn: DuckDBConnection): Promise<TaskOutcome> {
    if (this.#o.compact) return this.#o.compact();
    const r = await compactArchive(conn, this.#o.archiveDir, {
      now: this.#clock.now(),
      settleMs: this.#o.archive?.compactSettleMs ?? 600_000,
      targetBytes: this.#o.archive?.targetFileBytes ?? 128 * 1024 * 1024,
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

  async #refresh(day: number): Promise<TaskOutcome> {
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

  async #checks(): Promise<TaskOutcome> {
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

  async #exportDataset(conn: DuckDBConnection, day: number): Promise<TaskOutcome> {
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

  async #publish(day: number): Promise<TaskOutcome> {
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

function errorLine(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ''}`;
}

/** The run log of the latest runs, for `edgeloop batch status`. */
export function formatRunLog(
  runs: { run: { runId: number; date: string; status: string; trigger: string }; tasks: TaskRow[] }[],
): string {
  const lines: string[] = [];
  const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));
  for (const { run, tasks } of runs) {
    lines.push(`run ${run.runId}  date ${run.date}  ${run.status}  (${run.trigger})`);
    const rows = tasks.map((t) => [
      t.task,
      t.status,
      iso(t.startedAt),
      iso(t.endedAt),
      t.rows === null ? '' : String(t.rows),
      t.bytes === null ? '' : String(t.bytes),
      String(t.attempts),
      t.error ?? t.detail ?? '',
    ]);
    const head = ['task', 'status', 'start', 'end', 'rows', 'bytes', 'attempts', 'error / detail'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string =>
      r
        .map((v, i) => (i === r.length - 1 ? v : v.padEnd(w[i]!)))
        .join('  ')
        .trimEnd();
    lines.push(`  ${line(head)}`, ...rows.map((r) => `  ${line(r)}`));
  }
  return lines.length === 0 ? 'no batch runs yet\n' : `${lines.join('\n')}\n`;
}
