/**
 * RolloutStore: the controller's state in SQLite, so a restarted controller resumes where it was. One row per
 * rollout with the machine's JSON snapshot (written in one transaction after every change, before the actions are
 * carried out: a crash between the two re-publishes on resume via the per-device timeout, never skips a step),
 * and the publisher's desired-message seq counter. WAL, synchronous=FULL (a few writes per second at most).
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { RolloutState } from './rollout-state.ts';

const SCHEMA_VERSION = 1;

export class RolloutStore {
  readonly path: string;
  #db: Database.Database | undefined;
  #put!: Database.Statement;
  #get!: Database.Statement;
  #active!: Database.Statement;
  #list!: Database.Statement;
  #getMeta!: Database.Statement;
  #setMeta!: Database.Statement;
  #seq = 0;

  constructor(path: string) {
    if (typeof path !== 'string' || !path)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'RolloutStore: a database path is required');
    this.path = path;
  }

  open(): void {
    if (this.#db) return;
    const db = openWalDatabase(this.path, { synchronous: 'FULL' });
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) {
      db.close();
      throw new EdgeloopError(
        'EL_ERR_CONFIG_INVALID',
        `${this.path}: rollout state schema ${v} is newer than this edgeloop (${SCHEMA_VERSION})`,
      );
    }
    if (v < 1) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS rollouts (
          id TEXT PRIMARY KEY, model TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS rollouts_model ON rollouts(model, created_at);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        PRAGMA user_version = 1;`);
    }
    this.#put = db.prepare(
      `INSERT INTO rollouts (id, model, status, state, created_at, updated_at) VALUES (@id, @model, @status, @state, @created_at, @updated_at)
       ON CONFLICT(id) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at`,
    );
    this.#get = db.prepare('SELECT state FROM rollouts WHERE id = ?');
    this.#active = db.prepare(
      `SELECT state FROM rollouts WHERE status NOT IN ('completed', 'aborted', 'rolled-back') ORDER BY created_at`,
    );
    this.#list = db.prepare(
      'SELECT state FROM rollouts WHERE (? IS NULL OR model = ?) ORDER BY created_at DESC, rowid DESC LIMIT ?',
    );
    this.#getMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.#setMeta = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.#db = db;
    this.#seq = Number((this.#getMeta.get('seq') as { value: string } | undefined)?.value ?? 0);
  }

  #open(): Database.Database {
    if (!this.#db) throw new EdgeloopError('EL_ERR_CLOSED', 'rollout store is not open');
    return this.#db;
  }

  save(states: RolloutState[]): void {
    const db = this.#open();
    db.transaction(() => {
      this.#setMeta.run('seq', String(this.#seq));
      for (const s of states) {
        this.#put.run({
          id: s.id,
          model: s.spec.model,
          status: s.status,
          state: JSON.stringify(s),
          created_at: s.createdAt,
          updated_at: s.updatedAt,
        });
      }
    })();
  }

  get(id: string): RolloutState | undefined {
    this.#open();
    const r = this.#get.get(id) as { state: string } | undefined;
    return r ? (JSON.parse(r.state) as RolloutState) : undefined;
  }

  active(): RolloutState[] {
    this.#open();
    return (this.#active.all() as Array<{ state: string }>).map((r) => JSON.parse(r.state) as RolloutState);
  }

  list(model?: string, limit = 50): RolloutState[] {
    this.#open();
    const m = model ?? null;
    return (this.#list.all(m, m, limit) as Array<{ state: string }>).map((r) => JSON.parse(r.state) as RolloutState);
  }

  /** Next desired-message seq: increasing, and never behind the clock (so a lost database does not reuse seqs). */
  nextSeq(now: number): number {
    this.#open();
    // kept in memory and written with the next save(): seqs also never fall behind the clock, so one lost with a
    // crash is still below the next one handed out
    this.#seq = Math.max(this.#seq + 1, Math.floor(now));
    return this.#seq;
  }

  close(): void {
    if (this.#db) this.#setMeta.run('seq', String(this.#seq));
    this.#db?.close();
    this.#db = undefined;
  }
}
