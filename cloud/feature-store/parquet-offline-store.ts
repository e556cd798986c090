/**
 * ParquetOfflineStore: append-only history of feature records as Parquet files, for training and analytics.
 *
 * Layout (Hive-style partitions, readable by DuckDB, Athena, Spark, pandas/pyarrow):
 *   <dir>/<group>/date=YYYY-MM-DD/part-<writeTimeMs>-<random>.parquet
 * `date` is the UTC day of the record's event time. Columns: entity_id VARCHAR, event_time TIMESTAMP (UTC),
 * write_time TIMESTAMP, then one column per feature: DOUBLE when every value of it in the file is a number,
 * VARCHAR otherwise. Files of one group may have different feature columns: read with union_by_name.
 *
 * Rows are buffered and written by DuckDB (@duckdb/node-api, COPY ... TO ... (FORMAT parquet)) when a group
 * reaches `flushRows`, every `flushIntervalMs`, and on close(). A file is written under a hidden `.tmp` name and
 * renamed into place, so readers never see a partial file; leftover `.tmp` files of a crash are removed at start.
 * What a crash loses: the rows still buffered (at most flushRows per group or flushIntervalMs of data).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureRecord } from './feature-store.ts';
import { checkGroup, checkRecord } from './feature-record-check.ts';
import { checkKnownOptions, intOption, oneOfOption, stringOption } from '../stream/options.ts';

export interface ParquetOfflineStoreOptions {
  /** root directory. Required. */
  dir: string;
  /** write a group's buffer when it holds this many rows. Default 10 000. */
  flushRows?: number;
  /** write every buffer at least this often, ms. Default 60 000. */
  flushIntervalMs?: number;
  /** rows kept per group while writes fail; the oldest are dropped (and counted) beyond it. Default 200 000. */
  maxBufferedRows?: number;
  /** Parquet compression. Default 'zstd'. */
  compression?: 'zstd' | 'snappy' | 'gzip' | 'uncompressed';
  clock?: Clock;
  logger?: Logger;
}

const KNOWN = ['dir', 'flushRows', 'flushIntervalMs', 'maxBufferedRows', 'compression', 'clock', 'logger'] as const;
const C = 'ParquetOfflineStore';
const RESERVED = ['entity_id', 'event_time', 'write_time'];

interface Row {
  entityId: string;
  eventTime: number;
  writeTime: number;
  features: Record<string, number | string>;
}

