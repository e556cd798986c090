/**
 * Dead-letter store on SQLite: messages the ingest refuses (malformed, oversized, unauthorised, topic mismatch)
 * are kept here with their reason, topic, client, a payload prefix and the time, and counted. The ingest writes
 * a dead letter synchronously before it acknowledges the message upstream, so a refused message is either in the
 * DLQ or not acknowledged (and will be redelivered).
 *
 * Durability: WAL with synchronous=NORMAL — a process crash loses nothing committed; a power cut can lose the
 * last few commits (the broker then has not lost the messages either when they were still unacknowledged).
 * Retention: rows beyond `maxRows` or older than `maxAgeMs` are pruned (checked every `pruneEvery` inserts and
 * at start); counts by reason survive pruning in a separate table.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { parseOptions } from '../../lib/options.ts';
import { SqliteDlqOptionsSchema, type ResolvedDlqOptions, type SqliteDlqOptions } from './dlq-options.ts';

export { DLQ_DEFAULTS, type SqliteDlqOptions } from './dlq-options.ts';

export const DEAD_LETTER_REASONS = [
  'malformed',
  'oversized',
  'unauthorized',
  'topic-mismatch',
  'ts-out-of-range',
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export interface DeadLetterInput {
  reason: DeadLetterReason;
  /** human-readable detail, e.g. the decoder's message naming the field */
  detail: string;
  /** the error code behind the reason, e.g. EL_ERR_MESSAGE_INVALID */
  code?: string | undefined;
  topic: string;
  clientId?: string | undefined;
  deviceId?: string | undefined;
  payload: Uint8Array;
}

export interface DeadLetter {
  id: number;
  at: number;
  reason: DeadLetterReason;
  detail: string;
  code: string | undefined;
  topic: string;
  clientId: string | undefined;
  deviceId: string | undefined;
  /** the first `maxPayloadBytes` bytes of the payload */
  payload: Buffer;
  /** full size of the original payload */
  payloadBytes: number;
  truncated: boolean;
}

export interface DeadLetterQuery {
  limit?: number;
  reason?: DeadLetterReason | undefined;
  deviceId?: string | undefined;
  /** only rows with id greater than this (paging) */
  afterId?: number | undefined;
  /** newest first (default) or oldest first */
  order?: 'newest' | 'oldest';
}

const SCHEMA_VERSION = 1;

export class SqliteDlq {
  readonly options: ResolvedDlqOptions;
  readonly #clock: Clock;
  #db: Database.Database | undefined;
  #insert: Database.Statement | undefined;
  #count: Database.Statement | undefined;
  #sinceprune = 0;
  #closed = false;
  /** counts by reason since this process started */
  readonly #session = new Map<DeadLetterReason, number>();

  constructor(opts: SqliteDlqOptions) {
    const { clock, ...o } = parseOptions(SqliteDlqOptionsSchema, opts, {
      where: 'SqliteDlq',
      code: 'EL_ERR_INVALID_ARGUMENT',
    });
    this.options = Object.freeze(o);
    this.#clock = clock ?? systemClock;
  }

