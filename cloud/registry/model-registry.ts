/**
 * ModelRegistry: models by name and version, with manifest, signature, evaluation metrics, a summary of the
 * training data (feature distributions, for drift), lineage (parent version, data hash) and aliases with history.
 * Metadata lives in SQLite (WAL, synchronous=FULL: a push or an alias move that returned survives a power cut);
 * artifacts live in a content-addressed ArtifactStore. A push whose manifest does not verify (schema, artifact
 * sha256 and size, ed25519 signature against the trusted keys) is refused before anything is written.
 *
 * Alias moves are announced on the 'alias' event and on diagnostics_channel `edgeloop:registry:alias` (the
 * recommendation service hot-reloads on them). The aliases' tables are AliasTable (alias-table.ts), the versions'
 * evaluation status VersionStatusTable (version-status.ts); this class owns the database, its migrations, the
 * versions and the checks.
 */
import { channel } from 'node:diagnostics_channel';
import { z } from 'zod';
import { clockAndLogger, dependency, parseOptions, requiredString } from '../../lib/options.ts';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type Database from 'better-sqlite3';
import { openWalDatabase } from '../../lib/sqlite.ts';
import { systemClock } from '../../lib/clock.ts';
import { silentLogger } from '../../lib/logger.ts';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest, type Manifest } from '../../protocol/manifest.ts';
import { assertValidId } from '../../protocol/topics.ts';
import type { KeyObject } from 'node:crypto';
import { TrustedKeyRing, sha256Hex, trustedKeySet, verifyManifest } from '../../models/manifest/index.ts';
import { AliasTable, assertAliasName } from './alias-table.ts';
import type { ArtifactStore } from './artifact-store.ts';
import { type Row, str, toRecord } from './registry-records.ts';
import type {
  ModelVersionRecord,
  AliasRecord,
  AliasEvent,
  ModelSummary,
  PushInput,
  PushResult,
} from './registry-records.ts';
import { VersionStatusTable, assertStatusWord, type VersionStatus } from './version-status.ts';

export type { VersionStatus } from './version-status.ts';

export type {
  ModelVersionRecord,
  AliasRecord,
  AliasEvent,
  ModelSummary,
  PushInput,
  PushResult,
} from './registry-records.ts';

export const ModelRegistryOptionsSchema = z.strictObject({
  /** SQLite file of the metadata; created with its directory */
  dbPath: requiredString('a file path'),
  store: dependency<ArtifactStore>('an ArtifactStore'),
  /** ed25519 public keys (PEM strings or KeyObjects) whose signatures are accepted, or a ring of key files/directories */
  trustedKeys: dependency<ReadonlyArray<string | KeyObject> | TrustedKeyRing>(
    'PEM public keys or a TrustedKeyRing',
    (v) => v instanceof TrustedKeyRing || Array.isArray(v),
  ),
  /** refuse unsigned manifests */
  requireSignature: z.boolean().default(true),
  ...clockAndLogger,
});

export type ModelRegistryOptions = z.input<typeof ModelRegistryOptionsSchema>;

const aliasChannel = channel('edgeloop:registry:alias');
const SCHEMA_VERSION = 2;

export interface ModelRegistryEvents {
  alias: [event: AliasEvent];
  push: [record: ModelVersionRecord];
}

export class ModelRegistry extends EventEmitter<ModelRegistryEvents> {
  readonly #opts: Readonly<Required<Omit<ModelRegistryOptions, 'trustedKeys'>>>;
  readonly #keys: Map<string, KeyObject>;
  #db: Database.Database | undefined;
  #stmts: Record<string, Database.Statement> = {};
  #aliases: AliasTable | undefined;
  #statuses: VersionStatusTable | undefined;
  #closed = false;

