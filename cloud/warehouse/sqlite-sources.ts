/**
 * Read-only access to the cloud's SQLite stores the warehouse draws on (the registry's versions, the ingest's
 * dedup state). Opened read-only for one query and closed: safe while the cloud runs (WAL readers do not block).
 */
import Database from 'better-sqlite3';

export function readSqlite(path: string, sql: string): unknown[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}