  static async create(opts: SqliteDlqOptions): Promise<SqliteDlq> {
    const d = new SqliteDlq(opts);
    await d.start();
    return d;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDlq is closed');
    if (this.#db) return;
    const { path, readonly } = this.options;
    let db: Database.Database;
    try {
      if (path !== ':memory:' && !readonly) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { readonly, fileMustExist: readonly });
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_DLQ_OPEN', `cannot open dead-letter store ${path}: ${(cause as Error).message}`, {
        cause,
      });
    }
    try {
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        migrate(db);
      } else {
        const v = db.pragma('user_version', { simple: true }) as number;
        if (v !== SCHEMA_VERSION) throw new Error(`schema version ${v}, expected ${SCHEMA_VERSION}`);
      }
      db.pragma('busy_timeout = 5000');
    } catch (cause) {
      db.close();
      throw new EdgeloopError('EL_ERR_DLQ_OPEN', `cannot open dead-letter store ${path}: ${(cause as Error).message}`, {
        cause,
      });
    }
    this.#db = db;
    if (!readonly) {
      this.#insert = db.prepare(
        `INSERT INTO dead_letters (at, reason, detail, code, topic, client_id, device_id, payload, payload_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      this.#count = db.prepare(
        `INSERT INTO dead_letter_counts (reason, n) VALUES (?, 1) ON CONFLICT(reason) DO UPDATE SET n = n + 1`,
      );
      this.prune();
    }
  }

  /** Store one dead letter (synchronously committed). Returns its id. */
  add(d: DeadLetterInput): number {
    const db = this.#open();
    if (!this.#insert) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'SqliteDlq opened read-only');
    const payload = Buffer.from(
      d.payload.buffer,
      d.payload.byteOffset,
      Math.min(d.payload.byteLength, this.options.maxPayloadBytes),
    );
    const insert = this.#insert;
    const count = this.#count!;
    const id = db.transaction(() => {
      const r = insert.run(
        this.#clock.now(),
        d.reason,
        d.detail.slice(0, 2000),
        d.code ?? null,
        d.topic.slice(0, 1024),
        d.clientId ?? null,
        d.deviceId ?? null,
        payload,
        d.payload.byteLength,
      );
      count.run(d.reason);
      return Number(r.lastInsertRowid);
    })();
    this.#session.set(d.reason, (this.#session.get(d.reason) ?? 0) + 1);
    if (++this.#sinceprune >= this.options.pruneEvery) this.prune();
    return id;
  }

  list(q: DeadLetterQuery = {}): DeadLetter[] {
    const db = this.#open();
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.reason) {
      where.push('reason = ?');
      args.push(q.reason);
    }
    if (q.deviceId) {
      where.push('device_id = ?');
      args.push(q.deviceId);
    }
    if (q.afterId !== undefined) {
      where.push('id > ?');
      args.push(q.afterId);
    }
    const limit = Math.max(1, Math.min(q.limit ?? 100, 100_000));
    const order = q.order === 'oldest' ? 'ASC' : 'DESC';
    const rows = db
      .prepare(
        `SELECT id, at, reason, detail, code, topic, client_id, device_id, payload, payload_bytes FROM dead_letters
         ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id ${order} LIMIT ?`,
      )
      .all(...args, limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      at: r.at as number,
      reason: r.reason as DeadLetterReason,
      detail: r.detail as string,
      code: (r.code as string | null) ?? undefined,
      topic: r.topic as string,
      clientId: (r.client_id as string | null) ?? undefined,
      deviceId: (r.device_id as string | null) ?? undefined,
      payload: r.payload as Buffer,
      payloadBytes: r.payload_bytes as number,
      truncated: (r.payload as Buffer).byteLength < (r.payload_bytes as number),
    }));
  }

  /** Totals by reason since the store was created (survive pruning). */
  counts(): Record<DeadLetterReason, number> {
    const db = this.#open();
    const out = Object.fromEntries(DEAD_LETTER_REASONS.map((r) => [r, 0])) as Record<DeadLetterReason, number>;
    for (const r of db.prepare('SELECT reason, n FROM dead_letter_counts').all() as Array<{
      reason: string;
      n: number;
    }>) {
      if (r.reason in out) out[r.reason as DeadLetterReason] = r.n;
    }
    return out;
  }

  /** Counts by reason added by this process (cheap, for metrics). */
  sessionCounts(): Record<DeadLetterReason, number> {
    return Object.fromEntries(DEAD_LETTER_REASONS.map((r) => [r, this.#session.get(r) ?? 0])) as Record<
      DeadLetterReason,
      number
    >;
  }

  /** Apply retention now. Returns rows removed. */
  prune(): number {
    const db = this.#open();
    if (this.options.readonly) return 0;
    this.#sinceprune = 0;
    const cutoff = this.#clock.now() - this.options.maxAgeMs;
    let n = db.prepare('DELETE FROM dead_letters WHERE at < ?').run(cutoff).changes;
    const total = (db.prepare('SELECT count(*) AS c FROM dead_letters').get() as { c: number }).c;
    if (total > this.options.maxRows) {
      n += db
        .prepare('DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id ASC LIMIT ?)')
        .run(total - this.options.maxRows).changes;
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const db = this.#db;
    this.#db = undefined;
    this.#insert = undefined;
    this.#count = undefined;
    db?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #open(): Database.Database {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDlq is closed');
    if (!this.#db) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteDlq is not started');
    return this.#db;
  }
}

function migrate(db: Database.Database): void {
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this edgeloop (${SCHEMA_VERSION})`);
  if (v < 1) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        code TEXT,
        topic TEXT NOT NULL,
        client_id TEXT,
        device_id TEXT,
        payload BLOB NOT NULL,
        payload_bytes INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id);
      CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (at);
      CREATE TABLE IF NOT EXISTS dead_letter_counts (reason TEXT PRIMARY KEY, n INTEGER NOT NULL);
      PRAGMA user_version = 1;
    `);
  }
}
