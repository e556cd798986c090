/**
 * SqliteFeatureStore: the embedded online feature store on one SQLite file (better-sqlite3, WAL).
 *
 * One row per (feature group, entity) holding the latest record. Semantics are SageMaker Feature Store's online
 * store: put() replaces the whole record unless the stored one has a newer event time (equal event times
 * overwrite, so a re-processed record is idempotent); get() hides records whose event time + the group's TTL has
 * passed; expired rows are deleted by a periodic prune. putMany() is one transaction.
 *
 * Durability: `synchronous: 'FULL'` (default) makes a resolved put survive a power cut; 'NORMAL' survives a process
 * crash only. The processor checkpoints the stream after the feature write, so a lost write is re-done on restart.
 */
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import type { FeatureRecord, FeatureStore, FeatureValue, PutOutcome } from './feature-store.ts';
import { checkEntityId, checkFeatureNames, checkGroup, checkRecord, pick } from './feature-record-check.ts';
import { z } from 'zod';
import {
  assertKnownEntryKeys,
  clockAndLogger,
  numberOrInfinity,
  parseOptions,
  requiredString,
} from '../../lib/options.ts';

const C = 'SqliteFeatureStore';

const FeatureGroupOptionsSchema = z.strictObject({
  /** records whose event time is older than this are not returned and are pruned, ms; default defaultTtlMs */
  ttlMs: numberOrInfinity(1).optional(),
});

export const SqliteFeatureStoreOptionsSchema = z.strictObject({
  /** SQLite file path, or ':memory:' */
  path: requiredString('a file path'),
  /** per-group settings; groups not listed are created on first put with the defaults */
  groups: z.record(z.string(), FeatureGroupOptionsSchema.optional()).optional(),
  /** TTL for groups without their own, ms; Infinity: records never expire */
  defaultTtlMs: numberOrInfinity(1).default(Infinity),
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  /** how often expired rows are deleted, ms (10 min) */
  pruneIntervalMs: z.number().int().min(10).default(600_000),
  clock: clockAndLogger.clock,
});

export type SqliteFeatureStoreOptions = z.input<typeof SqliteFeatureStoreOptionsSchema>;
export type FeatureGroupOptions = z.input<typeof FeatureGroupOptionsSchema>;

const SCHEMA_VERSION = 1;

interface Row {
  entity: string;
  event_time: number;
  features: string;
}

export class SqliteFeatureStore implements FeatureStore {
  readonly #path: string;
  readonly #ttl: ReadonlyMap<string, number>;
  readonly #defaultTtl: number;
  readonly #sync: 'FULL' | 'NORMAL';
  readonly #pruneMs: number;
  readonly #clock: Clock;
  #db: Database.Database | undefined;
  #put: Database.Statement | undefined;
  #get: Database.Statement | undefined;
  #groups: Database.Statement | undefined;
  #delExpired: Database.Statement | undefined;
  #state: 'new' | 'started' | 'closed' = 'new';
  #timer: TimerHandle | undefined;

