/**
 * RetrainStore: the retraining jobs and their step checkpoints, in SQLite (`<dataDir>/retrain/retrain.db`, WAL,
 * synchronous=FULL: a checkpoint that returned survives a power cut, so a job killed after it resumes after it).
 *
 * A job is `running` from its creation until it finishes with an outcome: `candidate` (the challenger beat the
 * champion and is in the registry as candidate), `rejected` (it did not; the reason says why) or `failed` (an
 * error; the reason is its message). A running job that no process holds the lock for was interrupted: the next
 * `run` resumes it at the first step without a checkpoint. Each step's checkpoint keeps its output (JSON) and how
 * many times it was started, so a resume that redid a finished step would show.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

export const RETRAIN_STEPS = ['select', 'train', 'export', 'reference', 'sign', 'evaluate', 'record'] as const;
export type RetrainStep = (typeof RETRAIN_STEPS)[number];
export type JobOutcome = 'candidate' | 'rejected' | 'failed';

export interface RetrainTrigger {
  kind: 'manual' | 'schedule' | 'drift';
  /** drift trigger: the drift event's id, subject and time */
  driftEventId?: number | undefined;
  subject?: { kind: string; id: string } | undefined;
  at?: number | undefined;
}

export interface JobRecord {
  id: number;
  trigger: RetrainTrigger;
  /** what the job was asked to do (model, range, cohort, options) */
  params: Record<string, unknown>;
  state: 'running' | 'finished';
  /** the step it is in (running) or the last one it reached */
  step: RetrainStep;
  outcome: JobOutcome | undefined;
  reason: string | undefined;
  /** progress inside the step (epoch, loss …) */
  progress: Record<string, unknown> | undefined;
  /** the job's summary when finished: version, parent, metrics, decision */
  result: Record<string, unknown> | undefined;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | undefined;
  steps: StepRecord[];
}

export interface StepRecord {
  step: RetrainStep;
  state: 'running' | 'done';
  /** times the step was started (1 unless a crash interrupted it) */
  runs: number;
  startedAt: number;
  finishedAt: number | undefined;
  output: Record<string, unknown> | undefined;
}

const SCHEMA_VERSION = 1;

export class RetrainStore {
  readonly #path: string;
  #db: Database.Database | undefined;
  #s: Record<string, Database.Statement> = {};

