/**
 * The outbox's SQLite schema (versioned with PRAGMA user_version, migrated at open) and its prepared statements.
 * See sqlite-outbox.ts for the layout and what each table holds.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';

export const OUTBOX_SCHEMA_VERSION = 1;

export const ROWS_PER_INSERT = 64;

/** Bring `db` to OUTBOX_SCHEMA_VERSION; a newer schema is refused (EL_ERR_OUTBOX_SCHEMA). */
export function migrateOutbox(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > OUTBOX_SCHEMA_VERSION) {
    throw new EdgeloopError(
      'EL_ERR_OUTBOX_SCHEMA',
      `${path}: outbox schema version ${version} is newer than this agent's (${OUTBOX_SCHEMA_VERSION}); upgrade the agent`,
    );
  }
  // migrations[i] takes the schema from version i to i + 1. Meta keys added later (seq_ceiling, seq_rollbacks,
  // quarantined) are upserted when first written and read as 0 when absent: no schema change, older agents still
  // open the file.
  const migrations: string[] = [
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE sensors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
     CREATE TABLE telemetry (seq INTEGER PRIMARY KEY, sensor_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL);
     CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL);
     CREATE TABLE marks (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
     INSERT INTO meta (key, value) VALUES ('seq', 0), ('drops_bytes', 0), ('drops_age', 0), ('refused', 0);`,
  ];
  for (let v = version; v < OUTBOX_SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** SQL printing a REAL column as JSON.stringify would: whole numbers (below 9e18, exact in an int64) without ".0" */
function jsonNumber(col: string): string {
  return `iif(${col} = CAST(${col} AS INTEGER) AND abs(${col}) < 9e18, CAST(${col} AS INTEGER), ${col})`;
}

export type OutboxStatements = ReturnType<typeof prepareOutboxStatements>;

/** Every statement the outbox runs, prepared once. */
export function prepareOutboxStatements(db: Database.Database) {
  const values = Array.from({ length: ROWS_PER_INSERT }, () => '(?,?,?,?)').join(',');
  return {
    insert1: db.prepare('INSERT INTO telemetry (seq, sensor_id, ts, value) VALUES (?,?,?,?)'),
    insertN: db.prepare(`INSERT INTO telemetry (seq, sensor_id, ts, value) VALUES ${values}`),
    insertEvent: db.prepare('INSERT INTO events (seq, ts, bytes, body) VALUES (?,?,?,?)'),
    insertSensor: db.prepare('INSERT INTO sensors (name) VALUES (?)'),
    insertMark: db.prepare('INSERT OR REPLACE INTO marks (seq, at) VALUES (?,?)'),
    setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
    /** (key, value): for the meta keys that may be absent */
    putMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    allMeta: db.prepare('SELECT key, value FROM meta').raw(true),
    freelistPages: db.prepare('PRAGMA freelist_count').pluck(),
    // each record's JSON is built inside SQLite (no per-row JS arrays; SQLite >= 3.43 prints REALs so that they
    // read back to the same double, as JSON.stringify does); JS only cuts by bytes and joins. The columns are REAL,
    // which SQLite prints as "1732550400000.0": whole numbers go out as integers, as JSON.stringify writes them.
    selTelemetry: db
      .prepare(
        `SELECT '{"seq":' || t.seq || ',"sensor":' || json_quote(s.name) || ',"ts":' || ${jsonNumber('t.ts')} || ',"value":' || ${jsonNumber('t.value')} || '}'
         FROM telemetry t JOIN sensors s ON s.id = t.sensor_id WHERE t.seq > ? ORDER BY t.seq LIMIT ?`,
      )
      .pluck(),
    selEvents: db.prepare('SELECT seq, bytes, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?').raw(true),
    delTelemetryRange: db.prepare('DELETE FROM telemetry WHERE seq >= ? AND seq <= ?'),
    delEventsRange: db.prepare('DELETE FROM events WHERE seq >= ? AND seq <= ?'),
    oldestTelemetry: db.prepare('SELECT seq, sensor_id FROM telemetry WHERE seq > ? ORDER BY seq LIMIT 1024').raw(true),
    delTelemetryUpTo: db.prepare('DELETE FROM telemetry WHERE seq <= ?'),
    minTelemetry: db.prepare('SELECT min(seq) FROM telemetry').pluck(),
    minEvent: db.prepare('SELECT min(seq) FROM events').pluck(),
    markAtOrBefore: db.prepare('SELECT seq, at FROM marks WHERE seq <= ? ORDER BY seq DESC LIMIT 1').raw(true),
    firstMarkAtOrAfter: db.prepare('SELECT seq FROM marks WHERE at >= ? ORDER BY seq LIMIT 1').pluck(),
    delMarksBefore: db.prepare('DELETE FROM marks WHERE seq < ?'),
    sumTelemetryRange: db
      .prepare('SELECT sensor_id, count(*) FROM telemetry WHERE seq >= ? AND seq <= ? GROUP BY sensor_id')
      .raw(true),
    sumEventsRange: db
      .prepare('SELECT count(*), coalesce(sum(bytes), 0) FROM events WHERE seq >= ? AND seq <= ?')
      .raw(true),
  };
}
