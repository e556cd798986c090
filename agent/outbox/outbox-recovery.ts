/**
 * What the outbox does with a damaged database file: detect it (`PRAGMA quick_check` at open, or SQLite reporting
 * corruption while opening), move it aside under a timestamped name (quarantine: kept for the operator, never
 * written to again) and read back what can still be read (salvage).
 *
 * Salvage reads each table by key ranges in pages; a range whose read fails is split in halves until the failing
 * part is at most SKIP_BELOW keys wide, which is then skipped (counted). Healthy parts of a damaged B-tree are read
 * in full; what lies under a destroyed page is lost and counted as such.
 */
import Database from 'better-sqlite3';
import { existsSync, renameSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../lib/logger.ts';
import type { OutboxStatements } from './outbox-schema.ts';

/** SQLite found the file damaged or not a database at all */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** `PRAGMA quick_check`: [] when the file is sound, else SQLite's first problems (at most 10). */
export function quickCheck(db: Database.Database): string[] {
  const rows = db.pragma('quick_check(10)', { simple: false }) as Array<{ quick_check: string }>;
  const msgs = rows.map((r) => r.quick_check);
  return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
}

/**
 * Rename `path` (and its WAL, which belongs to it) to `<path>.corrupt-<UTC timestamp>[-wal]`; the shared-memory
 * index is derived state and is deleted. Returns the new name of the database file.
 */
export function quarantineFiles(path: string, now: number): string {
  const target = `${path}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  if (existsSync(path)) renameSync(path, target);
  if (existsSync(`${path}-wal`)) renameSync(`${path}-wal`, `${target}-wal`);
  try {
    unlinkSync(`${path}-shm`);
  } catch {
    /* there was none */
  }
  return target;
}

export type SalvagedTelemetry = [seq: number, sensor: string, ts: number, value: number];
export type SalvagedEvent = [seq: number, ts: number, bytes: number, body: string];

export interface SalvageSink {
  telemetry(rows: SalvagedTelemetry[]): void;
  events(rows: SalvagedEvent[]): void;
}

export interface SalvageResult {
  /** the meta table's counters, as far as readable */
  meta: Map<string, number>;
  telemetry: number;
  events: number;
  /** readings whose sensor name could not be read (not salvaged) */
  orphans: number;
  /** key ranges that could not be read and were skipped */
  skippedRanges: number;
  /** highest seq found in any readable row or in meta */
  maxSeq: number;
}

const PAGE_ROWS = 4096;
const SKIP_BELOW = 64;

/**
 * Read what is readable from the outbox file `file` into `sink`, in seq order per table. `maxSeqHint` bounds the
 * seq ranges searched when the file's own counter is unreadable. Never throws: an unreadable file salvages nothing.
 */
export function salvageOutbox(file: string, maxSeqHint: number, sink: SalvageSink): SalvageResult {
  const res: SalvageResult = { meta: new Map(), telemetry: 0, events: 0, orphans: 0, skippedRanges: 0, maxSeq: 0 };
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch {
    return res;
  }
  try {
    try {
      db.pragma('cell_size_check = ON');
      // a file shorter than its header says is refused as a whole unless the schema is "writable" (which needs
      // better-sqlite3's defensive mode off); nothing is written (query_only), the pages that are there can be read
      db.unsafeMode(true);
      db.pragma('writable_schema = ON');
      db.pragma('query_only = ON');
    } catch {
      return res; // not even the header is readable
    }
    tryRead(() => {
      for (const [k, v] of db.prepare('SELECT key, value FROM meta').raw(true).all() as [string, number][])
        res.meta.set(k, v);
    });
    const metaSeq = res.meta.get('seq') ?? 0;
    let hi = Math.max(metaSeq, maxSeqHint);
    tryRead(() => {
      hi = Math.max(
        hi,
        ...[
          db.prepare('SELECT max(seq) FROM telemetry').pluck().get(),
          db.prepare('SELECT max(seq) FROM events').pluck().get(),
        ].map((x) => Number(x ?? 0)),
      );
    });
    const sensors = new Map<number, string>();
    readRanges(
      db,
      'SELECT id, name FROM sensors WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?',
      1,
      1 << 20,
      res,
      (rows: [number, string][]) => {
        for (const [id, name] of rows) sensors.set(id, name);
      },
    );
    readRanges(
      db,
      'SELECT seq, sensor_id, ts, value FROM telemetry WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
      1,
      hi,
      res,
      (rows: [number, number, number, number][]) => {
        const out: SalvagedTelemetry[] = [];
        for (const [seq, id, ts, value] of rows) {
          const name = sensors.get(id);
          if (name === undefined) res.orphans++;
          else out.push([seq, name, ts, value]);
          res.maxSeq = Math.max(res.maxSeq, seq);
        }
        res.telemetry += out.length;
        if (out.length) sink.telemetry(out);
      },
    );
    readRanges(
      db,
      'SELECT seq, ts, bytes, body FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
      1,
      hi,
      res,
      (rows: SalvagedEvent[]) => {
        for (const r of rows) res.maxSeq = Math.max(res.maxSeq, r[0]);
        res.events += rows.length;
        if (rows.length) sink.events(rows);
      },
    );
    res.maxSeq = Math.max(res.maxSeq, metaSeq);
    return res;
  } finally {
    db.close();
  }
}

function tryRead(fn: () => void): void {
  try {
    fn();
  } catch {
    /* unreadable: salvage goes on without it */
  }
}

/** Page through keys lo..hi with `sql` (params: from, to, limit); failing ranges are split, then skipped. */
function readRanges<R extends [number, ...unknown[]]>(
  db: Database.Database,
  sql: string,
  lo: number,
  hi: number,
  res: SalvageResult,
  emit: (rows: R[]) => void,
): void {
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(sql).raw(true);
  } catch {
    res.skippedRanges++;
    return; // the schema itself is unreadable
  }
  const todo: Array<[number, number]> = [[lo, hi]];
  while (todo.length > 0) {
    let [from, to] = todo.pop()!;
    while (from <= to) {
      let rows: R[];
      try {
        rows = stmt.all(from, to, PAGE_ROWS) as R[];
      } catch {
        if (to - from < SKIP_BELOW) {
          res.skippedRanges++;
        } else {
          const mid = from + Math.floor((to - from) / 2);
          todo.push([mid + 1, to], [from, mid]);
        }
        break;
      }
      if (rows.length > 0) emit(rows);
      if (rows.length < PAGE_ROWS) break;
      from = rows[rows.length - 1]![0] + 1;
    }
  }
}

/**
 * Salvage the quarantined file `from` into the fresh outbox `db` (rows with their seqs; salvaged rows count as
 * accepted `at`), and store its counters with seq set above everything known (`seqFloor`: the high-water mark).
 * Returns what was salvaged, the seq the outbox continues from and the quarantine count.
 */
export function copySalvage(
  db: Database.Database,
  st: OutboxStatements,
  from: string,
  seqFloor: number,
  at: number,
  log: Logger,
): { sal: SalvageResult | undefined; seq: number; quarantined: number } {
  const sensorIds = new Map<string, number>();
  const sensorId = (name: string): number => {
    let id = sensorIds.get(name);
    if (id === undefined) sensorIds.set(name, (id = Number(st.insertSensor.run(name).lastInsertRowid)));
    return id;
  };
  const insertTelemetry = db.transaction((rows: SalvagedTelemetry[]) => {
    st.insertMark.run(rows[0]![0], at);
    for (const [seq, name, ts, value] of rows) st.insert1.run(seq, sensorId(name), ts, value);
  });
  const insertEvents = db.transaction((rows: SalvagedEvent[]) => {
    st.insertMark.run(rows[0]![0], at);
    for (const [seq, ts, bytes, body] of rows) st.insertEvent.run(seq, ts, bytes, body);
  });
  let sal: SalvageResult | undefined;
  try {
    sal = salvageOutbox(from, seqFloor, { telemetry: insertTelemetry, events: insertEvents });
  } catch (err) {
    log.error({ err }, 'outbox salvage stopped early');
  }
  const old = sal?.meta ?? new Map<string, number>();
  const seq = Math.max(sal?.maxSeq ?? 0, seqFloor);
  const quarantined = (old.get('quarantined') ?? 0) + 1;
  try {
    db.transaction(() => {
      for (const [k, v] of [
        ['seq', seq],
        ['seq_ceiling', seq],
        ['drops_bytes', old.get('drops_bytes') ?? 0],
        ['drops_age', old.get('drops_age') ?? 0],
        ['refused', old.get('refused') ?? 0],
        ['seq_rollbacks', old.get('seq_rollbacks') ?? 0],
        ['quarantined', quarantined],
      ] as const)
        st.putMeta.run(k, v);
    })();
  } catch (err) {
    log.error({ err }, 'outbox counters after salvage not stored');
  }
  return { sal, seq, quarantined };
}