  constructor(opts: SqliteFeatureStoreOptions) {
    assertKnownEntryKeys(FeatureGroupOptionsSchema, opts?.groups, C, ['groups']);
    const o = parseOptions(SqliteFeatureStoreOptionsSchema, opts, { where: C });
    this.#path = o.path;
    this.#defaultTtl = o.defaultTtlMs;
    const ttl = new Map<string, number>();
    for (const [g, go] of Object.entries(o.groups ?? {})) {
      checkGroup(g);
      ttl.set(g, go?.ttlMs ?? this.#defaultTtl);
    }
    this.#ttl = ttl;
    this.#sync = o.synchronous;
    this.#pruneMs = o.pruneIntervalMs;
    this.#clock = o.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    // online lookups by the recommend service: keep a 16 MiB page cache
    const db = openWalDatabase(this.#path, { synchronous: this.#sync, cacheKiB: 16_000 });
    try {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new EdgeloopError(
          'EL_ERR_FEATURE_STORE_SCHEMA',
          `${this.#path}: feature store schema version ${version} is newer than this edgeloop's (${SCHEMA_VERSION})`,
        );
      }
      if (version < 1) {
        db.transaction(() => {
          db.exec(`
            CREATE TABLE IF NOT EXISTS feature_records (
              grp TEXT NOT NULL,
              entity TEXT NOT NULL,
              event_time REAL NOT NULL,
              written_at INTEGER NOT NULL,
              features TEXT NOT NULL,
              PRIMARY KEY (grp, entity)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS feature_records_by_time ON feature_records (grp, event_time);
          `);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    // the WHERE on the upsert is the "older event time never overwrites" rule, evaluated inside SQLite
    this.#put = db.prepare(`
      INSERT INTO feature_records (grp, entity, event_time, written_at, features) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (grp, entity) DO UPDATE SET event_time = excluded.event_time, written_at = excluded.written_at,
        features = excluded.features
      WHERE excluded.event_time >= feature_records.event_time`);
    this.#get = db.prepare('SELECT entity, event_time, features FROM feature_records WHERE grp = ? AND entity = ?');
    this.#groups = db.prepare('SELECT DISTINCT grp FROM feature_records').pluck();
    this.#delExpired = db.prepare('DELETE FROM feature_records WHERE grp = ? AND event_time <= ?');
    this.#state = 'started';
    this.#schedulePrune();
  }

  #ready(): Database.Database {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    if (this.#state !== 'started' || !this.#db)
      throw new EdgeloopError('EL_ERR_FEATURE_STORE_NOT_STARTED', `${C}: call start() first`);
    return this.#db;
  }

  /** TTL of a group, ms (Infinity when records never expire). */
  ttlOf(group: string): number {
    return this.#ttl.get(group) ?? this.#defaultTtl;
  }

  async put(group: string, record: FeatureRecord): Promise<PutOutcome> {
    const [out] = await this.putMany(group, [record]);
    return out!;
  }

  async putMany(group: string, records: FeatureRecord[]): Promise<PutOutcome[]> {
    const db = this.#ready();
    checkGroup(group);
    if (!Array.isArray(records))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'putMany(): records must be an array');
    const rows = records.map(
      (r, i) => [r.entityId, r.eventTime, JSON.stringify(checkRecord(r, `records[${i}]`))] as const,
    );
    const now = this.#clock.now();
    const put = this.#put!;
    return db
      .transaction(() => rows.map(([id, t, json]) => ({ written: put.run(group, id, t, now, json).changes > 0 })))
      .immediate();
  }

  #decode(row: Row | undefined, group: string, names: string[] | undefined, now: number): FeatureRecord | undefined {
    if (!row) return undefined;
    if (row.event_time + this.ttlOf(group) <= now) return undefined;
    const features = JSON.parse(row.features) as Record<string, FeatureValue>;
    return { entityId: row.entity, eventTime: row.event_time, features: pick(features, names) };
  }

  async get(group: string, entityId: string, featureNames?: string[]): Promise<FeatureRecord | undefined> {
    this.#ready();
    checkGroup(group);
    checkEntityId(entityId, 'get()');
    checkFeatureNames(featureNames, 'get()');
    return this.#decode(this.#get!.get(group, entityId) as Row | undefined, group, featureNames, this.#clock.now());
  }

  async batchGet(group: string, entityIds: string[], featureNames?: string[]): Promise<(FeatureRecord | undefined)[]> {
    this.#ready();
    checkGroup(group);
    if (!Array.isArray(entityIds))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'batchGet(): entityIds must be an array');
    entityIds.forEach((id, i) => checkEntityId(id, `batchGet() entityIds[${i}]`));
    checkFeatureNames(featureNames, 'batchGet()');
    const now = this.#clock.now();
    const get = this.#get!;
    // one read transaction: a consistent snapshot across the batch
    return this.#db!.transaction(() =>
      entityIds.map((id) => this.#decode(get.get(group, id) as Row | undefined, group, featureNames, now)),
    )();
  }

  /** Delete rows expired by TTL now (also runs every pruneIntervalMs). Returns how many were deleted. */
  pruneExpired(): number {
    const db = this.#ready();
    const now = this.#clock.now();
    let n = 0;
    const groups = this.#groups!.all() as string[];
    const del = this.#delExpired!;
    db.transaction(() => {
      for (const g of groups) {
        const ttl = this.ttlOf(g);
        if (Number.isFinite(ttl)) n += del.run(g, now - ttl).changes;
      }
    }).immediate();
    return n;
  }

  #schedulePrune(): void {
    if (this.#state !== 'started') return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      try {
        this.pruneExpired();
      } finally {
        this.#schedulePrune();
      }
    }, this.#pruneMs);
    this.#timer.unref?.();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#put = undefined;
    this.#get = undefined;
    this.#groups = undefined;
    this.#delExpired = undefined;
    const db = this.#db;
    this.#db = undefined;
    db?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
