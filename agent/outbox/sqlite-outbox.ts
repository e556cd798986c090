/**
 * SqliteOutbox: the agent's durable queue (better-sqlite3, WAL). A reading is "accepted" only once the transaction
 * holding it has committed; rows are deleted only after the broker's PUBACK for the batch that carried them.
 *
 * Layout (schema version 1):
 *   meta(key, value)                 seq counter, drop and refusal counters, schema version (user_version)
 *   sensors(id, name)                sensor ids interned once, so a telemetry row is 4 small columns
 *   telemetry(seq PK, sensor_id, ts, value)
 *   events(seq PK, ts, bytes, body)  body = the event's JSON, with its seq
 *   marks(seq PK, at)                one row per intake commit: first seq of the commit and when it committed
 *                                    (ages are computed from marks, so rows carry no acceptance time)
 *
 * Seq: one per-device counter across telemetry and events, advanced and persisted in the same transaction as the
 * rows, so a restart never reuses a seq and a committed row always has its seq.
 *
 * Bound and overflow policy (exact, counted): the outbox holds at most `maxBytes` of accounted bytes (telemetry:
 * 48 + sensor-id length per reading; events: their JSON length) and telemetry at most `maxAgeMs` old. To admit
 * new records over the byte bound, the oldest telemetry is deleted first, in the same transaction, and counted in
 * `drops.bytes`; telemetry older than `maxAgeMs` is deleted and counted in `drops.age`. Events are never dropped:
 * when the bound is reached and there is not enough telemetry left to delete, the new records are refused with
 * EL_ERR_OUTBOX_FULL and counted in `refused`.
 *
 * Intake batching: `append()` buffers readings for `intakeLingerMs` or `intakeMaxRows` rows, then commits them
 * in one transaction (one fsync under durability=full) and resolves every caller with its seq range.
 *
 * Durability: WAL with synchronous=NORMAL (default) or FULL. Under NORMAL a power cut can lose the transactions
 * committed since the last WAL checkpoint sync (at most the last few hundred ms of accepted readings; the database
 * itself stays consistent); under FULL every acknowledged commit survives a power cut. A process crash (kill -9)
 * loses nothing that was acknowledged under either setting.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { channel } from 'node:diagnostics_channel';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AnomalyEvent } from '../../protocol/messages.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';

export const OUTBOX_SCHEMA_VERSION = 1;
/** diagnostics_channel: `{ reason: 'bytes' | 'age' | 'refused', count }` for every drop or refusal */
export const dropChannel = channel('edgeloop:agent:outbox-drop');
/** accounted bytes of one telemetry row besides its sensor id (about its size on the wire) */
export const TELEMETRY_ROW_OVERHEAD = 48;

export interface OutboxReading {
  sensor: string;
  /** device timestamp, ms */
  ts: number;
  value: number;
}

export type OutboxEvent = Omit<AnomalyEvent, 'seq'>;

export interface SeqRange {
  /** first seq assigned (0 when nothing was appended) */
  firstSeq: number;
  lastSeq: number;
}

export type Lane = 'events' | 'telemetry';

export interface OutboxBatch {
  lane: Lane;
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** accounted bytes of the records */
  bytes: number;
  /** the JSON array of the records, ready to embed in a wire message */
  json: string;
  /** drop counter when the batch was cut (ack takes a fast path when no telemetry was dropped since) */
  dropEpoch: number;
}

export interface OutboxStats {
  telemetry: number;
  events: number;
  bytes: number;
  /** age of the oldest record, ms (0 when empty) */
  oldestAgeMs: number;
  lastSeq: number;
  drops: { bytes: number; age: number; events: 0 };
  refused: number;
}

export interface SqliteOutboxOptions {
  /** database file; ':memory:' for tests that do not need durability */
  path: string;
  durability?: 'normal' | 'full';
  /** bound on accounted bytes (see the header), default 256 MiB */
  maxBytes?: number;
  /** telemetry older than this is dropped (counted), ms, default 7 days; 0 = no age bound */
  maxAgeMs?: number;
  /** commit the intake buffer at this many rows, default 4096 */
  intakeMaxRows?: number;
  /** or after this long, ms, default 5 */
  intakeLingerMs?: number;
  /**
   * SQLite page cache, KiB, default 2048. better-sqlite3 builds SQLite with a 16 MiB default cache; the outbox's
   * working set is the tail of two tables, and on a small board those 14 MiB are better left to the OS.
   */
  cacheKiB?: number;
  clock?: Clock;
}

