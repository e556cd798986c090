/**
 * SqliteDriftStore: the DriftStore on one SQLite file. Two tables: `monitor_state` (one row per subject and
 * monitor, replaced after each check) and `drift_events` (append-only state changes with their evidence as JSON,
 * pruned beyond `maxEvents`).
 *
 * Durability: WAL with synchronous=NORMAL. A process crash loses nothing committed; a power cut can lose the last
 * commits, which the next checks write again (the state follows the data, and a lost event is re-raised when the
 * drift is still there). Schema versioned in `user_version`; a newer file is refused.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { parseOptions } from '../../lib/options.ts';
import { z } from 'zod';
import { EdgeloopError } from '../../protocol/errors.ts';
import type {
  DriftEvent,
  DriftEventQuery,
  DriftStore,
  MonitorKind,
  MonitorRecord,
  Subject,
  SubjectKind,
} from './drift-store.ts';
import type { MonitorStateName } from './monitor.ts';

export const SqliteDriftStoreOptionsSchema = z.strictObject({
  /** SQLite file, or ':memory:' */
  path: z.string({ error: 'a file path is required' }).min(1, 'a file path is required'),
  /** events kept (oldest pruned) */
  maxEvents: z.number().int().min(1).default(100_000),
});

export type SqliteDriftStoreOptions = z.input<typeof SqliteDriftStoreOptionsSchema>;

const SCHEMA_VERSION = 1;

type Stmts = Record<'putState' | 'insertEvent' | 'prune', Database.Statement>;

interface StateRow {
  kind: SubjectKind;
  subject: string;
  monitor: MonitorKind;
  state: MonitorStateName;
  changed_at: number;
  checked_at: number;
  fired: number;
  last: string;
}
interface EventRow {
  id: number;
  type: DriftEvent['type'];
  at: number;
  kind: SubjectKind;
  subject: string;
  monitor: MonitorKind;
  fired: number;
  window: number;
  evidence: string;
}

export class SqliteDriftStore implements DriftStore {
  readonly #o: z.output<typeof SqliteDriftStoreOptionsSchema>;
  #db: Database.Database | undefined;
  #closed = false;
  #stmts: Stmts | undefined;

  constructor(o: SqliteDriftStoreOptions) {
    this.#o = parseOptions(SqliteDriftStoreOptionsSchema, o, {
      where: 'SqliteDriftStore',
      code: 'EL_ERR_INVALID_ARGUMENT',
    });
  }

  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDriftStore is closed');
    if (this.#db) return;
    let db: Database.Database;
    try {
      db = openWalDatabase(this.#o.path, { synchronous: 'NORMAL' });
    } catch (cause) {
      throw new EdgeloopError(
        'EL_ERR_DRIFT_STORE',
        `cannot open drift store ${this.#o.path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    try {
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this build's ${SCHEMA_VERSION}`);
      if (v < 1) {
        db.exec(`
          CREATE TABLE IF NOT EXISTS monitor_state (
            kind TEXT NOT NULL, subject TEXT NOT NULL, monitor TEXT NOT NULL, state TEXT NOT NULL,
            changed_at INTEGER NOT NULL, checked_at INTEGER NOT NULL, fired INTEGER NOT NULL, last TEXT NOT NULL,
            PRIMARY KEY (kind, subject, monitor));
          CREATE TABLE IF NOT EXISTS drift_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL,
            subject TEXT NOT NULL, monitor TEXT NOT NULL, fired INTEGER NOT NULL, window INTEGER NOT NULL,
            evidence TEXT NOT NULL);
          CREATE INDEX IF NOT EXISTS drift_events_subject ON drift_events (kind, subject, at);
          PRAGMA user_version = ${SCHEMA_VERSION};`);
      }
    } catch (cause) {
      db.close();
      throw new EdgeloopError(
        'EL_ERR_DRIFT_STORE',
        `cannot open drift store ${this.#o.path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    this.#db = db;
    this.#stmts = {
      putState: db.prepare(
        `INSERT INTO monitor_state (kind, subject, monitor, state, changed_at, checked_at, fired, last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, subject, monitor) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at,
         checked_at = excluded.checked_at, fired = excluded.fired, last = excluded.last`,
      ),
      insertEvent: db.prepare(
        'INSERT INTO drift_events (type, at, kind, subject, monitor, fired, window, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      prune: db.prepare('DELETE FROM drift_events WHERE id <= ?'),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }

  #open(): { db: Database.Database; s: Stmts } {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDriftStore is closed');
    if (!this.#db) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteDriftStore: start() first');
    return { db: this.#db, s: this.#stmts! };
  }

  #put(s: Stmts, r: MonitorRecord): void {
    s.putState.run(
      r.subject.kind,
      r.subject.id,
      r.monitor,
      r.state,
      r.changedAt,
      r.checkedAt,
      r.fired,
      JSON.stringify(r.last),
    );
  }

  async recordChange(event: Omit<DriftEvent, 'id'>, record: MonitorRecord): Promise<DriftEvent> {
    const { db, s } = this.#open();
    const id = db.transaction(() => {
      const info = s.insertEvent.run(
        event.type,
        event.at,
        event.subject.kind,
        event.subject.id,
        event.monitor,
        event.fired,
        event.window,
        JSON.stringify(event.evidence),
      );
      this.#put(s, record);
      const newId = Number(info.lastInsertRowid);
      if (newId > this.#o.maxEvents) s.prune.run(newId - this.#o.maxEvents);
      return newId;
    })();
    return { ...event, id };
  }

  async putRecords(records: MonitorRecord[]): Promise<void> {
    const { db, s } = this.#open();
    db.transaction(() => {
      for (const r of records) this.#put(s, r);
    })();
  }

  async records(query: { subject?: Subject } = {}): Promise<MonitorRecord[]> {
    const { db } = this.#open();
    const rows = (
      query.subject
        ? db
            .prepare('SELECT * FROM monitor_state WHERE kind = ? AND subject = ? ORDER BY monitor')
            .all(query.subject.kind, query.subject.id)
        : db.prepare('SELECT * FROM monitor_state ORDER BY kind, subject, monitor').all()
    ) as StateRow[];
    return rows.map((r) => ({
      subject: { kind: r.kind, id: r.subject },
      monitor: r.monitor,
      state: r.state,
      changedAt: r.changed_at,
      checkedAt: r.checked_at,
      fired: r.fired,
      last: JSON.parse(r.last),
    }));
  }

  async events(query: DriftEventQuery = {}): Promise<DriftEvent[]> {
    const { db } = this.#open();
    const where: string[] = ['at >= ?'];
    const args: unknown[] = [query.since ?? 0];
    if (query.subject) {
      where.push('kind = ? AND subject = ?');
      args.push(query.subject.kind, query.subject.id);
    }
    args.push(query.limit ?? 100);
    const rows = db
      .prepare(`SELECT * FROM drift_events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`)
      .all(...args) as EventRow[];
    return rows.map((r) => ({
      id: r.id,
      type: r.type,
      at: r.at,
      subject: { kind: r.kind, id: r.subject },
      monitor: r.monitor,
      fired: r.fired,
      window: r.window,
      evidence: JSON.parse(r.evidence),
    }));
  }
}
