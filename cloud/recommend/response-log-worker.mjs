// Worker thread of SqliteResponseLog (plain JavaScript so it runs under any loader): owns the log's SQLite
// connection, so inserts, JSON encoding and WAL checkpoints never hold the service's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';

const Database = createRequire(import.meta.url)('better-sqlite3');
const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
// an analytics log: a power cut may lose the last rows; an application crash loses nothing that was written
db.pragma('synchronous = OFF');
db.exec(`CREATE TABLE IF NOT EXISTS recommend_log (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, entity_id TEXT NOT NULL, variant TEXT NOT NULL,
  shadow INTEGER NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, feature_time INTEGER,
  feature_age_ms INTEGER, top_action TEXT, result TEXT NOT NULL)`);
db.exec('CREATE INDEX IF NOT EXISTS recommend_log_entity ON recommend_log(entity_id, ts)');
const insert = db.prepare(
  'INSERT INTO recommend_log (ts, entity_id, variant, shadow, model, version, feature_time, feature_age_ms, top_action, result) VALUES (?,?,?,?,?,?,?,?,?,?)',
);
const write = db.transaction((rows) => {
  for (const e of rows) {
    insert.run(
      e.ts,
      e.entityId,
      e.variant,
      e.shadow ? 1 : 0,
      e.model,
      e.version,
      e.featureTime,
      e.featureAgeMs,
      e.top,
      JSON.stringify(e.result),
    );
  }
});
parentPort.postMessage({ type: 'ready' });
parentPort.on('message', (m) => {
  try {
    if (m.type === 'rows') write(m.rows);
    else if (m.type === 'flush') parentPort.postMessage({ type: 'flushed', id: m.id });
    else if (m.type === 'close') {
      db.close();
      parentPort.postMessage({ type: 'closed' });
      parentPort.close();
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message ? err.message : err) });
  }
});
