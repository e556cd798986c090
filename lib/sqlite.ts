/**
 * Opening edgeloop's SQLite files (better-sqlite3): every store runs WAL with a stated `synchronous` level, a busy
 * timeout for a second connection (tools, `--only` processes) and a bounded page cache — better-sqlite3 builds
 * SQLite with a 16 MiB default cache per connection, which a small store does not need.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface OpenSqliteOptions {
  synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
  /** wait this long for a lock held by another connection, ms; default 5000 */
  busyTimeoutMs?: number;
  /** page cache, KiB; default 2048 */
  cacheKiB?: number;
}

/** Create the folder, open `path` (or ':memory:'), apply the pragmas; a failing pragma closes the handle and throws. */
export function openWalDatabase(path: string, o: OpenSqliteOptions): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${o.synchronous}`);
    db.pragma(`busy_timeout = ${o.busyTimeoutMs ?? 5000}`);
    db.pragma(`cache_size = ${-(o.cacheKiB ?? 2048)}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