  constructor(opts: ModelRegistryOptions) {
    super();
    const o = parseOptions(ModelRegistryOptionsSchema, opts, {
      where: 'ModelRegistry',
      code: 'EL_ERR_INVALID_ARGUMENT',
    });
    // a ring is kept as it is: it re-reads its key directories when a push names a key it does not know
    this.#keys = o.trustedKeys instanceof TrustedKeyRing ? o.trustedKeys : trustedKeySet(o.trustedKeys);
    this.#opts = Object.freeze({
      dbPath: o.dbPath,
      store: o.store,
      requireSignature: o.requireSignature,
      clock: o.clock ?? systemClock,
      logger: o.logger ?? silentLogger,
    });
  }

  get store(): ArtifactStore {
    return this.#opts.store;
  }

  /** Open (and migrate) the database. Idempotent. */
  start(): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'model registry is closed');
    if (this.#db) return;
    const db = openWalDatabase(this.#opts.dbPath, { synchronous: 'FULL' });
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) {
      db.close();
      throw new EdgeloopError(
        'EL_ERR_CONFIG_INVALID',
        `${this.#opts.dbPath}: registry schema version ${v} is newer than this edgeloop (${SCHEMA_VERSION})`,
      );
    }
    if (v < 1) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS versions (
          name TEXT NOT NULL, version TEXT NOT NULL, manifest TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,
          key_id TEXT, parent_version TEXT, data_hash TEXT, created_at TEXT NOT NULL, pushed_at INTEGER NOT NULL,
          PRIMARY KEY (name, version));
        CREATE INDEX IF NOT EXISTS versions_pushed ON versions(name, pushed_at);
        CREATE TABLE IF NOT EXISTS aliases (
          name TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL, updated_at INTEGER NOT NULL,
          PRIMARY KEY (name, alias));
        CREATE TABLE IF NOT EXISTS alias_history (
          id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL,
          previous TEXT, at INTEGER NOT NULL);
        PRAGMA user_version = 1;`);
    }
    if (v < 2) {
      // the evaluation status of a version (retraining's champion/challenger): candidate or rejected, with why
      db.exec(`
        CREATE TABLE IF NOT EXISTS version_status (
          name TEXT NOT NULL, version TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, details TEXT,
          at INTEGER NOT NULL, PRIMARY KEY (name, version));
        PRAGMA user_version = 2;`);
    }
    this.#db = db;
    this.#stmts = {
      insert: db.prepare(
        `INSERT INTO versions (name, version, manifest, sha256, bytes, key_id, parent_version, data_hash, created_at, pushed_at)
         VALUES (@name, @version, @manifest, @sha256, @bytes, @key_id, @parent_version, @data_hash, @created_at, @pushed_at)`,
      ),
      get: db.prepare('SELECT * FROM versions WHERE name = ? AND version = ?'),
      versions: db.prepare('SELECT * FROM versions WHERE name = ? ORDER BY pushed_at DESC, rowid DESC'),
      names: db.prepare(
        `SELECT name, COUNT(*) AS n, MAX(pushed_at) AS latest_at,
           (SELECT version FROM versions v2 WHERE v2.name = v.name ORDER BY pushed_at DESC, rowid DESC LIMIT 1) AS latest
         FROM versions v GROUP BY name ORDER BY name`,
      ),
    };
    this.#aliases = new AliasTable(db);
    this.#statuses = new VersionStatusTable(db);
  }

  #dbOrThrow(): Database.Database {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'model registry is closed');
    if (!this.#db) this.start();
    return this.#db!;
  }

  #aliasTable(): AliasTable {
    this.#dbOrThrow();
    return this.#aliases!;
  }

  #statusTable(): VersionStatusTable {
    this.#dbOrThrow();
    return this.#statuses!;
  }

  /**
   * Verify and store a model version. Refuses (EL_ERR_REGISTRY_UNTRUSTED, with the verification error as cause)
   * a manifest that fails its schema, whose artifact does not match sha256/size, or whose signature does not
   * verify with a trusted key. Pushing the identical version again is a no-op; a different one is a conflict.
   */
  async push(input: PushInput): Promise<PushResult> {
    this.#dbOrThrow();
    if (!input || typeof input !== 'object' || input.manifest === undefined) {
      throw new EdgeloopError('EL_ERR_REGISTRY_BAD_PUSH', 'push: "manifest" is required');
    }
    let bytes: Uint8Array;
    if (input.artifact instanceof Uint8Array) bytes = input.artifact;
    else if (input.artifact && typeof (input.artifact as { path?: unknown }).path === 'string') {
      const p = (input.artifact as { path: string }).path;
      try {
        bytes = await readFile(p);
      } catch (cause) {
        throw new EdgeloopError(
          'EL_ERR_REGISTRY_BAD_PUSH',
          `push: cannot read artifact ${p}: ${(cause as Error).message}`,
          { cause },
        );
      }
    } else throw new EdgeloopError('EL_ERR_REGISTRY_BAD_PUSH', 'push: "artifact" (bytes or { path }) is required');

    let manifest: Manifest;
    try {
      manifest = this.#verify(input.manifest);
      const sha = sha256Hex(bytes);
      if (sha !== manifest.artifact.sha256 || bytes.byteLength !== manifest.artifact.bytes) {
        throw new EdgeloopError(
          'EL_ERR_MODEL_HASH',
          `the artifact (${bytes.byteLength} bytes, sha256 ${sha.slice(0, 12)}...) does not match the manifest (${manifest.artifact.bytes} bytes, sha256 ${manifest.artifact.sha256.slice(0, 12)}...)`,
        );
      }
    } catch (cause) {
      const e = cause as EdgeloopError;
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_UNTRUSTED',
        `push refused: ${e.message}${e.code ? ` [${e.code}]` : ''}`,
        { cause, details: { reason: e.code } },
      );
    }
    assertValidId('modelName', manifest.name);
    const existing = this.get(manifest.name, manifest.version);
    if (existing) {
      if (
        existing.sha256 === manifest.artifact.sha256 &&
        canonicalJson(existing.manifest) === canonicalJson(input.manifest)
      ) {
        return { record: existing, created: false };
      }
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_CONFLICT',
        `${manifest.name}@${manifest.version} already exists with a different manifest (sha256 ${existing.sha256.slice(0, 12)}…); versions are immutable, push a new version`,
      );
    }
    await this.#opts.store.put(bytes);
    const training = (manifest.training ?? {}) as Record<string, unknown>;
    const parent = input.parentVersion ?? str(training.parentVersion);
    const dataHash = input.dataHash ?? str(training.dataHash) ?? str(training.dataSha256);
    const row: Row = {
      name: manifest.name,
      version: manifest.version,
      // the manifest exactly as signed (not the schema-normalised copy), so devices can verify the signature
      manifest: JSON.stringify(input.manifest),
      sha256: manifest.artifact.sha256,
      bytes: manifest.artifact.bytes,
      key_id: manifest.signature?.keyId ?? null,
      parent_version: parent ?? null,
      data_hash: dataHash ?? null,
      created_at: manifest.createdAt,
      pushed_at: this.#opts.clock.now(),
    };
    this.#stmts.insert!.run(row);
    const record = toRecord(row);
    this.#opts.logger.info(
      { model: record.name, version: record.version, sha256: record.sha256 },
      'model version pushed',
    );
    this.emit('push', record);
    return { record, created: true };
  }

  #verify(value: unknown): Manifest {
    const signed =
      typeof value === 'object' && value !== null && (value as { signature?: unknown }).signature !== undefined;
    if (!signed && !this.#opts.requireSignature) {
      // parse only; unsigned pushes are an explicit opt-out (requireSignature: false)
      return parseManifest(value, 'manifest');
    }
    return verifyManifest(value, this.#keys, 'manifest').manifest;
  }

  get(name: string, version: string): ModelVersionRecord | undefined {
    this.#dbOrThrow();
    const row = this.#stmts.get!.get(name, version) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Resolve `ref` (a version, an alias, or "latest") to a record; throws EL_ERR_REGISTRY_NOT_FOUND. */
  resolve(name: string, ref = 'latest'): ModelVersionRecord {
    this.#dbOrThrow();
    let rec: ModelVersionRecord | undefined;
    if (ref === 'latest') rec = this.versions(name)[0];
    else {
      rec = this.get(name, ref);
      if (!rec) {
        const a = this.getAlias(name, ref);
        if (a) rec = this.get(name, a.version);
      }
    }
    if (!rec) {
      const known = this.versions(name).length;
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_NOT_FOUND',
        known
          ? `${name}@${ref}: no such version or alias of ${name}`
          : `model ${JSON.stringify(name)} is not in the registry`,
      );
    }
    return rec;
  }

  versions(name: string): ModelVersionRecord[] {
    this.#dbOrThrow();
    return (this.#stmts.versions!.all(name) as Row[]).map(toRecord);
  }

  list(): ModelSummary[] {
    const aliases = this.#aliasTable().all();
    return (this.#stmts.names!.all() as Array<{ name: string; n: number; latest_at: number; latest: string }>).map(
      (r) => ({
        name: r.name,
        versions: r.n,
        latest: r.latest,
        latestPushedAt: r.latest_at,
        aliases: Object.fromEntries(aliases.filter((a) => a.name === r.name).map((a) => [a.alias, a.version])),
      }),
    );
  }

  aliases(name: string): AliasRecord[] {
    return this.#aliasTable().of(name);
  }

  getAlias(name: string, alias: string): AliasRecord | undefined {
    return this.#aliasTable().get(name, alias);
  }

  /** Point `alias` of `name` at `version` (which must exist); records history and emits 'alias' when it moved. */
  setAlias(name: string, alias: string, version: string): AliasEvent {
    const aliases = this.#aliasTable();
    assertAliasName(alias);
    if (!this.get(name, version)) {
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_NOT_FOUND',
        `cannot point ${name} alias "${alias}" at ${version}: no such version`,
      );
    }
    const { event, moved } = aliases.set(name, alias, version, this.#opts.clock.now());
    if (!moved) return event;
    this.#opts.logger.info({ model: name, alias, version, previous: event.previous }, 'alias moved');
    if (aliasChannel.hasSubscribers) aliasChannel.publish(event);
    this.emit('alias', event);
    return event;
  }

  /**
   * Record the evaluation status of a version (`candidate`, `rejected`, or any other word a workflow uses) with
   * its reason and details; the version must exist. Retraining's champion/challenger writes it.
   */
  setStatus(
    name: string,
    version: string,
    status: string,
    reason?: string,
    details?: Record<string, unknown>,
  ): VersionStatus {
    const statuses = this.#statusTable();
    assertStatusWord(status);
    if (!this.get(name, version))
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_NOT_FOUND',
        `cannot set the status of ${name}@${version}: no such version`,
      );
    return statuses.set(name, version, status, reason, details, this.#opts.clock.now());
  }

  /** The evaluation status of a version, if one was recorded. */
  status(name: string, version: string): VersionStatus | undefined {
    return this.#statusTable().get(name, version);
  }

  deleteAlias(name: string, alias: string): boolean {
    return this.#aliasTable().delete(name, alias);
  }

  aliasHistory(name: string, alias?: string, limit = 100): AliasEvent[] {
    return this.#aliasTable().history(name, alias, limit);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
