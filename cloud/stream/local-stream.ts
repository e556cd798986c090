/**
 * LocalStream: the embedded Stream on one SQLite file (better-sqlite3, WAL). Kinesis-shaped: records are placed in
 * `shardCount` shards by the MD5 of their partition key, each record gets a sequence number that increases within
 * (and across) shards, consumers keep per-shard checkpoints, and records expire by age and/or total size.
 *
 * Durability: put() commits one transaction per call. With `synchronous: 'FULL'` (the default) a resolved put()
 * survives a power cut; with 'NORMAL' it survives a process crash but the last commits before a power cut may be
 * lost (WAL not yet synced). Batch records per put(): one fsync per commit is the cost.
 *
 * Several processes may open the same file (ingest writes, processor reads): SQLite serialises writers, and
 * waitForRecords() in a process that did not write notices new rows through a slow fallback poll.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { type TimerHandle } from '../../lib/clock.ts';
import type { PutResult, ReadBatch, StoredRecord, Stream, StreamRecord } from './stream.ts';
import { recordBytes, shardIdFor, shardIndexForKey, validateRecords } from './stream-limits.ts';
import { intOption } from './options.ts';
import {
  MAX_READ_LIMIT,
  type LocalStreamOptions,
  type ResolvedLocalStreamOptions,
  resolveLocalStreamOptions,
} from './local-stream-options.ts';
import { formatSeq, parseSeq } from './local-stream-seq.ts';

export type { LocalStreamOptions } from './local-stream-options.ts';

const SCHEMA_VERSION = 1;

interface Statements {
  insert: Database.Statement<[number, string, Uint8Array, number, number]>;
  read: Database.Statement<[number, number, number]>;
  maxId: Database.Statement<[]>;
  getCp: Database.Statement<[string, number]>;
  setCp: Database.Statement<[string, number, number, number]>;
  addBytes: Database.Statement<[number]>;
  totalBytes: Database.Statement<[]>;
  firstKept: Database.Statement<[number]>;
  sizeBefore: Database.Statement<[number]>;
  deleteBefore: Database.Statement<[number]>;
  oldestFirst: Database.Statement<[]>;
  deleteThrough: Database.Statement<[number]>;
  stats: Database.Statement<[]>;
}

interface Waiter {
  /** highest id the waiter had seen */
  base: number;
  resolve: (woken: boolean) => void;
}

export interface LocalStreamStats {
  records: number;
  bytes: number;
  oldestArrivedAt: number | undefined;
  /** records removed by retention since start() */
  pruned: number;
}

export class LocalStream implements Stream {
  readonly name: string;
  readonly #o: ResolvedLocalStreamOptions;
  #db: Database.Database | undefined;
  #st: Statements | undefined;
  #state: 'new' | 'started' | 'closed' = 'new';
  #pruneTimer: TimerHandle | undefined;
  #pollTimer: TimerHandle | undefined;
  #waiters = new Set<Waiter>();
  #readBase: number | undefined;
  #pruned = 0;
  #shardIds: string[];
  /** partition key → shard: devices repeat, MD5 per record need not (bounded; cleared when full) */
  readonly #shardOfKey = new Map<string, number>();

  constructor(opts: LocalStreamOptions) {
    this.#o = resolveLocalStreamOptions(opts);
    this.name = this.#o.name;
    this.#shardIds = Array.from({ length: this.#o.shardCount }, (_, i) => shardIdFor(i));
  }

