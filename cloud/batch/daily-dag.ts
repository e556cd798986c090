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
 * The task bodies are in daily-tasks.ts. Each task is retried per `retry` (a failed data-quality check is not
 * retried: it would fail the same way). A failed task stops its dependents; a rerun of the same date (`run()`
 * again) does not repeat the tasks that succeeded in an earlier run of that date and resumes from the failed one
 * (`restart: true` runs all).
 */
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { retry } from '../../lib/retry.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { z } from 'zod';
import { callback, clockAndLogger, parseOptions, requiredString } from '../../lib/options.ts';
import { DAY_MS, utcDate } from './backfill-plan.ts';
import { BatchStore, type TaskRow } from './batch-store.ts';
import { DailyTasks, DailyTaskOptionsSchema } from './daily-tasks.ts';
import { runDag, type DagTask, type TaskOutcome, type TaskReport } from './dag.ts';
import { windowFeatureSpec } from './window-features.ts';

export const DAILY_TASKS: readonly DagTask[] = [
  { name: 'compact', needs: [] },
  { name: 'refresh', needs: ['compact'] },
  { name: 'checks', needs: ['refresh'] },
  { name: 'export-dataset', needs: ['checks'] },
  { name: 'publish', needs: ['checks'] },
];

export const DailyDagOptionsSchema = DailyTaskOptionsSchema.extend({
  stateDir: requiredString('a directory'),
  /** per task; maxAttempts counts calls. Default 2 attempts, 1 s .. 10 s. */
  retry: z.custom<Partial<RetryPolicy>>().optional(),
  /** fault drills and tests: called before each attempt of a task; a throw fails the attempt */
  beforeTask: callback<(task: string, attempt: number) => void | Promise<void>>().optional(),
  ...clockAndLogger,
});

export type DailyDagOptions = z.input<typeof DailyDagOptionsSchema>;

export interface DagRunResult {
  runId: number;
  date: string;
  status: 'ok' | 'failed';
  reports: TaskReport[];
}

const C = 'DailyDag';

/** The UTC day before `now`, YYYY-MM-DD. */
export function yesterday(now: number): string {
  return utcDate(Math.floor(now / DAY_MS) * DAY_MS - DAY_MS);
}

export class DailyDag {
  readonly #o: z.output<typeof DailyDagOptionsSchema>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tasks: DailyTasks;
  #running: Promise<DagRunResult> | undefined;

  constructor(opts: DailyDagOptions) {
    const o = parseOptions(DailyDagOptionsSchema, opts, { where: C });
    windowFeatureSpec(o.aggregation);
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#tasks = new DailyTasks(o, this.#clock);
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
        return this.#tasks.compact(conn);
      case 'refresh':
        return this.#tasks.refresh(day);
      case 'checks':
        return this.#tasks.checks();
      case 'export-dataset':
        return this.#tasks.exportDataset(conn, day);
      case 'publish':
        return this.#tasks.publish(day);
      default:
        throw new EdgeloopError('EL_ERR_BATCH_INVALID', `${C}: no task ${task}`);
    }
  }
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
