/**
 * BatchStore: the batch jobs' state in one SQLite file (`<dataDir>/batch/batch.db`): the backfill's per-unit
 * checkpoints and the daily DAG's run log.
 *
 *   backfill_jobs    one row per backfill job: its parameters (the key a rerun of the same command finds it by),
 *                    the feature columns and write time fixed at planning, status, summary
 *   backfill_units   one row per unit of a job's plan: status (pending, done, failed, committed: its day is in the
 *                    offline store), attempts, rows, bytes, error
 *   dag_runs         one row per `edgeloop batch run` (or scheduled run): the logical date, status, when
 *   dag_tasks        one row per task of a run: status (ok, failed, skipped, done-before), start, end, rows, bytes,
 *                    error, detail (what it did, or why it was skipped), attempts
 *
 * synchronous = FULL: a checkpoint is one small transaction per unit or task, and a unit marked done must stay
 * done after a power cut (its output file was fsynced before). WAL, so `edgeloop batch status` reads while a job
 * runs. Schema version in `user_version`; a newer file is refused.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS backfill_jobs (job_id INTEGER PRIMARY KEY, key TEXT NOT NULL, params TEXT NOT NULL,
  columns TEXT NOT NULL, write_time INTEGER NOT NULL, created_at INTEGER NOT NULL, status TEXT NOT NULL,
  finished_at INTEGER, summary TEXT);
CREATE INDEX IF NOT EXISTS backfill_jobs_key ON backfill_jobs (key, status);
CREATE TABLE IF NOT EXISTS backfill_units (job_id INTEGER NOT NULL, unit_id TEXT NOT NULL, date TEXT NOT NULL,
  spec TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, rows INTEGER, bytes INTEGER,
  error TEXT, started_at INTEGER, ended_at INTEGER, PRIMARY KEY (job_id, unit_id));
CREATE TABLE IF NOT EXISTS dag_runs (run_id INTEGER PRIMARY KEY, date TEXT NOT NULL, trigger TEXT NOT NULL,
  started_at INTEGER NOT NULL, ended_at INTEGER, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dag_tasks (run_id INTEGER NOT NULL, task TEXT NOT NULL, status TEXT NOT NULL,
  started_at INTEGER, ended_at INTEGER, rows INTEGER, bytes INTEGER, error TEXT, detail TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, task));
`;

export type UnitStatus = 'pending' | 'done' | 'failed' | 'committed';
export type TaskStatus = 'running' | 'ok' | 'failed' | 'skipped' | 'done-before';

export interface JobRow {
  jobId: number;
  key: string;
  params: string;
  columns: string;
  writeTime: number;
  createdAt: number;
  status: 'running' | 'done' | 'failed';
  finishedAt: number | null;
  summary: string | null;
}

export interface UnitRow {
  jobId: number;
  unitId: string;
  date: string;
  spec: string;
  status: UnitStatus;
  attempts: number;
  rows: number | null;
  bytes: number | null;
  error: string | null;
}

export interface TaskRow {
  runId: number;
  task: string;
  status: TaskStatus;
  startedAt: number | null;
  endedAt: number | null;
  rows: number | null;
  bytes: number | null;
  error: string | null;
  detail: string | null;
  attempts: number;
}

export interface RunRow {
  runId: number;
  date: string;
  trigger: string;
  startedAt: number;
  endedAt: number | null;
  status: 'running' | 'ok' | 'failed';
}

export class BatchStore {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  static open(path: string): BatchStore {
    let db: Database.Database;
    try {
      db = openWalDatabase(path, { synchronous: 'FULL' });
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_BATCH_STATE', `batch state ${path}: ${(cause as Error).message}`, { cause });
    }
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) {
      db.close();
      throw new EdgeloopError(
        'EL_ERR_BATCH_STATE',
        `batch state ${path} has schema version ${v}, newer than this edgeloop (${SCHEMA_VERSION})`,
      );
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return new BatchStore(db);
  }

  // --- backfill ---

  /** The newest unfinished job with this key (a rerun of the same command resumes it). */
  openJob(key: string): JobRow | undefined {
    return this.#db
      .prepare(
        `SELECT job_id AS jobId, key, params, columns, write_time AS writeTime, created_at AS createdAt, status, finished_at AS finishedAt, summary
         FROM backfill_jobs WHERE key = ? AND status != 'done' ORDER BY job_id DESC LIMIT 1`,
      )
      .get(key) as JobRow | undefined;
  }

  createJob(
    j: { key: string; params: string; columns: string; writeTime: number; createdAt: number },
    units: { unitId: string; date: string; spec: string }[],
  ): number {
    return this.#db.transaction(() => {
      const id = Number(
        this.#db
          .prepare(
            `INSERT INTO backfill_jobs (key, params, columns, write_time, created_at, status) VALUES (?, ?, ?, ?, ?, 'running')`,
          )
          .run(j.key, j.params, j.columns, j.writeTime, j.createdAt).lastInsertRowid,
      );
      const ins = this.#db.prepare(
        `INSERT INTO backfill_units (job_id, unit_id, date, spec, status) VALUES (?, ?, ?, ?, 'pending')`,
      );
      for (const u of units) ins.run(id, u.unitId, u.date, u.spec);
      return id;
    })();
  }

  units(jobId: number): UnitRow[] {
    return this.#db
      .prepare(
        `SELECT job_id AS jobId, unit_id AS unitId, date, spec, status, attempts, rows, bytes, error FROM backfill_units WHERE job_id = ? ORDER BY unit_id`,
      )
      .all(jobId) as UnitRow[];
  }

  unitStarted(jobId: number, unitId: string, at: number): void {
    this.#db
      .prepare(
        `UPDATE backfill_units SET attempts = attempts + 1, started_at = ?, error = NULL WHERE job_id = ? AND unit_id = ?`,
      )
      .run(at, jobId, unitId);
  }

  unitEnded(
    jobId: number,
    unitId: string,
    r: { status: UnitStatus; at: number; rows?: number; bytes?: number; error?: string },
  ): void {
    this.#db
      .prepare(
        `UPDATE backfill_units SET status = ?, ended_at = ?, rows = ?, bytes = ?, error = ? WHERE job_id = ? AND unit_id = ?`,
      )
      .run(r.status, r.at, r.rows ?? null, r.bytes ?? null, r.error ?? null, jobId, unitId);
  }

  /** The units of a day, once the day's commit is applied. */
  markCommitted(jobId: number, date: string, at: number): void {
    this.#db
      .prepare(
        `UPDATE backfill_units SET status = 'committed', ended_at = ? WHERE job_id = ? AND date = ? AND status = 'done'`,
      )
      .run(at, jobId, date);
  }

  /** Failed units go back to pending when a job resumes. */
  resetFailed(jobId: number): void {
    this.#db.prepare(`UPDATE backfill_units SET status = 'pending' WHERE job_id = ? AND status = 'failed'`).run(jobId);
  }

  finishJob(jobId: number, status: JobRow['status'], at: number, summary: string): void {
    this.#db
      .prepare(`UPDATE backfill_jobs SET status = ?, finished_at = ?, summary = ? WHERE job_id = ?`)
      .run(status, at, summary, jobId);
  }

  jobs(limit = 10): JobRow[] {
    return this.#db
      .prepare(
        `SELECT job_id AS jobId, key, params, columns, write_time AS writeTime, created_at AS createdAt, status, finished_at AS finishedAt, summary
         FROM backfill_jobs ORDER BY job_id DESC LIMIT ?`,
      )
      .all(limit) as JobRow[];
  }

  // --- DAG run log ---

  createRun(date: string, trigger: string, at: number): number {
    return Number(
      this.#db
        .prepare(`INSERT INTO dag_runs (date, trigger, started_at, status) VALUES (?, ?, ?, 'running')`)
        .run(date, trigger, at).lastInsertRowid,
    );
  }

  endRun(runId: number, status: RunRow['status'], at: number): void {
    this.#db.prepare(`UPDATE dag_runs SET status = ?, ended_at = ? WHERE run_id = ?`).run(status, at, runId);
  }

  /** Tasks of `date` that succeeded in an earlier run (a rerun does not do them again). */
  succeededBefore(date: string, beforeRun: number): Set<string> {
    const rows = this.#db
      .prepare(
        `SELECT DISTINCT t.task FROM dag_tasks t JOIN dag_runs r ON r.run_id = t.run_id
         WHERE r.date = ? AND r.run_id < ? AND t.status IN ('ok', 'done-before')`,
      )
      .all(date, beforeRun) as { task: string }[];
    return new Set(rows.map((r) => r.task));
  }

  taskStarted(runId: number, task: string, at: number, attempts: number): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO dag_tasks (run_id, task, status, started_at, attempts) VALUES (?, ?, 'running', ?, ?)`,
      )
      .run(runId, task, at, attempts);
  }

  taskEnded(
    runId: number,
    task: string,
    r: {
      status: TaskStatus;
      startedAt?: number;
      at: number;
      rows?: number;
      bytes?: number;
      error?: string;
      detail?: string;
      attempts?: number;
    },
  ): void {
    this.#db
      .prepare(
        `INSERT INTO dag_tasks (run_id, task, status, started_at, ended_at, rows, bytes, error, detail, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, task) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, rows = excluded.rows,
           bytes = excluded.bytes, error = excluded.error, detail = excluded.detail, attempts = max(dag_tasks.attempts, excluded.attempts)`,
      )
      .run(
        runId,
        task,
        r.status,
        r.startedAt ?? r.at,
        r.at,
        r.rows ?? null,
        r.bytes ?? null,
        r.error ?? null,
        r.detail ?? null,
        r.attempts ?? 0,
      );
  }

  runs(limit = 5): RunRow[] {
    return this.#db
      .prepare(
        `SELECT run_id AS runId, date, trigger, started_at AS startedAt, ended_at AS endedAt, status FROM dag_runs ORDER BY run_id DESC LIMIT ?`,
      )
      .all(limit) as RunRow[];
  }

  tasks(runId: number): TaskRow[] {
    return this.#db
      .prepare(
        `SELECT run_id AS runId, task, status, started_at AS startedAt, ended_at AS endedAt, rows, bytes, error, detail, attempts
         FROM dag_tasks WHERE run_id = ? ORDER BY started_at, rowid`,
      )
      .all(runId) as TaskRow[];
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
