/**
 * Where KinesisStream keeps consumer checkpoints. Kinesis itself stores none (the KCL uses a DynamoDB lease
 * table); SqliteCheckpointStore is the default, a DynamoDB-backed store is a later option behind this interface.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface CheckpointStore {
  start(): Promise<void>;
  close(): Promise<void>;
  get(stream: string, consumer: string, shardId: string): Promise<string | undefined>;
  set(stream: string, consumer: string, shardId: string, sequenceNumber: string): Promise<void>;
  /** Optional: several shards at once, atomically where the backend allows. */
  setMany?(stream: string, consumer: string, entries: { shardId: string; sequenceNumber: string }[]): Promise<void>;
}

const SCHEMA_VERSION = 1;

export class SqliteCheckpointStore implements CheckpointStore {
  readonly #path: string;
  #db: Database.Database | undefined;
  #get: Database.Statement | undefined;
  #set: Database.Statement | undefined;
  #closed = false;

  /** `path`: SQLite file (synchronous FULL: a checkpoint is on disk when set() resolves), or ':memory:'. */
  constructor(opts: { path: string }) {
    if (typeof opts?.path !== 'string' || opts.path.length === 0) {
      throw new EdgeloopError(
        'EL_ERR_CONFIG_INVALID',
        'SqliteCheckpointStore: option "path" must be a non-empty string',
      );
    }
    this.#path = opts.path;
  }

  async start(): Promise<void> {
    if (this.#db) return;
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteCheckpointStore is closed');
    const db = openWalDatabase(this.#path, { synchronous: 'FULL', cacheKiB: 256 });
    try {
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v > SCHEMA_VERSION)
        throw new EdgeloopError(
          'EL_ERR_STREAM_SCHEMA',
          `${this.#path}: checkpoint schema version ${v} is newer than this edgeloop's (${SCHEMA_VERSION})`,
        );
      db.exec(`CREATE TABLE IF NOT EXISTS stream_checkpoints (
        stream TEXT NOT NULL, consumer TEXT NOT NULL, shard TEXT NOT NULL, seq TEXT NOT NULL, updated_at INTEGER NOT NULL,
        PRIMARY KEY (stream, consumer, shard)) WITHOUT ROWID`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#get = db
      .prepare('SELECT seq FROM stream_checkpoints WHERE stream = ? AND consumer = ? AND shard = ?')
      .pluck();
    this.#set = db.prepare(
      'INSERT INTO stream_checkpoints (stream, consumer, shard, seq, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at',
    );
  }

  #ready(): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'SqliteCheckpointStore is closed');
    if (!this.#db) throw new EdgeloopError('EL_ERR_STREAM_NOT_STARTED', 'SqliteCheckpointStore: call start() first');
  }

  async get(stream: string, consumer: string, shardId: string): Promise<string | undefined> {
    this.#ready();
    return (this.#get!.get(stream, consumer, shardId) as string | undefined) ?? undefined;
  }

  async set(stream: string, consumer: string, shardId: string, sequenceNumber: string): Promise<void> {
    this.#ready();
    this.#set!.run(stream, consumer, shardId, sequenceNumber, Date.now());
  }

  async setMany(
    stream: string,
    consumer: string,
    entries: { shardId: string; sequenceNumber: string }[],
  ): Promise<void> {
    this.#ready();
    const now = Date.now();
    this.#db!.transaction(() => {
      for (const e of entries) this.#set!.run(stream, consumer, e.shardId, e.sequenceNumber, now);
    }).immediate();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }
}