export interface OfflineStoreStats {
  rowsWritten: number;
  filesWritten: number;
  buffered: number;
  droppedRows: number;
  writeErrors: number;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class ParquetOfflineStore {
  readonly #dir: string;
  readonly #flushRows: number;
  readonly #flushMs: number;
  readonly #maxBuffered: number;
  readonly #compression: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #buffers = new Map<string, Row[]>();
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;
  #timer: TimerHandle | undefined;
  #state: 'new' | 'started' | 'closed' = 'new';
  /** writes are serialised: one DuckDB connection, and flush order = append order */
  #chain: Promise<void> = Promise.resolve();
  #table = 0;
  readonly #s: OfflineStoreStats = { rowsWritten: 0, filesWritten: 0, buffered: 0, droppedRows: 0, writeErrors: 0 };

  constructor(opts: ParquetOfflineStoreOptions) {
    checkKnownOptions(C, opts, KNOWN);
    this.#dir = stringOption(C, 'dir', opts?.dir, '');
    if (this.#dir === '') throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: option "dir" is required`);
    this.#flushRows = intOption(C, 'flushRows', opts.flushRows, 10_000, 1);
    this.#flushMs = intOption(C, 'flushIntervalMs', opts.flushIntervalMs, 60_000, 10);
    this.#maxBuffered = intOption(C, 'maxBufferedRows', opts.maxBufferedRows, 200_000, 1);
    this.#compression = oneOfOption(C, 'compression', opts.compression, 'zstd', ['zstd', 'snappy', 'gzip', 'uncompressed'] as const);
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    await mkdir(this.#dir, { recursive: true });
    await this.#removeTmp(this.#dir, 0);
    this.#instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    this.#conn = await this.#instance.connect();
    this.#state = 'started';
    this.#schedule();
  }

  async #removeTmp(dir: string, depth: number): Promise<void> {
    if (depth > 2) return;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.#removeTmp(p, depth + 1);
      else if (e.name.startsWith('.') && e.name.endsWith('.tmp')) await rm(p, { force: true });
    }
  }

  #schedule(): void {
    if (this.#state !== 'started') return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.flush()
        .catch((err: unknown) => this.#log.error({ err }, 'offline store flush failed'))
        .finally(() => this.#schedule());
    }, this.#flushMs);
    this.#timer.unref?.();
  }

  /** Buffer records (validated now); a full buffer starts a write in the background. */
  append(group: string, records: FeatureRecord[]): void {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    if (this.#state !== 'started') throw new EdgeloopError('EL_ERR_FEATURE_STORE_NOT_STARTED', `${C}: call start() first`);
    checkGroup(group);
    const now = this.#clock.now();
    let buf = this.#buffers.get(group);
    if (!buf) {
      buf = [];
      this.#buffers.set(group, buf);
    }
    records.forEach((r, i) => {
      const features = checkRecord(r, `append() records[${i}]`, RESERVED);
      buf.push({ entityId: r.entityId, eventTime: r.eventTime, writeTime: now, features });
    });
    if (buf.length > this.#maxBuffered) {
      const drop = buf.length - this.#maxBuffered;
      buf.splice(0, drop);
      this.#s.droppedRows += drop;
      this.#log.warn({ group, dropped: drop }, 'offline store buffer full: oldest rows dropped');
    }
    if (buf.length >= this.#flushRows) {
      this.#flushGroup(group).catch((err: unknown) => this.#log.error({ err, group }, 'offline store flush failed'));
    }
  }

  /** Write every buffered row now. Rejects with EL_ERR_OFFLINE_STORE_WRITE when a file could not be written. */
  async flush(): Promise<void> {
    const errors: unknown[] = [];
    for (const g of [...this.#buffers.keys()]) await this.#flushGroup(g).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  #flushGroup(group: string): Promise<void> {
    const run = this.#chain.then(() => this.#write(group));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #write(group: string): Promise<void> {
    const rows = this.#buffers.get(group);
    if (!rows || rows.length === 0 || !this.#conn) return;
    this.#buffers.set(group, []);
    const byDate = new Map<string, Row[]>();
    for (const r of rows) {
      const d = utcDate(r.eventTime);
      const list = byDate.get(d) ?? [];
      list.push(r);
      byDate.set(d, list);
    }
    const done = new Set<Row>();
    try {
      for (const [date, list] of byDate) {
        await this.#writeFile(group, date, list);
        for (const r of list) done.add(r);
      }
    } catch (err) {
      // keep what was not written, ahead of rows appended meanwhile
      const left = rows.filter((r) => !done.has(r));
      this.#buffers.set(group, [...left, ...(this.#buffers.get(group) ?? [])]);
      this.#s.writeErrors++;
      throw new EdgeloopError('EL_ERR_OFFLINE_STORE_WRITE', `${C}: writing ${left.length} rows of ${group} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async #writeFile(group: string, date: string, rows: Row[]): Promise<void> {
    const conn = this.#conn!;
    const types = new Map<string, 'DOUBLE' | 'VARCHAR'>();
    for (const r of rows) {
      for (const [k, v] of Object.entries(r.features)) {
        if (typeof v === 'string') types.set(k, 'VARCHAR');
        else if (!types.has(k)) types.set(k, 'DOUBLE');
      }
    }
    const names = [...types.keys()].sort();
    const table = `offline_buf_${++this.#table}`;
    await conn.run(
      `CREATE TEMP TABLE ${table} (entity_id VARCHAR, event_time_ms DOUBLE, write_time_ms DOUBLE${names.map((n) => `, ${ident(n)} ${types.get(n)}`).join('')})`,
    );
    try {
      const app = await conn.createAppender(table);
      for (const r of rows) {
        app.appendVarchar(r.entityId);
        app.appendDouble(r.eventTime);
        app.appendDouble(r.writeTime);
        for (const n of names) {
          const v = r.features[n];
          if (v === undefined) app.appendNull();
          else if (types.get(n) === 'DOUBLE') app.appendDouble(v as number);
          else app.appendVarchar(String(v));
        }
        app.endRow();
      }
      app.closeSync();
      const dir = join(this.#dir, group, `date=${date}`);
      await mkdir(dir, { recursive: true });
      const base = `part-${this.#clock.now()}-${randomBytes(4).toString('hex')}.parquet`;
      const tmp = join(dir, `.${base}.tmp`);
      const cols = names.map((n) => `, ${ident(n)}`).join('');
      await conn.run(
        `COPY (SELECT entity_id, make_timestamp(CAST(round(event_time_ms * 1000) AS BIGINT)) AS event_time, make_timestamp(CAST(round(write_time_ms * 1000) AS BIGINT)) AS write_time${cols} FROM ${table} ORDER BY event_time_ms) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION ${this.#compression})`,
      );
      await rename(tmp, join(dir, base));
      this.#s.filesWritten++;
      this.#s.rowsWritten += rows.length;
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  stats(): OfflineStoreStats {
    let buffered = 0;
    for (const b of this.#buffers.values()) buffered += b.length;
    return { ...this.#s, buffered };
  }

  /** Flush what is buffered, then release DuckDB. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasStarted = this.#state === 'started';
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (wasStarted) {
      await this.flush().catch((err: unknown) => this.#log.error({ err }, 'offline store: final flush failed; buffered rows are lost'));
      await this.#chain;
    }
    this.#state = 'closed';
    this.#conn?.closeSync();
    this.#conn = undefined;
    this.#instance?.closeSync();
    this.#instance = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
