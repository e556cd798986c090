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
 * Full disk (disk-guard.ts): new records are also refused with EL_ERR_OUTBOX_FULL (counted in `refused`) while the
 * volume would keep less than `minFreeBytes` free; deleting acknowledged rows never fails for lack of space while the
 * reserve file can be given back; SQLITE_FULL anywhere on the intake path becomes EL_ERR_OUTBOX_FULL.
 *
 * Seq high-water mark (seq-hwm.ts): a ceiling on every seq handed out, in a file outside SQLite, recorded in meta in
 * the commit that first uses it. At open, a file ceiling above the database's means committed transactions are gone
 * (a lost WAL): the counter restarts above the ceiling, and the rollback is logged and counted.
 *
 * Integrity (outbox-open.ts, outbox-recovery.ts): `PRAGMA quick_check` at open; a damaged file is renamed
 * `<path>.corrupt-<timestamp>`, what is readable is copied into a fresh outbox, and EL_ERR_OUTBOX_CORRUPT is logged,
 * counted and kept in `incidents`.
 *
 * Durability: WAL with synchronous=NORMAL (default) or FULL. Under NORMAL a power cut can lose the transactions
 * committed since the last WAL checkpoint sync (at most the last few hundred ms of accepted readings; the database
 * itself stays consistent); under FULL every acknowledged commit survives a power cut. A process crash (kill -9)
 * loses nothing that was acknowledged under either setting.
 */
import type Database from 'better-sqlite3';
import { channel } from 'node:diagnostics_channel';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import {
  TELEMETRY_ROW_OVERHEAD,
  resolveOutboxOptions,
  type Lane,
  type OutboxBatch,
  type OutboxEvent,
  type OutboxIncident,
  type OutboxReading,
  type OutboxStats,
  type ResolvedOutboxOptions,
  type SeqRange,
  type SqliteOutboxOptions,
} from './outbox-options.ts';
import { ROWS_PER_INSERT, prepareOutboxStatements, type OutboxStatements } from './outbox-schema.ts';
import { DISK_BYTES_PER_ACCOUNTED_BYTE, DiskGuard, fullDiskError, isDiskFull } from './disk-guard.ts';
import { SeqHighWaterMark, readSeqHwm } from './seq-hwm.ts';
import { openOutboxDatabase } from './outbox-open.ts';

export { OUTBOX_SCHEMA_VERSION } from './outbox-schema.ts';
/** diagnostics_channel: `{ reason: 'bytes' | 'age' | 'refused', count }` for every drop or refusal */
export const dropChannel = channel('edgeloop:agent:outbox-drop');
/** diagnostics_channel: `{ code, message, details }` for a seq rollback or a quarantined file found at open */
export const incidentChannel = channel('edgeloop:agent:outbox-incident');
export { TELEMETRY_ROW_OVERHEAD } from './outbox-options.ts';
export type {
  Lane,
  OutboxBatch,
  OutboxEvent,
  OutboxIncident,
  OutboxReading,
  OutboxStats,
  SeqRange,
  SqliteOutboxOptions,
} from './outbox-options.ts';

interface Pending {
  start: number;
  count: number;
  resolve: (r: SeqRange) => void;
  reject: (e: Error) => void;
}

