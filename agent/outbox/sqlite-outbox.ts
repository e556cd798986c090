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
 * Intake batching (outbox-intake.ts): `append()` buffers readings for `intakeLingerMs` or `intakeMaxRows` rows, then
 * commits them in one transaction (one fsync under durability=full) and resolves every caller with its seq range.
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
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock } from '../../lib/clock.ts';
import { silentLogger } from '../../lib/logger.ts';
import {
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
import { OutboxCore } from './outbox-core.ts';
import { OutboxIntake } from './outbox-intake.ts';
import { OutboxReader } from './outbox-reader.ts';
import { openOutbox } from './outbox-open.ts';

export { OUTBOX_SCHEMA_VERSION } from './outbox-schema.ts';
export { dropChannel, incidentChannel } from './outbox-core.ts';
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

/**
 * The outbox: the write side (outbox-intake.ts), the read side (outbox-reader.ts) and opening with its checks
 * (outbox-open.ts) over one shared core (outbox-core.ts: database, statements, the in-memory mirror).
 */
export class SqliteOutbox {
  readonly options: ResolvedOutboxOptions;
  readonly #c: OutboxCore;
  readonly #intake: OutboxIntake;
  readonly #reader: OutboxReader;

  constructor(opts: SqliteOutboxOptions) {
    this.options = resolveOutboxOptions(opts);
    this.#c = new OutboxCore(this.options, opts.clock ?? systemClock, opts.logger ?? silentLogger);
    this.#intake = new OutboxIntake(this.#c);
    this.#reader = new OutboxReader(this.#c);
  }

  /** Open (or create and migrate) the database. */
  static open(opts: SqliteOutboxOptions): SqliteOutbox {
    const ob = new SqliteOutbox(opts);
    ob.#open();
    return ob;
  }

  #open(): void {
    const c = this.#c;
    if (c.db) return;
    if (c.closed) throw new EdgeloopError('EL_ERR_CLOSED', 'outbox is closed');
    const db = openOutbox(c);
    this.#intake.attach(db);
    this.#reader.attach(db);
  }

  // ---------- intake ----------

  /**
   * Buffer readings and resolve with their seq range once the transaction holding them has committed.
   * Rejects with EL_ERR_OUTBOX_FULL when the bound cannot be met by dropping telemetry (see the header).
   * The caller must not mutate `readings` before the promise settles.
   */
  append(readings: ArrayLike<OutboxReading>): Promise<SeqRange> {
    return this.#intake.append(readings);
  }

  /** Commit the intake buffer now (synchronously). */
  flushIntake(): void {
    this.#intake.flush();
  }

  /** Append events (committed immediately, in one transaction); they share the seq counter with telemetry. */
  appendEvents(events: OutboxEvent[]): SeqRange {
    return this.#intake.appendEvents(events);
  }

  /**
   * Take the next seq for a message that does not go through the outbox (model reports): persisted before it is
   * returned, so it is never reused after a restart. Commits the intake buffer first (seq order = commit order).
   */
  reserveSeq(): number {
    return this.#intake.reserveSeq();
  }

  // ---------- drain ----------

  /**
   * The next batch of a lane after the rows already handed out (the lane's cursor), cut at `maxRecords` records
   * or before `maxBytes` of JSON; advances the cursor. undefined when the lane has nothing unsent.
   */
  nextBatch(lane: Lane, maxRecords: number, maxBytes: number): OutboxBatch | undefined {
    return this.#reader.nextBatch(lane, maxRecords, maxBytes);
  }

  /**
   * The broker acknowledged `batch`: delete its rows (one transaction). On a full disk the reserve file is given
   * back and the delete retried; throws EL_ERR_OUTBOX_FULL only when there is no reserve left (the rows then stay
   * and are sent again later).
   */
  ack(batch: OutboxBatch): void {
    this.#reader.ack(batch);
  }

  /** Hand out every remaining row again (after a connection loss, once nothing is in flight). */
  rewind(): void {
    this.#reader.rewind();
  }

  /**
   * Apply the age bound: delete telemetry accepted before now - maxAgeMs (counted in drops.age); also forgets
   * marks that no longer cover any row. Returns the number of readings dropped.
   */
  prune(): number {
    return this.#reader.prune();
  }

  // ---------- figures ----------

  get lastSeq(): number {
    return this.#c.m.seq;
  }
  get telemetryCount(): number {
    return this.#c.m.telemetryCount;
  }
  get telemetryBytes(): number {
    return this.#c.m.telemetryBytes;
  }
  get eventCount(): number {
    return this.#c.m.eventCount;
  }
  /** readings buffered in memory and not yet committed */
  get intakeBuffered(): number {
    return this.#intake.buffered;
  }

  stats(): OutboxStats {
    return this.#reader.stats();
  }

  /** What the outbox found and repaired when it was opened (also logged and counted in `stats().incidents`). */
  get incidents(): readonly OutboxIncident[] {
    return this.#c.incidents;
  }

  /** Called after every commit, ack or prune (the publisher pumps on it). */
  onChange(fn: () => void): () => void {
    this.#c.listeners.add(fn);
    return () => this.#c.listeners.delete(fn);
  }

  /** The connection's settings as SQLite reports them (ops and tests: what the pragmas really are). */
  sqliteSettings(): { journalMode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; cacheKiB: number } {
    const db = this.#c.dbOrThrow();
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
    return this.#c.closed;
  }

  /** Commit what is buffered, then close the database. Idempotent. */
  close(): void {
    const c = this.#c;
    if (c.closed) return;
    try {
      this.#intake.flush();
    } finally {
      c.closed = true;
      this.#intake.stop();
      c.listeners.clear();
      const db = c.db;
      c.db = undefined;
      db?.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