  constructor(o: { path: string }) {
    if (typeof o?.path !== 'string' || o.path === '')
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'RetrainStore: option "path" is required');
    this.#path = o.path;
  }

  start(): void {
    if (this.#db) return;
    let db: Database.Database;
    try {
      db = openWalDatabase(this.#path, { synchronous: 'FULL' });
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_RETRAIN_STORE', `${this.#path}: ${(cause as Error).message}`, { cause });
    }
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) {
      db.close();
      throw new EdgeloopError(
        'EL_ERR_RETRAIN_STORE',
        `${this.#path}: retrain store schema version ${v} is newer than this edgeloop (${SCHEMA_VERSION})`,
      );
    }
    if (v < 1) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS jobs (
          id INTEGER PRIMARY KEY AUTOINCREMENT, trigger TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
          step TEXT NOT NULL, outcome TEXT, reason TEXT, progress TEXT, result TEXT,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER);
        CREATE TABLE IF NOT EXISTS steps (
          job_id INTEGER NOT NULL, step TEXT NOT NULL, state TEXT NOT NULL, runs INTEGER NOT NULL,
          started_at INTEGER NOT NULL, finished_at INTEGER, output TEXT, PRIMARY KEY (job_id, step));
        PRAGMA user_version = 1;`);
    }
    this.#db = db;
    this.#s = {
      insert: db.prepare(
        `INSERT INTO jobs (trigger, params, state, step, created_at, updated_at) VALUES (?, ?, 'running', 'select', ?, ?)`,
      ),
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      running: db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY id LIMIT 1`),
      list: db.prepare('SELECT * FROM jobs ORDER BY id DESC LIMIT ?'),
      steps: db.prepare('SELECT * FROM steps WHERE job_id = ?'),
      beginStep: db.prepare(
        `INSERT INTO steps (job_id, step, state, runs, started_at) VALUES (?, ?, 'running', 1, ?)
         ON CONFLICT(job_id, step) DO UPDATE SET runs = runs + 1, started_at = excluded.started_at, state = 'running'`,
      ),
      endStep: db.prepare(`UPDATE steps SET state = 'done', finished_at = ?, output = ? WHERE job_id = ? AND step = ?`),
      setStep: db.prepare('UPDATE jobs SET step = ?, progress = NULL, updated_at = ? WHERE id = ?'),
      progress: db.prepare('UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ?'),
      finish: db.prepare(
        `UPDATE jobs SET state = 'finished', outcome = ?, reason = ?, result = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
      ),
      rollout: db.prepare(
        `UPDATE jobs SET result = json_set(result, '$.rollout', json(?)), updated_at = ?
         WHERE outcome = 'candidate' AND json_extract(result, '$.version') = ?`,
      ),
    };
  }

  #db_(): Database.Database {
    if (!this.#db) this.start();
    return this.#db!;
  }

  create(trigger: RetrainTrigger, params: Record<string, unknown>, now: number): JobRecord {
    this.#db_();
    const id = Number(this.#s.insert!.run(JSON.stringify(trigger), JSON.stringify(params), now, now).lastInsertRowid);
    return this.get(id)!;
  }

  get(id: number): JobRecord | undefined {
    this.#db_();
    const row = this.#s.get!.get(id) as JobRow | undefined;
    return row ? this.#toRecord(row) : undefined;
  }

  /** The interrupted (or in-progress) job, if any. */
  running(): JobRecord | undefined {
    this.#db_();
    const row = this.#s.running!.get() as JobRow | undefined;
    return row ? this.#toRecord(row) : undefined;
  }

  /** Newest first. */
  list(limit = 20): JobRecord[] {
    this.#db_();
    return (this.#s.list!.all(limit) as JobRow[]).map((r) => this.#toRecord(r));
  }

  beginStep(id: number, step: RetrainStep, now: number): void {
    this.#db_().transaction(() => {
      this.#s.beginStep!.run(id, step, now);
      this.#s.setStep!.run(step, now, id);
    })();
  }

  endStep(id: number, step: RetrainStep, output: Record<string, unknown>, now: number): void {
    this.#db_();
    this.#s.endStep!.run(now, JSON.stringify(output), id, step);
  }

  progress(id: number, progress: Record<string, unknown>, now: number): void {
    this.#db_();
    this.#s.progress!.run(JSON.stringify(progress), now, id);
  }

  finish(id: number, outcome: JobOutcome, reason: string | undefined, result: Record<string, unknown>, now: number) {
    this.#db_();
    this.#s.finish!.run(outcome, reason ?? null, JSON.stringify(result), now, now, id);
  }

  /**
   * How the rollout of a candidate version went (`result.rollout` of the job that produced it: status, reason, the
   * stage it ended in): the history then says why a candidate was not promoted. Returns the jobs updated (0 when
   * the version did not come from a retraining job).
   */
  noteRollout(version: string, rollout: Record<string, unknown>, now: number): number {
    this.#db_();
    return this.#s.rollout!.run(JSON.stringify(rollout), now, version).changes;
  }

  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }

  #toRecord(r: JobRow): JobRecord {
    const steps = (this.#s.steps!.all(r.id) as StepRow[])
      .map(
        (s): StepRecord => ({
          step: s.step as RetrainStep,
          state: s.state as StepRecord['state'],
          runs: s.runs,
          startedAt: s.started_at,
          finishedAt: s.finished_at ?? undefined,
          output: s.output ? (JSON.parse(s.output) as Record<string, unknown>) : undefined,
        }),
      )
      .sort((a, b) => RETRAIN_STEPS.indexOf(a.step) - RETRAIN_STEPS.indexOf(b.step));
    return {
      id: r.id,
      trigger: JSON.parse(r.trigger) as RetrainTrigger,
      params: JSON.parse(r.params) as Record<string, unknown>,
      state: r.state as JobRecord['state'],
      step: r.step as RetrainStep,
      outcome: (r.outcome ?? undefined) as JobOutcome | undefined,
      reason: r.reason ?? undefined,
      progress: r.progress ? (JSON.parse(r.progress) as Record<string, unknown>) : undefined,
      result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : undefined,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      finishedAt: r.finished_at ?? undefined,
      steps,
    };
  }
}

interface JobRow {
  id: number;
  trigger: string;
  params: string;
  state: string;
  step: string;
  outcome: string | null;
  reason: string | null;
  progress: string | null;
  result: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface StepRow {
  job_id: number;
  step: string;
  state: string;
  runs: number;
  started_at: number;
  finished_at: number | null;
  output: string | null;
}
