/**
 * Where maintenance alert events are kept: the owned interface and its SQLite implementation (one table of
 * append-only state changes, `<dataDir>/maintenance.db`, pruned beyond `maxEvents`).
 *
 * Durability: WAL with synchronous=NORMAL. A process crash loses nothing committed; a power cut can lose the last
 * commits. The open alerts are read back at start, so a restart does not fire an alert again for a device whose
 * alert is still open (dedup across restarts). Schema versioned in `user_version`; a newer file is refused.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { MaintenanceAlert } from './alert-tracker.ts';
import { resolveAlertStoreOptions, type SqliteAlertStoreOptions } from './maintenance-options.ts';

export interface StoredAlert extends MaintenanceAlert {
  id: number;
}

export interface AlertQuery {
  deviceId?: string;
  state?: MaintenanceAlert['state'];
  /** newest first, at most this many (default 100) */
  limit?: number;
}

export interface AlertStore {
  start(): Promise<void>;
  append(alerts: readonly MaintenanceAlert[]): Promise<StoredAlert[]>;
  list(query?: AlertQuery): Promise<StoredAlert[]>;
  /** devices whose last event is `firing` */
  openDevices(): Promise<string[]>;
  close(): Promise<void>;
}

export type { SqliteAlertStoreOptions } from './maintenance-options.ts';

const SCHEMA_VERSION = 1;

interface Row {
  id: number;
  device_id: string;
  state: MaintenanceAlert['state'];
  at: number;
  cycles: number;
  rul: number;
  p10: number;
  p90: number;
  horizon: number;
}

export class SqliteAlertStore implements AlertStore {
  readonly #path: string;
  readonly #maxEvents: number;
  #db: Database.Database | undefined;
  #insert: Database.Statement | undefined;
  #prune: Database.Statement | undefined;
  #closed = false;

  constructor(o: SqliteAlertStoreOptions) {
    const { path, maxEvents } = resolveAlertStoreOptions(o);
    this.#path = path;
    this.#maxEvents = maxEvents;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteAlertStore is closed');
    if (this.#db) return;
    let db: Database.Database | undefined;
    try {
      db = openWalDatabase(this.#path, { synchronous: 'NORMAL' });
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this build's ${SCHEMA_VERSION}`);
      if (v < 1) {
        db.exec(`
          CREATE TABLE IF NOT EXISTS maintenance_alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL,
            cycles INTEGER NOT NULL, rul REAL NOT NULL, p10 REAL NOT NULL, p90 REAL NOT NULL, horizon REAL NOT NULL);
          CREATE INDEX IF NOT EXISTS maintenance_alerts_device ON maintenance_alerts (device_id, id);
          PRAGMA user_version = ${SCHEMA_VERSION};`);
      }
    } catch (cause) {
      db?.close();
      throw new EdgeloopError(
        'EL_ERR_MAINTENANCE_STORE',
        `cannot open maintenance store ${this.#path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    this.#db = db;
    this.#insert = db.prepare(
      'INSERT INTO maintenance_alerts (device_id, state, at, cycles, rul, p10, p90, horizon) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#prune = db.prepare('DELETE FROM maintenance_alerts WHERE id <= ?');
  }

  #open(): Database.Database {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteAlertStore is closed');
    if (!this.#db) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteAlertStore: start() first');
    return this.#db;
  }

  async append(alerts: readonly MaintenanceAlert[]): Promise<StoredAlert[]> {
    const db = this.#open();
    if (alerts.length === 0) return [];
    return db.transaction(() => {
      const out: StoredAlert[] = [];
      let last = 0;
      for (const a of alerts) {
        const info = this.#insert!.run(a.deviceId, a.state, a.at, a.cycles, a.rul, a.p10, a.p90, a.horizon);
        last = Number(info.lastInsertRowid);
        out.push({ ...a, id: last });
      }
      if (last > this.#maxEvents) this.#prune!.run(last - this.#maxEvents);
      return out;
    })();
  }

  async list(q: AlertQuery = {}): Promise<StoredAlert[]> {
    const db = this.#open();
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.deviceId !== undefined) {
      where.push('device_id = ?');
      args.push(q.deviceId);
    }
    if (q.state !== undefined) {
      where.push('state = ?');
      args.push(q.state);
    }
    const sql = `SELECT * FROM maintenance_alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = db.prepare(sql).all(...args, q.limit ?? 100) as Row[];
    return rows.map(fromRow);
  }

  async openDevices(): Promise<string[]> {
    const db = this.#open();
    const rows = db
      .prepare(
        `SELECT device_id FROM maintenance_alerts a WHERE id = (SELECT MAX(id) FROM maintenance_alerts b WHERE b.device_id = a.device_id) AND state = 'firing'`,
      )
      .all() as { device_id: string }[];
    return rows.map((r) => r.device_id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }
}

function fromRow(r: Row): StoredAlert {
  return {
    id: r.id,
    deviceId: r.device_id,
    state: r.state,
    at: r.at,
    cycles: r.cycles,
    rul: r.rul,
    p10: r.p10,
    p90: r.p90,
    horizon: r.horizon,
  };
}
