/**
 * Persistence for the ingest's dedup state: one row per device with its committed seq intervals. Written in one
 * transaction right after each successful stream put (only the devices in that batch), read on demand when a
 * device is first seen after a start or after eviction from memory.
 *
 * Durability: WAL + synchronous=NORMAL. A process crash (kill -9) loses nothing committed. A power cut may lose
 * the last commits; those records are then accepted again if the device resends them (a duplicate, never a loss).
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { DeviceSeqState } from './seq-deduplicator.ts';

const SCHEMA_VERSION = 1;

export class SqliteDedupStore {
  readonly path: string;
  #db: Database.Database | undefined;
  #get: Database.Statement | undefined;
  #put: Database.Statement | undefined;
  #closed = false;

  constructor(opts: { path: string }) {
    if (typeof opts.path !== 'string' || !opts.path) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteDedupStore: path is required');
    }
    this.path = opts.path;
  }

  start(): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDedupStore is closed');
    if (this.#db) return;
    let db: Database.Database | undefined;
    try {
      db = openWalDatabase(this.path, { synchronous: 'NORMAL' });
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this edgeloop (${SCHEMA_VERSION})`);
      if (v < 1) {
        db.exec(`CREATE TABLE IF NOT EXISTS dedup_state (
          device_id TEXT PRIMARY KEY, intervals TEXT NOT NULL, updated_at INTEGER NOT NULL
        ) WITHOUT ROWID; PRAGMA user_version = 1;`);
      }
    } catch (cause) {
      db?.close();
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `cannot open dedup store ${this.path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    this.#db = db;
    this.#get = db.prepare('SELECT intervals FROM dedup_state WHERE device_id = ?');
    this.#put = db.prepare(
      `INSERT INTO dedup_state (device_id, intervals, updated_at) VALUES (?, ?, ?)
       ON CONFLICT(device_id) DO UPDATE SET intervals = excluded.intervals, updated_at = excluded.updated_at`,
    );
  }

  load(deviceId: string): DeviceSeqState | undefined {
    const row = this.#stmt(this.#get).get(deviceId) as { intervals: string } | undefined;
    return row ? { intervals: JSON.parse(row.intervals) as number[] } : undefined;
  }

  /** Upsert several devices' states in one transaction. */
  saveMany(states: Iterable<[string, DeviceSeqState]>, now: number): void {
    const put = this.#stmt(this.#put);
    this.#db!.transaction(() => {
      for (const [id, s] of states) put.run(id, JSON.stringify(s.intervals), now);
    })();
  }

  deviceCount(): number {
    this.#stmt(this.#get);
    return (this.#db!.prepare('SELECT count(*) AS c FROM dedup_state').get() as { c: number }).c;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }

  #stmt(s: Database.Statement | undefined): Database.Statement {
    if (this.#closed || !s) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDedupStore is closed or not started');
    return s;
  }
}
