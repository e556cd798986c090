/**
 * ParquetOfflineStore: append-only history of feature records as Parquet files, for training and analytics.
 *
 * Layout (Hive-style partitions, readable by DuckDB, Athena, Spark, pyarrow.dataset):
 *   <dir>/<group>/date=YYYY-MM-DD/part-<writeTimeMs>-<random>.parquet
 *   <dir>/<group>/_schema.json    the group's columns and schema version (for readers)
 *   <dir>/<group>/_commit.json    the commit record: schema, stream positions, last renames (parquet-commit.ts)
 * `date` is the UTC day of the record's event time. Columns: entity_id VARCHAR, event_time and write_time
 * TIMESTAMP adjusted to UTC (DuckDB: TIMESTAMP WITH TIME ZONE), then one nullable column per feature, DOUBLE or
 * VARCHAR, with SQL-safe names (parquet-schema.ts). Every file of a group has the group's one current schema: a
 * schema change rewrites the group's older files in the same commit.
 *
 * Rows are buffered and written by DuckDB (@duckdb/node-api, COPY ... TO ... (FORMAT parquet)) when a group
 * reaches `flushRows`, every `flushIntervalMs`, on flush() and on close(). A flush writes fsynced `.tmp` files,
 * commits them in `_commit.json` together with the stream positions of the appends it holds, and renames them
 * into place; start() finishes a committed flush and drops an uncommitted one.
 *
 * Exactly-once from a stream: append() takes the stream positions its records came from (`source`), and
 * committedPositions() says up to where a consumer's rows are in committed files. The Processor checkpoints no
 * further than that, and after a restart it does not append again the rows of records at or before it. A crash
 * loses buffered rows only in memory: their records are past the checkpoint, so they are read and appended again.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureRecord } from './feature-store.ts';
import { checkGroup, checkRecord, FEATURE_NAME_PATTERN } from './feature-record-check.ts';
import {
  resolveParquetOfflineStoreOptions,
  type ResolvedParquetOfflineStoreOptions,
  type OfflineSource,
  type Row,
  type OfflineStoreStats,
  type ParquetOfflineStoreOptions,
} from './parquet-offline-store-options.ts';
import { ident, micros, sqlString, utcDate } from './duckdb-sql.ts';
import { evolveSchema, EMPTY_SCHEMA, FIXED_COLUMNS, type GroupSchema } from './parquet-schema.ts';
import {
  applyRenames,
  fsyncPath,
  listPartFiles,
  mergePositions,
  readCommit,
  readSchemaFileVersion,
  removeTmpFiles,
  writeCommit,
  writeSchemaFile,
  type StreamPositions,
} from './parquet-commit.ts';

const C = 'ParquetOfflineStore';
const RESERVED = ['entity_id', 'event_time', 'write_time'];

interface GroupState {
  dir: string;
  schema: GroupSchema;
  /** positions of committed rows */
  positions: StreamPositions;
  /** positions of appends not committed yet */
  pending: StreamPositions;
  rows: Row[];
  /** rows taken by the write in progress (not committed yet) */
  writing: number;
}

export {
  PARQUET_COMPRESSIONS,
  ParquetOfflineStoreOptionsSchema,
  parquetCompressionOption,
  type OfflineSource,
  type OfflineStoreStats,
  type ParquetCompression,
  type ParquetOfflineStoreOptions,
} from './parquet-offline-store-options.ts';
export { ident, micros, sqlString } from './duckdb-sql.ts';

export class ParquetOfflineStore {
  readonly #o: ResolvedParquetOfflineStoreOptions;
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #groups = new Map<string, GroupState>();
  readonly #closing = new AbortController();
  /** groups with a write waiting in #chain: a full buffer does not queue another one */
  readonly #queued = new Set<string>();
  #keywords: ReadonlySet<string> = new Set();
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;
  #timer: TimerHandle | undefined;
  #state: 'new' | 'started' | 'closed' = 'new';
  /** writes are serialised: one DuckDB connection, and flush order = append order */
  #chain: Promise<void> = Promise.resolve();
  #table = 0;
  readonly #s: OfflineStoreStats = { rowsWritten: 0, filesWritten: 0, filesRewritten: 0, buffered: 0, writeErrors: 0 };