  get options(): Readonly<ResolvedLocalStreamOptions> {
    return this.#o;
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `LocalStream ${this.name} is closed`);
    // the stream's tail is read back by the processor right after it is written: keep a 16 MiB page cache
    const db = openWalDatabase(this.#o.path, { synchronous: this.#o.synchronous, cacheKiB: 16_000 });
    try {
      this.#migrate(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#st = {
      insert: db.prepare(
        'INSERT INTO stream_records (shard, partition_key, data, arrived_at, bytes) VALUES (?, ?, ?, ?, ?)',
      ),
      read: db.prepare(
        'SELECT id, partition_key, data, arrived_at FROM stream_records WHERE shard = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      maxId: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'stream_records'"),
      getCp: db.prepare('SELECT seq FROM stream_checkpoints WHERE consumer = ? AND shard = ?'),
      setCp: db.prepare(
        'INSERT INTO stream_checkpoints (consumer, shard, seq, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (consumer, shard) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at',
      ),
      addBytes: db.prepare("UPDATE stream_meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'total_bytes'"),
      totalBytes: db.prepare("SELECT CAST(value AS INTEGER) AS v FROM stream_meta WHERE key = 'total_bytes'"),
      firstKept: db.prepare('SELECT id FROM stream_records WHERE arrived_at >= ? ORDER BY id LIMIT 1'),
      sizeBefore: db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM stream_records WHERE id < ?'),
      deleteBefore: db.prepare('DELETE FROM stream_records WHERE id < ?'),
      oldestFirst: db.prepare('SELECT id, bytes FROM stream_records ORDER BY id'),
      deleteThrough: db.prepare('DELETE FROM stream_records WHERE id <= ?'),
      stats: db.prepare('SELECT COUNT(*) AS n, MIN(arrived_at) AS oldest FROM stream_records'),
    };
    this.#state = 'started';
    this.prune();
    this.#schedulePrune();
  }

  #migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_SCHEMA',
        `${this.#o.path}: stream schema version ${version} is newer than this edgeloop's (${SCHEMA_VERSION})`,
      );
    }
    db.transaction(() => {
      if (version < 1) {
        db.exec(`
          CREATE TABLE IF NOT EXISTS stream_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
          CREATE TABLE IF NOT EXISTS stream_records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            shard INTEGER NOT NULL,
            partition_key TEXT NOT NULL,
            data BLOB NOT NULL,
            arrived_at INTEGER NOT NULL,
            bytes INTEGER NOT NULL
          );
          CREATE INDEX IF NOT EXISTS stream_records_by_shard ON stream_records (shard, id);
          CREATE TABLE IF NOT EXISTS stream_checkpoints (
            consumer TEXT NOT NULL,
            shard INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (consumer, shard)
          ) WITHOUT ROWID;
        `);
        const ins = db.prepare('INSERT OR IGNORE INTO stream_meta (key, value) VALUES (?, ?)');
        ins.run('shard_count', String(this.#o.shardCount));
        ins.run('total_bytes', '0');
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }
      const row = db.prepare("SELECT value FROM stream_meta WHERE key = 'shard_count'").get() as { value: string };
      if (Number(row.value) !== this.#o.shardCount) {
        throw new EdgeloopError(
          'EL_ERR_STREAM_SHARD_COUNT_MISMATCH',
          `${this.#o.path} was created with ${row.value} shards, opened with shardCount ${this.#o.shardCount}; resharding is not supported (use a new file)`,
          { details: { stored: Number(row.value), requested: this.#o.shardCount } },
        );
      }
    }).immediate();
  }

  #ready(): Statements {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `LocalStream ${this.name} is closed`);
    if (this.#state !== 'started' || !this.#st) {
      throw new EdgeloopError('EL_ERR_STREAM_NOT_STARTED', `LocalStream ${this.name}: call start() first`);
    }
    return this.#st;
  }

  #shardIndex(shardId: string): number {
    const i = this.#shardIds.indexOf(shardId);
    if (i < 0) {
      throw new EdgeloopError(
        'EL_ERR_STREAM_SHARD_UNKNOWN',
        `LocalStream ${this.name} has no shard ${JSON.stringify(shardId)} (shards: ${this.#shardIds[0]}..${this.#shardIds.at(-1)})`,
      );
    }
    return i;
  }

  #maxId(): number {
    const row = this.#st!.maxId.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  async put(records: StreamRecord[]): Promise<PutResult> {
    const st = this.#ready();
    validateRecords(records);
    if (records.length === 0) return { count: 0 };
    const now = this.#o.clock.now();
    let bytes = 0;
    this.#db!.transaction(() => {
      for (const r of records) {
        const b = recordBytes(r);
        bytes += b;
        st.insert.run(this.#shardOf(r.partitionKey), r.partitionKey, r.data, now, b);
      }
      st.addBytes.run(bytes);
    }).immediate();
    this.#wake();
    if (this.#totalBytes() > this.#o.retentionBytes) this.prune();
    return { count: records.length };
  }

  #shardOf(key: string): number {
    let shard = this.#shardOfKey.get(key);
    if (shard === undefined) {
      if (this.#shardOfKey.size >= 100_000) this.#shardOfKey.clear();
      shard = shardIndexForKey(key, this.#o.shardCount);
      this.#shardOfKey.set(key, shard);
    }
    return shard;
  }

  #totalBytes(): number {
    return (this.#st!.totalBytes.get() as { v: number }).v;
  }

  async listShards(): Promise<string[]> {
    this.#ready();
    return [...this.#shardIds];
  }

  async read(
    shardId: string,
    opts: { consumer: string; position?: string | undefined; limit?: number },
  ): Promise<ReadBatch> {
    const st = this.#ready();
    const shard = this.#shardIndex(shardId);
    this.#readBase ??= this.#maxId();
    const limit = intOption('LocalStream.read', 'limit', opts?.limit, this.#o.defaultReadLimit, 1, MAX_READ_LIMIT);
    let after: number;
    if (opts?.position !== undefined) after = parseSeq(opts.position, 'read(): position');
    else {
      const cp = st.getCp.get(opts?.consumer ?? '', shard) as { seq: number } | undefined;
      after = cp?.seq ?? 0;
    }
    const rows = st.read.all(shard, after, limit) as {
      id: number;
      partition_key: string;
      data: Buffer;
      arrived_at: number;
    }[];
    const records: StoredRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (records.length > 0 && bytes + row.data.byteLength > this.#o.maxReadBytes) break;
      bytes += row.data.byteLength;
      records.push({
        partitionKey: row.partition_key,
        data: row.data,
        shardId,
        sequenceNumber: formatSeq(row.id),
        arrivedAt: row.arrived_at,
      });
    }
    const last = records.at(-1);
    return {
      records,
      position: last ? last.sequenceNumber : after > 0 ? formatSeq(after) : opts?.position,
      endOfShard: false,
    };
  }

  async checkpoint(consumer: string, shardId: string, sequenceNumber: string): Promise<void> {
    const st = this.#ready();
    if (typeof consumer !== 'string' || consumer.length === 0) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'checkpoint(): consumer must be a non-empty string');
    }
    const shard = this.#shardIndex(shardId);
    st.setCp.run(consumer, shard, parseSeq(sequenceNumber, 'checkpoint(): sequenceNumber'), this.#o.clock.now());
  }

  /** Several shards' checkpoints in one transaction (one fsync). */
  async checkpointMany(consumer: string, entries: { shardId: string; sequenceNumber: string }[]): Promise<void> {
    const st = this.#ready();
    if (typeof consumer !== 'string' || consumer.length === 0) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'checkpointMany(): consumer must be a non-empty string');
    }
    const rows = entries.map(
      (e, i) =>
        [
          this.#shardIndex(e.shardId),
          parseSeq(e.sequenceNumber, `checkpointMany(): entries[${i}].sequenceNumber`),
        ] as const,
    );
    const now = this.#o.clock.now();
    this.#db!.transaction(() => {
      for (const [shard, seq] of rows) st.setCp.run(consumer, shard, seq, now);
    }).immediate();
  }

  async getCheckpoint(consumer: string, shardId: string): Promise<string | undefined> {
    const st = this.#ready();
    const row = st.getCp.get(consumer, this.#shardIndex(shardId)) as { seq: number } | undefined;
    return row ? formatSeq(row.seq) : undefined;
  }

  async waitForRecords(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<boolean> {
    this.#ready();
    // Records appended after the earliest read() since the last wait count as new: a put() that lands between a
    // consumer's read of shard 0 and its wait is never missed (a spurious wake-up is possible, a lost one is not).
    const base = this.#readBase ?? this.#maxId();
    this.#readBase = undefined;
    if (opts.signal?.aborted) return false;
    if (this.#maxId() > base) return true;
    return new Promise<boolean>((resolve) => {
      const clock = this.#o.clock;
      let timer: TimerHandle | undefined;
      const onAbort = (): void => finish(false);
      const waiter: Waiter = { base, resolve: (woken) => finish(woken) };
      const finish = (woken: boolean): void => {
        if (!this.#waiters.delete(waiter)) return;
        if (timer) clock.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (this.#waiters.size === 0) this.#stopPoll();
        resolve(woken);
      };
      this.#waiters.add(waiter);
      timer = clock.setTimeout(() => finish(false), Math.max(0, opts.timeoutMs));
      timer.unref?.();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#startPoll();
    });
  }

  #wake(): void {
    if (this.#waiters.size === 0 || !this.#st) return;
    const max = this.#maxId();
    for (const w of [...this.#waiters]) if (max > w.base) w.resolve(true);
  }

  #startPoll(): void {
    if (this.#pollTimer || this.#state !== 'started') return;
    const tick = (): void => {
      this.#pollTimer = undefined;
      if (this.#state !== 'started' || this.#waiters.size === 0) return;
      this.#wake();
      if (this.#waiters.size > 0) this.#startPoll();
    };
    this.#pollTimer = this.#o.clock.setTimeout(tick, this.#o.pollIntervalMs);
    this.#pollTimer.unref?.();
  }

  #stopPoll(): void {
    if (this.#pollTimer) this.#o.clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #schedulePrune(): void {
    if (this.#state !== 'started') return;
    this.#pruneTimer = this.#o.clock.setTimeout(() => {
      this.#pruneTimer = undefined;
      try {
        this.prune();
      } finally {
        this.#schedulePrune();
      }
    }, this.#o.pruneIntervalMs);
    this.#pruneTimer.unref?.();
  }

  /** Apply retention now (also runs every pruneIntervalMs and after a put that crosses retentionBytes). */
  prune(): number {
    const st = this.#ready();
    const db = this.#db!;
    let removed = 0;
    db.transaction(() => {
      if (Number.isFinite(this.#o.retentionMs)) {
        const cutoff = this.#o.clock.now() - this.#o.retentionMs;
        // arrival times grow with id (one clock); find the first record still inside the retention period
        const first = st.firstKept.get(cutoff) as { id: number } | undefined;
        const bound = first ? first.id : Number.MAX_SAFE_INTEGER;
        const freed = st.sizeBefore.get(bound) as {
          n: number;
          b: number;
        };
        if (freed.n > 0) {
          st.deleteBefore.run(bound);
          st.addBytes.run(-freed.b);
          removed += freed.n;
        }
      }
      let total = this.#totalBytes();
      if (total > this.#o.retentionBytes) {
        let lastId = 0;
        let n = 0;
        let freedBytes = 0;
        for (const row of st.oldestFirst.iterate() as IterableIterator<{ id: number; bytes: number }>) {
          if (total <= this.#o.retentionBytes) break;
          total -= row.bytes;
          freedBytes += row.bytes;
          lastId = row.id;
          n++;
        }
        if (n > 0) {
          st.deleteThrough.run(lastId);
          st.addBytes.run(-freedBytes);
          removed += n;
        }
      }
    }).immediate();
    this.#pruned += removed;
    return removed;
  }

  stats(): LocalStreamStats {
    const row = this.#ready().stats.get() as {
      n: number;
      oldest: number | null;
    };
    return {
      records: row.n,
      bytes: this.#totalBytes(),
      oldestArrivedAt: row.oldest ?? undefined,
      pruned: this.#pruned,
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#pruneTimer) this.#o.clock.clearTimeout(this.#pruneTimer);
    this.#pruneTimer = undefined;
    this.#stopPoll();
    for (const w of [...this.#waiters]) w.resolve(false);
    this.#waiters.clear();
    this.#st = undefined;
    const db = this.#db;
    this.#db = undefined;
    db?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