interface Pending {
  start: number;
  count: number;
  resolve: (r: SeqRange) => void;
  reject: (e: Error) => void;
}

const ROWS_PER_INSERT = 64;

/** SQL printing a REAL column as JSON.stringify would: whole numbers (below 9e18, exact in an int64) without ".0" */
function jsonNumber(col: string): string {
  return `iif(${col} = CAST(${col} AS INTEGER) AND abs(${col}) < 9e18, CAST(${col} AS INTEGER), ${col})`;
}

export class SqliteOutbox {
  readonly options: Readonly<Required<Omit<SqliteOutboxOptions, 'clock'>>>;
  readonly #clock: Clock;
  #db: Database.Database | undefined;
  #closed = false;
  // prepared statements (once)
  #st!: {
    insert1: Database.Statement;
    insertN: Database.Statement;
    insertEvent: Database.Statement;
    insertSensor: Database.Statement;
    insertMark: Database.Statement;
    setMeta: Database.Statement;
    selTelemetry: Database.Statement;
    selEvents: Database.Statement;
    delTelemetryRange: Database.Statement;
    delEventsRange: Database.Statement;
    oldestTelemetry: Database.Statement;
    delTelemetryUpTo: Database.Statement;
    minTelemetry: Database.Statement;
    minEvent: Database.Statement;
    markAtOrBefore: Database.Statement;
    firstMarkAtOrAfter: Database.Statement;
    delMarksBefore: Database.Statement;
    sumTelemetryRange: Database.Statement;
    sumEventsRange: Database.Statement;
  };
  #commitTx!: (n: number) => SeqRange;
  #eventsTx!: (events: OutboxEvent[]) => SeqRange;
  #ackTx!: (b: OutboxBatch) => void;
  #pruneTx!: (cutoffSeq: number) => number;
  // state mirrored in memory
  #seq = 0;
  #sensorIds = new Map<string, number>();
  /** per sensor id: accounted bytes of one reading */
  #sensorBytes: number[] = [];
  /** every sensor name is printable ASCII (string length = UTF-8 length of a record) */
  #asciiNames = true;
  #telemetryCount = 0;
  #telemetryBytes = 0;
  #eventCount = 0;
  #eventBytes = 0;
  #dropsBytes = 0;
  #dropsAge = 0;
  #refused = 0;
  /** incremented whenever the policy deletes telemetry */
  #dropEpoch = 0;
  #cursor = { events: 0, telemetry: 0 };
  // intake buffer (columnar)
  #bufSensor: string[] = [];
  #bufTs: number[] = [];
  #bufValue: number[] = [];
  #bufLen = 0;
  #pending: Pending[] = [];
  #timer: TimerHandle | undefined;
  #params: unknown[] = new Array(ROWS_PER_INSERT * 4);
  #listeners = new Set<() => void>();

  constructor(opts: SqliteOutboxOptions) {
    const known = new Set(['path', 'durability', 'maxBytes', 'maxAgeMs', 'intakeMaxRows', 'intakeLingerMs', 'cacheKiB', 'clock']);
    for (const k of Object.keys(opts)) {
      if (!known.has(k)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `SqliteOutbox: unknown option "${k}"`);
    }
    if (typeof opts.path !== 'string' || opts.path.length === 0) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteOutbox: path must be a file path or ":memory:"');
    }
    const o = {
      path: opts.path,
      durability: opts.durability ?? 'normal',
      maxBytes: opts.maxBytes ?? 256 * 1024 * 1024,
      maxAgeMs: opts.maxAgeMs ?? 7 * 24 * 3600 * 1000,
      intakeMaxRows: opts.intakeMaxRows ?? 4096,
      intakeLingerMs: opts.intakeLingerMs ?? 5,
      cacheKiB: opts.cacheKiB ?? 2048,
    };
    if (o.durability !== 'normal' && o.durability !== 'full') {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `SqliteOutbox: durability must be "normal" or "full", got ${JSON.stringify(o.durability)}`);
    }
    for (const k of ['maxBytes', 'maxAgeMs', 'intakeMaxRows', 'intakeLingerMs', 'cacheKiB'] as const) {
      if (!Number.isFinite(o[k]) || o[k] < 0) {
        throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `SqliteOutbox: ${k} must be a non-negative number, got ${o[k]}`);
      }
    }
    if (o.intakeMaxRows < 1) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteOutbox: intakeMaxRows must be >= 1');
    if (!Number.isInteger(o.cacheKiB) || o.cacheKiB < 64) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `SqliteOutbox: cacheKiB must be an integer >= 64, got ${o.cacheKiB}`);
    this.options = Object.freeze(o);
    this.#clock = opts.clock ?? systemClock;
  }

  /** Open (or create and migrate) the database. */
  static open(opts: SqliteOutboxOptions): SqliteOutbox {
    const ob = new SqliteOutbox(opts);
    ob.#open();
    return ob;
  }

  #open(): void {
    if (this.#db) return;
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'outbox is closed');
    const { path } = this.options;
    let db: Database.Database | undefined;
    try {
      db = openWalDatabase(path, { synchronous: this.options.durability === 'full' ? 'FULL' : 'NORMAL', cacheKiB: this.options.cacheKiB });
      db.pragma('temp_store = MEMORY');
      this.#migrate(db);
    } catch (err) {
      db?.close();
      if (err instanceof EdgeloopError) throw err;
      throw new EdgeloopError('EL_ERR_OUTBOX_SCHEMA', `${path}: cannot open outbox: ${(err as Error).message}`, { cause: err });
    }
    this.#db = db;
    this.#prepare(db);
    this.#load(db);
  }

  #migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > OUTBOX_SCHEMA_VERSION) {
      throw new EdgeloopError(
        'EL_ERR_OUTBOX_SCHEMA',
        `${this.options.path}: outbox schema version ${version} is newer than this agent's (${OUTBOX_SCHEMA_VERSION}); upgrade the agent`,
      );
    }
    // migrations[i] takes the schema from version i to i + 1
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

  #prepare(db: Database.Database): void {
    const values = Array.from({ length: ROWS_PER_INSERT }, () => '(?,?,?,?)').join(',');
    this.#st = {
      insert1: db.prepare('INSERT INTO telemetry (seq, sensor_id, ts, value) VALUES (?,?,?,?)'),
      insertN: db.prepare(`INSERT INTO telemetry (seq, sensor_id, ts, value) VALUES ${values}`),
      insertEvent: db.prepare('INSERT INTO events (seq, ts, bytes, body) VALUES (?,?,?,?)'),
      insertSensor: db.prepare('INSERT INTO sensors (name) VALUES (?)'),
      insertMark: db.prepare('INSERT OR REPLACE INTO marks (seq, at) VALUES (?,?)'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
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
      sumTelemetryRange: db.prepare('SELECT sensor_id, count(*) FROM telemetry WHERE seq >= ? AND seq <= ? GROUP BY sensor_id').raw(true),
      sumEventsRange: db.prepare('SELECT count(*), coalesce(sum(bytes), 0) FROM events WHERE seq >= ? AND seq <= ?').raw(true),
    };
    this.#commitTx = db.transaction((n: number) => this.#commitRows(n));
    this.#eventsTx = db.transaction((events: OutboxEvent[]) => this.#commitEvents(events));
    this.#ackTx = db.transaction((b: OutboxBatch) => this.#ackRows(b));
    this.#pruneTx = db.transaction((cutoffSeq: number) => this.#dropTelemetryBelow(cutoffSeq));
  }

  #load(db: Database.Database): void {
    const meta = new Map((db.prepare('SELECT key, value FROM meta').raw(true).all() as [string, number][]).map(([k, v]) => [k, v]));
    this.#seq = meta.get('seq') ?? 0;
    this.#dropsBytes = meta.get('drops_bytes') ?? 0;
    this.#dropsAge = meta.get('drops_age') ?? 0;
    this.#refused = meta.get('refused') ?? 0;
    this.#sensorIds.clear();
    this.#asciiNames = true;
    for (const [id, name] of db.prepare('SELECT id, name FROM sensors').raw(true).all() as [number, string][]) {
      this.#registerSensor(id, name);
    }
    this.#telemetryCount = 0;
    this.#telemetryBytes = 0;
    for (const [id, n] of db.prepare('SELECT sensor_id, count(*) FROM telemetry GROUP BY sensor_id').raw(true).all() as [number, number][]) {
      this.#telemetryCount += n;
      this.#telemetryBytes += n * this.#sensorBytes[id]!;
    }
    const [ec, eb] = db.prepare('SELECT count(*), coalesce(sum(bytes), 0) FROM events').raw(true).get() as [number, number];
    this.#eventCount = ec;
    this.#eventBytes = eb;
  }

  #registerSensor(id: number, name: string): void {
    this.#sensorIds.set(name, id);
    this.#sensorBytes[id] = TELEMETRY_ROW_OVERHEAD + Buffer.byteLength(name);
    // json_quote leaves non-ASCII as UTF-8: byte lengths then need Buffer.byteLength
    if (!/^[\x20-\x7e]*$/.test(name)) this.#asciiNames = false;
  }

  #sensorId(name: string): number {
    let id = this.#sensorIds.get(name);
    if (id === undefined) {
      id = Number(this.#st.insertSensor.run(name).lastInsertRowid);
      this.#registerSensor(id, name);
    }
    return id;
  }

  #dbOrThrow(): Database.Database {
    if (this.#closed || !this.#db) throw new EdgeloopError('EL_ERR_CLOSED', 'outbox is closed');
    return this.#db;
  }

  // ---------- intake ----------

  /**
   * Buffer readings and resolve with their seq range once the transaction holding them has committed.
   * Rejects with EL_ERR_OUTBOX_FULL when the bound cannot be met by dropping telemetry (see the header).
   * The caller must not mutate `readings` before the promise settles.
   */
  append(readings: ArrayLike<OutboxReading>): Promise<SeqRange> {
    this.#dbOrThrow();
    const n = readings.length;
    if (n === 0) return Promise.resolve({ firstSeq: 0, lastSeq: 0 });
    for (let i = 0; i < n; i++) {
      const r = readings[i]!;
      this.#bufSensor.push(r.sensor);
      this.#bufTs.push(r.ts);
      this.#bufValue.push(r.value);
    }
    const start = this.#bufLen;
    this.#bufLen += n;
    const p = new Promise<SeqRange>((resolve, reject) => this.#pending.push({ start, count: n, resolve, reject }));
    if (this.#bufLen >= this.options.intakeMaxRows) this.flushIntake();
    else if (!this.#timer) this.#timer = this.#clock.setTimeout(() => this.flushIntake(), this.options.intakeLingerMs);
    return p;
  }

  /** Commit the intake buffer now (synchronously). */
  flushIntake(): void {
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const n = this.#bufLen;
    if (n === 0 || !this.#db) return;
    const pending = this.#pending;
    this.#pending = [];
    let range: SeqRange;
    try {
      range = this.#commitTx(n);
    } catch (err) {
      this.#clearBuffer();
      // the transaction rolled back: re-read what memory mirrors (sensor ids, counters)
      this.#load(this.#db!);
      if (isEdgeloopFull(err)) {
        this.#refused += n;
        if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'refused', count: n });
        try {
          this.#st.setMeta.run(this.#refused, 'refused');
        } catch {
          /* counted in memory */
        }
      }
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of pending) p.reject(e);
      return;
    }
    this.#clearBuffer();
    for (const p of pending) p.resolve({ firstSeq: range.firstSeq + p.start, lastSeq: range.firstSeq + p.start + p.count - 1 });
    this.#notify();
  }

  #clearBuffer(): void {
    this.#bufSensor.length = 0;
    this.#bufTs.length = 0;
    this.#bufValue.length = 0;
    this.#bufLen = 0;
  }

  /** inside the transaction */
  #commitRows(n: number): SeqRange {
    const sensors = this.#bufSensor;
    const tss = this.#bufTs;
    const vals = this.#bufValue;
    const ids = new Array<number>(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const id = this.#sensorId(sensors[i]!);
      ids[i] = id;
      bytes += this.#sensorBytes[id]!;
    }
    this.#makeRoom(bytes, false);
    const first = this.#seq + 1;
    this.#st.insertMark.run(first, this.#clock.now());
    let i = 0;
    const params = this.#params;
    for (; i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) {
        const k = j * 4;
        params[k] = first + i + j;
        params[k + 1] = ids[i + j];
        params[k + 2] = tss[i + j];
        params[k + 3] = vals[i + j];
      }
      this.#st.insertN.run(params);
    }
    for (; i < n; i++) this.#st.insert1.run(first + i, ids[i], tss[i], vals[i]);
    this.#seq = first + n - 1;
    this.#st.setMeta.run(this.#seq, 'seq');
    this.#telemetryCount += n;
    this.#telemetryBytes += bytes;
    return { firstSeq: first, lastSeq: this.#seq };
  }

  /**
   * Delete oldest telemetry until `bytes` more fit under maxBytes. Throws EL_ERR_OUTBOX_FULL (rolling back the
   * transaction) when even all telemetry would not make room; `forEvents` only changes the message.
   */
  #makeRoom(bytes: number, forEvents: boolean): void {
    const max = this.options.maxBytes;
    const over = this.#telemetryBytes + this.#eventBytes + bytes - max;
    if (over <= 0) return;
    if (this.#eventBytes + bytes > max) {
      throw new EdgeloopError(
        'EL_ERR_OUTBOX_FULL',
        `outbox is full: ${this.#eventCount} events (${this.#eventBytes} bytes) are waiting and events are never dropped; ` +
          `${forEvents ? 'new events' : 'new telemetry'} (${bytes} bytes) refused until the outbox drains (maxBytes ${max})`,
        { details: { maxBytes: max, eventBytes: this.#eventBytes, bytes } },
      );
    }
    let freed = 0;
    let dropped = 0;
    let upTo = 0;
    let after = 0;
    while (freed < over) {
      const rows = this.#st.oldestTelemetry.all(after) as [number, number][];
      if (rows.length === 0) break;
      for (const [seq, id] of rows) {
        freed += this.#sensorBytes[id]!;
        dropped++;
        upTo = seq;
        if (freed >= over) break;
      }
      after = upTo;
    }
    this.#st.delTelemetryUpTo.run(upTo);
    this.#dropEpoch++;
    this.#telemetryCount -= dropped;
    this.#telemetryBytes -= freed;
    this.#dropsBytes += dropped;
    this.#st.setMeta.run(this.#dropsBytes, 'drops_bytes');
    if (dropChannel.hasSubscribers && dropped > 0) dropChannel.publish({ reason: 'bytes', count: dropped });
  }

  /** Append events (committed immediately, in one transaction); they share the seq counter with telemetry. */
  appendEvents(events: OutboxEvent[]): SeqRange {
    this.#dbOrThrow();
    if (events.length === 0) return { firstSeq: 0, lastSeq: 0 };
    // telemetry buffered before these events gets the smaller seqs
    this.flushIntake();
    try {
      const r = this.#eventsTx(events);
      this.#notify();
      return r;
    } catch (err) {
      this.#load(this.#db!);
      if (isEdgeloopFull(err)) {
        this.#refused += events.length;
        if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'refused', count: events.length });
        this.#st.setMeta.run(this.#refused, 'refused');
      }
      throw err;
    }
  }

  #commitEvents(events: OutboxEvent[]): SeqRange {
    const first = this.#seq + 1;
    const bodies: string[] = [];
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const body = JSON.stringify({ ...events[i], seq: first + i });
      bodies.push(body);
      total += Buffer.byteLength(body);
    }
    this.#makeRoom(total, true);
    this.#st.insertMark.run(first, this.#clock.now());
    for (let i = 0; i < events.length; i++) {
      this.#st.insertEvent.run(first + i, events[i]!.ts, Buffer.byteLength(bodies[i]!), bodies[i]);
    }
    this.#seq = first + events.length - 1;
    this.#st.setMeta.run(this.#seq, 'seq');
    this.#eventCount += events.length;
    this.#eventBytes += total;
    return { firstSeq: first, lastSeq: this.#seq };
  }

  /**
   * Take the next seq for a message that does not go through the outbox (model reports): persisted before it is
   * returned, so it is never reused after a restart. Commits the intake buffer first (seq order = commit order).
   */
  reserveSeq(): number {
    this.#dbOrThrow();
    this.flushIntake();
    this.#st.setMeta.run(this.#seq + 1, 'seq');
    return ++this.#seq;
  }

  // ---------- drain ----------

  /**
   * The next batch of a lane after the rows already handed out (the lane's cursor), cut at `maxRecords` records
   * or before `maxBytes` of JSON; advances the cursor. undefined when the lane has nothing unsent.
   */
  nextBatch(lane: Lane, maxRecords: number, maxBytes: number): OutboxBatch | undefined {
    this.#dbOrThrow();
    const cursor = this.#cursor[lane];
    const parts: string[] = [];
    let jsonBytes = 2; // [ ]
    let bytes = 0;
    let first = 0;
    let last = 0;
    if (lane === 'telemetry') {
      const rows = this.#st.selTelemetry.all(cursor, maxRecords) as string[];
      if (rows.length === 0) return undefined;
      const ascii = this.#asciiNames;
      let n = 0;
      for (; n < rows.length; n++) {
        const r = rows[n]!;
        const add = (ascii ? r.length : Buffer.byteLength(r)) + (n > 0 ? 1 : 0);
        if (n > 0 && jsonBytes + add > maxBytes) break;
        jsonBytes += add;
      }
      if (n < rows.length) rows.length = n;
      first = seqOf(rows[0]!);
      last = seqOf(rows[n - 1]!);
      for (const [id, c] of this.#st.sumTelemetryRange.all(first, last) as [number, number][]) bytes += c * this.#sensorBytes[id]!;
      this.#cursor.telemetry = last;
      return { lane, firstSeq: first, lastSeq: last, count: n, bytes, json: `[${rows.join(',')}]`, dropEpoch: this.#dropEpoch };
    } else {
      const rows = this.#st.selEvents.all(cursor, maxRecords) as [number, number, string][];
      for (const [seq, b, body] of rows) {
        const add = b + (parts.length > 0 ? 1 : 0);
        if (parts.length > 0 && jsonBytes + add > maxBytes) break;
        parts.push(body);
        jsonBytes += add;
        bytes += b;
        if (first === 0) first = seq;
        last = seq;
      }
    }
    if (parts.length === 0) return undefined;
    this.#cursor[lane] = last;
    return { lane, firstSeq: first, lastSeq: last, count: parts.length, bytes, json: `[${parts.join(',')}]`, dropEpoch: this.#dropEpoch };
  }

  /** The broker acknowledged `batch`: delete its rows (one transaction). */
  ack(batch: OutboxBatch): void {
    if (!this.#db) return;
    this.#ackTx(batch);
    this.#notify();
  }

  #ackRows(b: OutboxBatch): void {
    if (b.lane === 'telemetry' && b.dropEpoch === this.#dropEpoch) {
      // no drop since the batch was cut: its rows are all there (seqs are never reused), delete by range
      this.#st.delTelemetryRange.run(b.firstSeq, b.lastSeq);
      this.#telemetryCount -= b.count;
      this.#telemetryBytes -= b.bytes;
    } else if (b.lane === 'telemetry') {
      // rows of the batch may have been dropped by the policy meanwhile: count what is really deleted
      let count = 0;
      let bytes = 0;
      for (const [id, n] of this.#st.sumTelemetryRange.all(b.firstSeq, b.lastSeq) as [number, number][]) {
        count += n;
        bytes += n * this.#sensorBytes[id]!;
      }
      if (count > 0) this.#st.delTelemetryRange.run(b.firstSeq, b.lastSeq);
      this.#telemetryCount -= count;
      this.#telemetryBytes -= bytes;
    } else {
      const [count, bytes] = this.#st.sumEventsRange.get(b.firstSeq, b.lastSeq) as [number, number];
      if (count > 0) this.#st.delEventsRange.run(b.firstSeq, b.lastSeq);
      this.#eventCount -= count;
      this.#eventBytes -= bytes;
    }
  }

  /** Hand out every remaining row again (after a connection loss, once nothing is in flight). */
  rewind(): void {
    this.#cursor.events = 0;
    this.#cursor.telemetry = 0;
  }

  /**
   * Apply the age bound: delete telemetry accepted before now - maxAgeMs (counted in drops.age); also forgets
   * marks that no longer cover any row. Returns the number of readings dropped.
   */
  prune(): number {
    const db = this.#dbOrThrow();
    void db;
    let dropped = 0;
    if (this.options.maxAgeMs > 0 && this.#telemetryCount > 0) {
      const cutoff = this.#clock.now() - this.options.maxAgeMs;
      const firstYoung = this.#st.firstMarkAtOrAfter.get(cutoff) as number | undefined;
      const below = firstYoung ?? this.#seq + 1;
      dropped = this.#pruneTx(below);
    }
    const min = this.#minSeq();
    const mark = this.#st.markAtOrBefore.get(min ?? this.#seq + 1) as [number, number] | undefined;
    if (mark) this.#st.delMarksBefore.run(mark[0]);
    if (dropped > 0) this.#notify();
    return dropped;
  }

  #dropTelemetryBelow(cutoffSeq: number): number {
    let count = 0;
    let bytes = 0;
    for (const [id, n] of this.#st.sumTelemetryRange.all(0, cutoffSeq - 1) as [number, number][]) {
      count += n;
      bytes += n * this.#sensorBytes[id]!;
    }
    if (count === 0) return 0;
    this.#st.delTelemetryUpTo.run(cutoffSeq - 1);
    this.#dropEpoch++;
    this.#telemetryCount -= count;
    this.#telemetryBytes -= bytes;
    this.#dropsAge += count;
    this.#st.setMeta.run(this.#dropsAge, 'drops_age');
    if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'age', count });
    return count;
  }

  #minSeq(): number | undefined {
    const a = this.#st.minTelemetry.get() as number | null;
    const b = this.#st.minEvent.get() as number | null;
    if (a === null) return b ?? undefined;
    if (b === null) return a;
    return Math.min(a, b);
  }

  // ---------- figures ----------

  get lastSeq(): number {
    return this.#seq;
  }
  get telemetryCount(): number {
    return this.#telemetryCount;
  }
  get telemetryBytes(): number {
    return this.#telemetryBytes;
  }
  get eventCount(): number {
    return this.#eventCount;
  }
  /** readings buffered in memory and not yet committed */
  get intakeBuffered(): number {
    return this.#bufLen;
  }

  stats(): OutboxStats {
    let oldestAgeMs = 0;
    if (this.#db && this.#telemetryCount + this.#eventCount > 0) {
      const min = this.#minSeq();
      if (min !== undefined) {
        const mark = this.#st.markAtOrBefore.get(min) as [number, number] | undefined;
        if (mark) oldestAgeMs = Math.max(0, this.#clock.now() - mark[1]);
      }
    }
    return {
      telemetry: this.#telemetryCount,
      events: this.#eventCount,
      bytes: this.#telemetryBytes + this.#eventBytes,
      oldestAgeMs,
      lastSeq: this.#seq,
      drops: { bytes: this.#dropsBytes, age: this.#dropsAge, events: 0 },
      refused: this.#refused,
    };
  }

  /** Called after every commit, ack or prune (the publisher pumps on it). */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #notify(): void {
    for (const fn of this.#listeners) fn();
  }

  /** The connection's settings as SQLite reports them (ops and tests: what the pragmas really are). */
  sqliteSettings(): { journalMode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; cacheKiB: number } {
    const db = this.#dbOrThrow();
    const cache = db.pragma('cache_size', { simple: true }) as number;
    const page = db.pragma('page_size', { simple: true }) as number;
    const sync = db.pragma('synchronous', { simple: true }) as number;
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: (['off', 'normal', 'full', 'extra'] as const)[sync] ?? 'normal',
      // negative: KiB; positive: pages
      cacheKiB: cache < 0 ? -cache : (cache * page) / 1024,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Commit what is buffered, then close the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flushIntake();
    } finally {
      this.#closed = true;
      if (this.#timer) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const p of this.#pending) p.reject(new EdgeloopError('EL_ERR_CLOSED', 'outbox closed'));
      this.#pending = [];
      this.#listeners.clear();
      const db = this.#db;
      this.#db = undefined;
      db?.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** seq of a record built by selTelemetry: `{"seq":123,...` */
function seqOf(json: string): number {
  return Number(json.slice(7, json.indexOf(',', 7)));
}

function isEdgeloopFull(err: unknown): boolean {
  return err instanceof EdgeloopError && err.code === 'EL_ERR_OUTBOX_FULL';
}