export class SqliteOutbox {
  readonly options: ResolvedOutboxOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #db: Database.Database | undefined;
  #closed = false;
  #st!: OutboxStatements;
  #pageSize = 4096;
  #disk: DiskGuard | undefined;
  #reserveOk = true;
  #hwm: SeqHighWaterMark | undefined;
  /** the high-water mark as the database recorded it */
  #dbCeiling = 0;
  #seqRollbacks = 0;
  #quarantined = 0;
  #incidents: OutboxIncident[] = [];
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
  /** refusals stored in meta, and those not stored yet (the disk was full): written with the next write that succeeds */
  #refusedSaved = 0;
  #refusedPending = 0;
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
    this.options = resolveOutboxOptions(opts);
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
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
    const onFile = path !== ':memory:';
    let hwm = { ceiling: 0, unreadable: false };
    if (onFile) {
      this.#disk = new DiskGuard({
        path,
        reserveBytes: this.options.reserveBytes,
        minFreeBytes: this.options.minFreeBytes,
      });
      hwm = readSeqHwm(this.#hwmPath());
      if (hwm.unreadable)
        this.#log.warn(
          { file: this.#hwmPath() },
          'seq high-water mark file unreadable: rewritten from what the database recorded',
        );
    }
    const opened = openOutboxDatabase({
      options: this.options,
      disk: this.#disk,
      hwmCeiling: hwm.ceiling,
      now: this.#clock.now(),
      log: this.#log,
      load: (db) => {
        this.#st = prepareOutboxStatements(db);
        this.#pageSize = db.pragma('page_size', { simple: true }) as number;
        this.#load(db);
      },
      onReserveReleased: () => (this.#reserveOk = false),
    });
    const db = opened.db;
    this.#db = db;
    this.#commitTx = db.transaction((n: number) => this.#commitRows(n));
    this.#eventsTx = db.transaction((events: OutboxEvent[]) => this.#commitEvents(events));
    this.#ackTx = db.transaction((b: OutboxBatch) => this.#ackRows(b));
    this.#pruneTx = db.transaction((cutoffSeq: number) => this.#dropTelemetryBelow(cutoffSeq));
    if (opened.incident) {
      // the salvaged outbox continues above everything known, even if its counters could not be stored
      const next = opened.incident.details.nextSeq as number;
      this.#seq = Math.max(this.#seq, next - 1);
      this.#dbCeiling = Math.max(this.#dbCeiling, next - 1);
      this.#quarantined = Math.max(this.#quarantined, 1);
      this.#incident(opened.incident);
    }
    if (!onFile) return;
    if (hwm.ceiling > this.#dbCeiling) this.#restartAboveRollback(hwm.ceiling);
    this.#hwm = new SeqHighWaterMark({
      path: this.#hwmPath(),
      block: this.options.seqBlock,
      clock: this.#clock,
      ceiling: hwm.ceiling,
    });
    if (hwm.ceiling < this.#dbCeiling) {
      // the file was deleted or damaged: put back what the database recorded (or at the next commit, if the disk is full)
      try {
        this.#hwm.raiseTo(this.#dbCeiling);
      } catch (err) {
        this.#log.warn({ err, file: this.#hwmPath() }, 'seq high-water mark not rewritten yet');
      }
    }
    this.#reserveOk = this.#disk!.ensureReserve();
    this.#warnIfVolumeSmall();
  }

  #hwmPath(): string {
    return `${this.options.path}.seq-hwm`;
  }

  /** The high-water mark is above what the database recorded: committed transactions are gone. */
  #restartAboveRollback(ceiling: number): void {
    const from = this.#seq;
    this.#seq = Math.max(this.#seq, ceiling);
    this.#dbCeiling = ceiling;
    this.#seqRollbacks++;
    try {
      this.#db!.transaction(() => {
        this.#st.setMeta.run(this.#seq, 'seq');
        this.#st.putMeta.run('seq_ceiling', ceiling);
        this.#st.putMeta.run('seq_rollbacks', this.#seqRollbacks);
      })();
    } catch (err) {
      // kept in memory; the high-water mark still covers every seq handed out
      this.#log.warn({ err }, 'seq rollback not recorded in the outbox');
    }
    this.#incident({
      code: 'EL_ERR_OUTBOX_SEQ_ROLLBACK',
      message:
        `outbox ${this.options.path}: seq counter ${from} is below the high-water mark ${ceiling}: committed transactions were lost ` +
        `(WAL file deleted or lost in a power cut); readings accepted after seq ${from} are gone, new seqs start at ${this.#seq + 1}`,
      details: { path: this.options.path, dbSeq: from, ceiling, nextSeq: this.#seq + 1 },
    });
  }

  #incident(incident: OutboxIncident): void {
    const { code, message, details } = incident;
    this.#incidents.push(incident);
    if (incidentChannel.hasSubscribers) incidentChannel.publish({ code, message, details });
    this.#log.error({ code, ...details }, message);
  }

  /** maxBytes is a bound on accounted bytes; say so when the volume could never hold that much. */
  #warnIfVolumeSmall(): void {
    try {
      const total = this.#disk!.totalBytes();
      const need = this.options.maxBytes * DISK_BYTES_PER_ACCOUNTED_BYTE;
      if (need > total) {
        this.#log.warn(
          { maxBytes: this.options.maxBytes, volumeBytes: total },
          `outbox.maxBytes needs about ${need} bytes of disk, the volume has ${total}: the free-space bound (minFreeBytes) applies first`,
        );
      }
    } catch {
      /* statfs unsupported: the SQLITE_FULL handling still applies */
    }
  }

  #load(db: Database.Database): void {
    const meta = new Map((this.#st.allMeta.all() as [string, number][]).map(([k, v]) => [k, v]));
    this.#seq = meta.get('seq') ?? 0;
    this.#dropsBytes = meta.get('drops_bytes') ?? 0;
    this.#dropsAge = meta.get('drops_age') ?? 0;
    this.#refusedSaved = meta.get('refused') ?? 0;
    this.#dbCeiling = meta.get('seq_ceiling') ?? 0;
    this.#seqRollbacks = meta.get('seq_rollbacks') ?? 0;
    this.#quarantined = meta.get('quarantined') ?? 0;
    this.#sensorIds.clear();
    this.#asciiNames = true;
    for (const [id, name] of db.prepare('SELECT id, name FROM sensors').raw(true).all() as [number, string][]) {
      this.#registerSensor(id, name);
    }
    this.#telemetryCount = 0;
    this.#telemetryBytes = 0;
    for (const [id, n] of db
      .prepare('SELECT sensor_id, count(*) FROM telemetry GROUP BY sensor_id')
      .raw(true)
      .all() as [number, number][]) {
      this.#telemetryCount += n;
      this.#telemetryBytes += n * this.#sensorBytes[id]!;
    }
    const [ec, eb] = db.prepare('SELECT count(*), coalesce(sum(bytes), 0) FROM events').raw(true).get() as [
      number,
      number,
    ];
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
      const refusal = this.#diskRefusal(this.#bufferedBytes(), `${n} readings`);
      if (refusal) throw refusal;
      try {
        // a rolled-back transaction: re-read what memory mirrors (sensor ids, counters)
        range = this.#write(() => this.#commitTx(n), this.#mirrorRestorer());
      } catch (err) {
        throw fullDiskError(err, this.options.path, `${n} readings`);
      }
    } catch (err) {
      this.#clearBuffer();
      if (isEdgeloopFull(err)) this.#countRefused(n);
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of pending) p.reject(e);
      return;
    }
    this.#clearBuffer();
    for (const p of pending)
      p.resolve({ firstSeq: range.firstSeq + p.start, lastSeq: range.firstSeq + p.start + p.count - 1 });
    this.#notify();
  }

  /** accounted bytes of the intake buffer (an unknown sensor counts with its name's length) */
  #bufferedBytes(): number {
    let bytes = 0;
    for (let i = 0; i < this.#bufLen; i++) {
      const name = this.#bufSensor[i]!;
      const id = this.#sensorIds.get(name);
      bytes += id === undefined ? TELEMETRY_ROW_OVERHEAD + Buffer.byteLength(name) : this.#sensorBytes[id]!;
    }
    return bytes;
  }

  /**
   * The free-space budget: EL_ERR_OUTBOX_FULL when admitting `bytes` would leave the volume with less than
   * minFreeBytes (free pages inside the file count as free). Re-creates a missing reserve when there is room.
   */
  #diskRefusal(bytes: number, what: string): EdgeloopError | undefined {
    const disk = this.#disk;
    if (!disk) return undefined;
    const reusableBytes = (this.#st.freelistPages.get() as number) * this.#pageSize;
    const refusal = disk.refusal(bytes, reusableBytes, what);
    if (!refusal && !this.#reserveOk) this.#reserveOk = disk.ensureReserve();
    return refusal;
  }

  /**
   * Run a write transaction; `restore` puts back what memory mirrors when it rolls back. On a full volume the WAL
   * is checkpointed (its frames are then reused from the start instead of the file growing) and the transaction
   * tried once more.
   */
  #write<T>(tx: () => T, restore: () => void): T {
    const run = (): T => {
      const r = tx();
      this.#refusalsStored();
      return r;
    };
    try {
      return run();
    } catch (err) {
      restore();
      if (!isDiskFull(err)) throw err;
      this.#checkpoint();
      try {
        return run();
      } catch (e2) {
        restore();
        throw e2;
      }
    }
  }

  /** Checkpoint the WAL into the database file (PASSIVE); failures are left to the write that follows to report. */
  #checkpoint(): void {
    try {
      this.#db!.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      /* the retry reports */
    }
  }

  #countRefused(n: number): void {
    this.#refusedPending += n;
    if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'refused', count: n });
    try {
      this.#st.putMeta.run('refused', this.#refusedSaved + this.#refusedPending);
      this.#refusalsStored();
    } catch {
      /* the disk is full: stored with the next write that succeeds */
    }
  }

  /** Inside a write transaction: store the refusals not stored yet. */
  #storeRefusals(): void {
    if (this.#refusedPending > 0) this.#st.putMeta.run('refused', this.#refusedSaved + this.#refusedPending);
  }

  /** After a write transaction committed. */
  #refusalsStored(): void {
    this.#refusedSaved += this.#refusedPending;
    this.#refusedPending = 0;
  }

  /** Inside a transaction: seqs up to `last` are about to be used; the high-water mark must cover them. */
  #coverSeq(last: number): void {
    if (this.#hwm?.cover(last)) {
      this.#st.putMeta.run('seq_ceiling', this.#hwm.ceiling);
      this.#dbCeiling = this.#hwm.ceiling;
    }
  }

  #clearBuffer(): void {
    this.#bufSensor.length = 0;
    this.#bufTs.length = 0;
    this.#bufValue.length = 0;
    this.#bufLen = 0;
  }

  /** inside the transaction */
  #commitRows(n: number): SeqRange {
    this.#storeRefusals();
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
    this.#coverSeq(first + n - 1);
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
    const what = `${events.length} events`;
    let r: SeqRange;
    try {
      const refusal = this.#diskRefusal(
        events.reduce((b, e) => b + JSON.stringify(e).length, 0),
        what,
      );
      if (refusal) throw refusal;
      try {
        r = this.#write(() => this.#eventsTx(events), this.#mirrorRestorer());
      } catch (err) {
        throw fullDiskError(err, this.options.path, what);
      }
    } catch (err) {
      if (isEdgeloopFull(err)) this.#countRefused(events.length);
      throw err;
    }
    this.#notify();
    return r;
  }

  #commitEvents(events: OutboxEvent[]): SeqRange {
    this.#storeRefusals();
    const first = this.#seq + 1;
    const bodies: string[] = [];
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const body = JSON.stringify({ ...events[i], seq: first + i });
      bodies.push(body);
      total += Buffer.byteLength(body);
    }
    this.#makeRoom(total, true);
    this.#coverSeq(first + events.length - 1);
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
    const db = this.#db!;
    db.transaction(() => {
      this.#coverSeq(this.#seq + 1);
      this.#st.setMeta.run(this.#seq + 1, 'seq');
    })();
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
      for (const [id, c] of this.#st.sumTelemetryRange.all(first, last) as [number, number][])
        bytes += c * this.#sensorBytes[id]!;
      this.#cursor.telemetry = last;
      return {
        lane,
        firstSeq: first,
        lastSeq: last,
        count: n,
        bytes,
        json: `[${rows.join(',')}]`,
        dropEpoch: this.#dropEpoch,
      };
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
    return {
      lane,
      firstSeq: first,
      lastSeq: last,
      count: parts.length,
      bytes,
      json: `[${parts.join(',')}]`,
      dropEpoch: this.#dropEpoch,
    };
  }

  /**
   * The broker acknowledged `batch`: delete its rows (one transaction). On a full disk the reserve file is given
   * back and the delete retried; throws EL_ERR_OUTBOX_FULL only when there is no reserve left (the rows then stay
   * and are sent again later).
   */
  ack(batch: OutboxBatch): void {
    if (!this.#db) return;
    try {
      this.#ackOnce(batch);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!this.#disk?.releaseReserve()) {
        throw new EdgeloopError(
          'EL_ERR_OUTBOX_FULL',
          `outbox ${this.options.path}: acknowledged rows ${batch.firstSeq}..${batch.lastSeq} not deleted, the volume is full and the reserve is used up: ${(err as Error).message}`,
          { cause: err, details: { reason: 'disk' } },
        );
      }
      this.#reserveOk = false;
      this.#log.warn(
        { reservePath: this.#disk.reservePath },
        'volume full: reserve file released so that acknowledged rows can be deleted',
      );
      // first move the WAL into the database file with the space just freed (it may need to grow for pages that
      // were only ever in the WAL); the WAL then restarts from its beginning instead of growing into that space
      this.#checkpoint();
      this.#ackOnce(batch);
    }
    this.#notify();
  }

  /** the delete; what memory mirrors is restored when the transaction rolls back */
  #ackOnce(batch: OutboxBatch): void {
    this.#write(() => this.#ackTx(batch), this.#mirrorRestorer());
  }

  /**
   * What memory mirrors of the database, saved before a write transaction; the returned function puts it back
   * after a rollback (sensor ids interned by the rolled-back transaction are forgotten).
   */
  #mirrorRestorer(): () => void {
    const saved = [
      this.#seq,
      this.#telemetryCount,
      this.#telemetryBytes,
      this.#eventCount,
      this.#eventBytes,
      this.#dropsBytes,
      this.#dropsAge,
      this.#dbCeiling,
    ] as const;
    const sensors = this.#sensorIds.size;
    return () => {
      [
        this.#seq,
        this.#telemetryCount,
        this.#telemetryBytes,
        this.#eventCount,
        this.#eventBytes,
        this.#dropsBytes,
        this.#dropsAge,
        this.#dbCeiling,
      ] = saved;
      let i = 0;
      for (const name of this.#sensorIds.keys()) if (i++ >= sensors) this.#sensorIds.delete(name);
    };
  }

  #ackRows(b: OutboxBatch): void {
    this.#storeRefusals();
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
      refused: this.#refusedSaved + this.#refusedPending,
      incidents: { seqRollbacks: this.#seqRollbacks, quarantined: this.#quarantined },
      ...(this.#disk && { disk: this.#diskFigures(this.#disk) }),
    };
  }

  #diskFigures(disk: DiskGuard): { freeBytes: number; reserve: boolean } {
    let freeBytes = 0;
    try {
      freeBytes = disk.freeBytes();
    } catch {
      /* statfs unavailable */
    }
    return { freeBytes, reserve: this.#reserveOk };
  }

  /** What the outbox found and repaired when it was opened (also logged and counted in `stats().incidents`). */
  get incidents(): readonly OutboxIncident[] {
    return this.#incidents;
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