  constructor(opts: ParquetOfflineStoreOptions) {
    const o = resolveParquetOfflineStoreOptions(opts);
    this.#o = o;
    this.#dir = o.dir;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
  }

  /** Open DuckDB, finish or drop the flush a crash interrupted, and load every group's commit record. */
  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    await mkdir(this.#dir, { recursive: true });
    this.#instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    this.#conn = await this.#instance.connect();
    // timestamps are UTC instants: no session time zone may shift them
    await this.#conn.run("SET TimeZone = 'UTC'");
    const kw = await this.#conn.runAndReadAll(
      "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'",
    );
    this.#keywords = new Set(kw.getRowObjectsJS().map((r) => String(r.keyword_name).toLowerCase()));
    for (const e of await readdir(this.#dir, { withFileTypes: true })) {
      if (!e.isDirectory() || !FEATURE_NAME_PATTERN.test(e.name)) continue;
      const dir = join(this.#dir, e.name);
      const commit = await readCommit(dir);
      await applyRenames(dir, commit.renames);
      await removeTmpFiles(dir);
      const g: GroupState = {
        dir,
        schema: commit.schema,
        positions: commit.positions,
        pending: {},
        rows: [],
        writing: 0,
      };
      this.#groups.set(e.name, g);
      const files = await listPartFiles(dir);
      if (!commit.found && files.length > 0) await this.#adoptFiles(e.name, g, files);
      // a crash between a commit and the schema file's update leaves it behind
      else if (commit.found && (await readSchemaFileVersion(dir)) !== commit.schema.version)
        await writeSchemaFile(dir, e.name, commit.schema);
    }
    this.#state = 'started';
    this.#schedule();
  }

  #schedule(): void {
    if (this.#state !== 'started') return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.flush()
        .catch((err: unknown) => this.#log.error({ err }, 'offline store flush failed'))
        .finally(() => this.#schedule());
    }, this.#o.flushIntervalMs);
    this.#timer.unref?.();
  }

  /**
   * Buffer records (validated now); a full buffer starts a write in the background. `source` says which stream
   * records these rows come from (see committedPositions()); an append of no records with a source only moves
   * the positions. Returns a promise only when the group holds more than maxBufferedRows (writes are failing):
   * it resolves once a write brought the buffer back under the bound.
   */
  append(group: string, records: FeatureRecord[], source?: OfflineSource): void | Promise<void> {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    if (this.#state !== 'started')
      throw new EdgeloopError('EL_ERR_FEATURE_STORE_NOT_STARTED', `${C}: call start() first`);
    checkGroup(group);
    const now = this.#clock.now();
    const rows = records.map((r, i) => ({
      entityId: r.entityId,
      eventTime: r.eventTime,
      writeTime: now,
      features: checkRecord(r, `append() records[${i}]`, RESERVED),
    }));
    const g = this.#group(group);
    g.rows.push(...rows);
    if (source) g.pending = mergePositions(g.pending, { [source.consumer]: source.positions });
    if (g.rows.length >= this.#o.flushRows && !this.#queued.has(group)) {
      this.#flushGroup(group).catch((err: unknown) => this.#log.error({ err, group }, 'offline store flush failed'));
    }
    if (g.rows.length + g.writing > this.#o.maxBufferedRows) return this.#waitBelowBound(group, g);
  }

  /**
   * Per shard, the sequence number of the last record of `consumer` whose rows of `group` are in committed
   * files (empty when none).
   */
  committedPositions(group: string, consumer: string): Record<string, string> {
    return { ...this.#groups.get(group)?.positions[consumer] };
  }

  #group(group: string): GroupState {
    let g = this.#groups.get(group);
    if (!g) {
      g = { dir: join(this.#dir, group), schema: EMPTY_SCHEMA, positions: {}, pending: {}, rows: [], writing: 0 };
      this.#groups.set(group, g);
    }
    return g;
  }

  async #waitBelowBound(group: string, g: GroupState): Promise<void> {
    this.#log.warn(
      { group, buffered: g.rows.length },
      'offline store buffer over maxBufferedRows: append waits for a write',
    );
    while (g.rows.length + g.writing > this.#o.maxBufferedRows) {
      if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
      try {
        await this.#flushGroup(group);
      } catch {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.#clock.clearTimeout(t);
            this.#closing.signal.removeEventListener('abort', done);
            resolve();
          };
          const t = this.#clock.setTimeout(done, this.#o.flushIntervalMs);
          this.#closing.signal.addEventListener('abort', done, { once: true });
        });
      }
    }
  }

  /** Write every buffered row now. Rejects with EL_ERR_OFFLINE_STORE_WRITE when a file could not be written. */
  async flush(): Promise<void> {
    const errors: unknown[] = [];
    for (const g of [...this.#groups.keys()]) await this.#flushGroup(g).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  #flushGroup(group: string): Promise<void> {
    this.#queued.add(group);
    const run = this.#chain.then(() => {
      this.#queued.delete(group);
      return this.#write(group);
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #write(group: string): Promise<void> {
    const g = this.#groups.get(group);
    if (!g || !this.#conn || (g.rows.length === 0 && Object.keys(g.pending).length === 0)) return;
    const rows = g.rows;
    const pending = g.pending;
    g.rows = [];
    g.pending = {};
    g.writing = rows.length;
    try {
      await this.#commit(group, g, rows, pending);
    } finally {
      g.writing = 0;
    }
  }

  async #commit(group: string, g: GroupState, rows: Row[], pending: StreamPositions): Promise<void> {
    const schema = evolveSchema(
      g.schema,
      rows.map((r) => r.features),
      this.#keywords,
    );
    const positions = mergePositions(g.positions, pending);
    const renames: { from: string; to: string }[] = [];
    let rewritten = 0;
    try {
      await mkdir(g.dir, { recursive: true });
      if (schema !== g.schema) {
        for (const f of await listPartFiles(g.dir)) renames.push(await this.#rewriteFile(g.dir, f, schema));
        rewritten = renames.length;
      }
      const byDate = new Map<string, Row[]>();
      for (const r of rows) {
        const d = utcDate(r.eventTime);
        const list = byDate.get(d);
        if (list) list.push(r);
        else byDate.set(d, [r]);
      }
      for (const [date, list] of byDate) renames.push(await this.#writeFile(g.dir, date, list, schema));
      await writeCommit(g.dir, { schema, positions, renames });
    } catch (err) {
      for (const r of renames) await rm(join(g.dir, r.from), { force: true });
      // keep what was not written, ahead of rows appended meanwhile
      g.rows = [...rows, ...g.rows];
      g.pending = mergePositions(pending, g.pending);
      this.#s.writeErrors++;
      throw new EdgeloopError(
        'EL_ERR_OFFLINE_STORE_WRITE',
        `${C}: writing ${rows.length} rows of ${group} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // committed: from here on a crash is finished by start(), so the rows are not buffered again
    const changed = schema !== g.schema;
    g.schema = schema;
    g.positions = positions;
    this.#s.filesWritten += renames.length - rewritten;
    this.#s.filesRewritten += rewritten;
    this.#s.rowsWritten += rows.length;
    try {
      await applyRenames(g.dir, renames);
      if (changed) await writeSchemaFile(g.dir, group, schema);
    } catch (err) {
      this.#s.writeErrors++;
      throw new EdgeloopError(
        'EL_ERR_OFFLINE_STORE_WRITE',
        `${C}: ${group}: committed files could not be renamed into place (start() retries): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Committed part files of a group, relative to its directory. */
  #copyOptions(schema: GroupSchema): string {
    return `FORMAT parquet, COMPRESSION ${this.#o.compression}, KV_METADATA {edgeloop_schema_version: '${schema.version}'}`;
  }

  async #writeFile(
    groupDir: string,
    date: string,
    rows: Row[],
    schema: GroupSchema,
  ): Promise<{ from: string; to: string }> {
    const conn = this.#conn!;
    const table = `offline_buf_${++this.#table}`;
    const cols = [...FIXED_COLUMNS, ...schema.columns].map((c) => `${ident(c.name)} ${c.type}`).join(', ');
    await conn.run(`CREATE TEMP TABLE ${table} (${cols})`);
    try {
      const app = await conn.createAppender(table);
      for (const r of rows) {
        app.appendVarchar(r.entityId);
        app.appendTimestampTZ(micros(r.eventTime));
        app.appendTimestampTZ(micros(r.writeTime));
        for (const c of schema.columns) {
          const v = r.features[c.feature];
          if (v === undefined) app.appendNull();
          else if (c.type === 'DOUBLE') app.appendDouble(v as number);
          else app.appendVarchar(String(v));
        }
        app.endRow();
      }
      app.closeSync();
      await mkdir(join(groupDir, `date=${date}`), { recursive: true });
      const base = `part-${this.#clock.now()}-${randomBytes(4).toString('hex')}.parquet`;
      const to = `date=${date}/${base}`;
      const from = `date=${date}/.${base}.tmp`;
      await conn.run(
        `COPY (SELECT * FROM ${table} ORDER BY event_time) TO ${sqlString(join(groupDir, from))} (${this.#copyOptions(schema)})`,
      );
      await fsyncPath(join(groupDir, from));
      return { from, to };
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  /**
   * Rewrite a part file to `schema` under a temp name: columns it lacks become NULL, widened ones are cast. A
   * file written before column names were SQL-safe has its columns under the feature names: they are found too.
   */
  async #rewriteFile(groupDir: string, file: string, schema: GroupSchema): Promise<{ from: string; to: string }> {
    const conn = this.#conn!;
    const path = sqlString(join(groupDir, file));
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${path})`);
    const have = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
    const select = [
      ...FIXED_COLUMNS.map((c) => `CAST(${ident(c.name)} AS ${c.type}) AS ${ident(c.name)}`),
      ...schema.columns.map((c) => {
        const src = have.has(c.name) ? c.name : have.has(c.feature) ? c.feature : undefined;
        return `${src === undefined ? 'NULL' : ident(src)}::${c.type} AS ${ident(c.name)}`;
      }),
    ].join(', ');
    const slash = file.indexOf('/');
    const from = `${file.slice(0, slash)}/.${file.slice(slash + 1)}.tmp`;
    await conn.run(
      `COPY (SELECT ${select} FROM read_parquet(${path})) TO ${sqlString(join(groupDir, from))} (${this.#copyOptions(schema)})`,
    );
    await fsyncPath(join(groupDir, from));
    return { from, to: file };
  }

  /**
   * A group directory with part files but no commit record (written by an older edgeloop, with one schema per
   * file and naive timestamps read as UTC): derive the group schema from all its files and rewrite them to it.
   */
  async #adoptFiles(group: string, g: GroupState, files: string[]): Promise<void> {
    const list = `[${files.map((f) => sqlString(join(g.dir, f))).join(', ')}]`;
    const described = await this.#conn!.runAndReadAll(
      `DESCRIBE SELECT * FROM read_parquet(${list}, union_by_name = true)`,
    );
    const sample: Record<string, number | string> = {};
    for (const r of described.getRowObjectsJS()) {
      const name = String(r.column_name);
      if (RESERVED.includes(name) || !FEATURE_NAME_PATTERN.test(name)) continue;
      sample[name] = String(r.column_type) === 'DOUBLE' ? 0 : '';
    }
    const schema = evolveSchema({ version: 0, columns: [] }, [sample], this.#keywords);
    const renames = [];
    for (const f of files) renames.push(await this.#rewriteFile(g.dir, f, schema));
    await writeCommit(g.dir, { schema, positions: g.positions, renames });
    g.schema = schema;
    await applyRenames(g.dir, renames);
    await writeSchemaFile(g.dir, group, schema);
    this.#log.info(
      { group, files: files.length, version: schema.version },
      'offline store: adopted files without a commit record',
    );
  }

  stats(): OfflineStoreStats {
    let buffered = 0;
    for (const g of this.#groups.values()) buffered += g.rows.length;
    return { ...this.#s, buffered };
  }

  /** Flush what is buffered, then release DuckDB. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasStarted = this.#state === 'started';
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (wasStarted) {
      await this.flush().catch((err: unknown) =>
        this.#log.error(
          { err },
          'offline store: final flush failed; buffered rows are not in Parquet (a stream consumer replays them)',
        ),
      );
      await this.#chain;
    }
    this.#state = 'closed';
    this.#closing.abort();
    this.#conn?.closeSync();
    this.#conn = undefined;
    this.#instance?.closeSync();
    this.#instance = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
