/**
 * RawArchive: every device message the ingest accepted, as Parquet, exactly once from the stream.
 *
 * Layout (Hive-style, readable by DuckDB, Athena, Spark, pyarrow.dataset; tables in archive-tables.ts):
 *   <dir>/<table>/date=YYYY-MM-DD/hour=HH/part-<writeTimeMs>-<random>.parquet
 *   <dir>/_commit.json    the commit record: stream positions of the archived rows, last renames and deletes
 *
 * It is a stream consumer of its own (`consumer`, default 'archive'): it reads every shard from its checkpoint,
 * buffers rows, and writes them when `flushRows` are buffered or `flushIntervalMs` passed. A write follows the
 * offline store's commit protocol (cloud/feature-store/parquet-commit.ts): fsynced `.tmp` files, then one
 * `_commit.json` naming them with the stream positions they hold, then the renames. Only then is the stream
 * checkpointed, never past the committed positions. At start a committed write is finished and an uncommitted one
 * dropped; records up to the committed positions are skipped when read again. So a crash (kill -9) loses nothing
 * and duplicates nothing: what was buffered is read again from the checkpoint.
 *
 * Compaction: an hour partition whose hour ended `compactSettleMs` ago is merged into files of up to
 * `targetFileBytes` (default 128 MiB) by a commit of the same kind (new file renamed in, old files deleted), so a
 * reader sees either the small files or the merged one, never both after a crash. Rows in a file are ordered by
 * (device_id, seq, ts).
 *
 * What it does not cover: records the stream dropped by retention before the archive read them (LocalStream keeps
 * 24 h by default) are not in the archive; the warehouse check `reconcile-ingest` reports such a gap.
 */
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { decodeRecord } from '../processor/decode-record.ts';
import { compareSequenceNumbers } from '../processor/processor.ts';
import type { Stream } from '../stream/stream.ts';
import { runConsumerLoop } from '../stream/consumer-loop.ts';
import {
  applyDeletes,
  applyRenames,
  fsyncPath,
  readCommit,
  removeTmpFiles,
  writeCommit,
} from '../feature-store/parquet-commit.ts';
import { appendValue, sqlString } from '../feature-store/duckdb-sql.ts';
import {
  ARCHIVE_TABLE_NAMES,
  ARCHIVE_TABLES,
  archiveRows,
  partitionOf,
  type ArchiveRow,
  type ArchiveTableName,
} from './archive-tables.ts';
import { planCompaction, type PartitionFiles } from './compaction.ts';
import { listPartitions } from './archive-files.ts';
import {
  type RawArchiveOptions,
  type RawArchiveStats,
  type ResolvedRawArchiveOptions,
  resolveRawArchiveOptions,
} from './raw-archive-options.ts';

export type { RawArchiveOptions, RawArchiveStats } from './raw-archive-options.ts';

/**
 * diagnostics_channel `edgeloop:archive:phase`: `{ phase }` at each step of a write, in order: 'files' (temp files
 * fsynced), 'committed' (_commit.json written), 'renamed' (files in place), 'checkpointed'; and of a compaction:
 * 'compact-committed', 'compacted'. Crash tests stop the process at each.
 */
export const ARCHIVE_CHANNELS = { phase: channel('edgeloop:archive:phase') };

function phase(p: string): void {
  if (ARCHIVE_CHANNELS.phase.hasSubscribers) ARCHIVE_CHANNELS.phase.publish({ phase: p });
}

const C = 'RawArchive';
/** the archive's commit record carries no feature schema: its tables are fixed (archive-tables.ts) */
const NO_SCHEMA = { version: 1, columns: [] };
const ORDER = 'ORDER BY device_id, seq, ts';

export class RawArchive {
  readonly #o: ResolvedRawArchiveOptions;
  readonly #stream: Stream;
  readonly #dir: string;
  readonly #consumer: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;
  #state: 'new' | 'running' | 'closed' = 'new';
  #loop: Promise<void> | undefined;
  /** positions of committed rows, per shard */
  #committed: Record<string, string> = {};
  /** the committed positions found at start: records at or before them are not archived again */
  #startPositions: Record<string, string> = {};
  /** positions of buffered rows, per shard */
  #pending: Record<string, string> = {};
  /** read positions, per shard */
  readonly #read = new Map<string, string | undefined>();
  #rows: ArchiveRow[] = [];
  /** drain() callers, told when a step found nothing new */
  #idleWaiters: (() => void)[] = [];
  #lastFlush = 0;
  #chain: Promise<void> = Promise.resolve();
  /** renames and deletes of the last commit not done yet (a rename failed): done before the next commit overwrites it */
  #unapplied: { renames: { from: string; to: string }[]; deletes: string[] } | undefined;
  #table = 0;
  readonly #s: RawArchiveStats = {
    rowsWritten: { readings: 0, events: 0, status: 0, model_reports: 0 },
    recordsRead: 0,
    recordsSkipped: 0,
    invalidMessages: 0,
    commits: 0,
    filesWritten: 0,
    filesCompacted: 0,
    buffered: 0,
    writeErrors: 0,
    loopErrors: 0,
  };

  constructor(opts: RawArchiveOptions) {
    const o = resolveRawArchiveOptions(opts);
    this.#o = o;
    this.#stream = o.stream;
    this.#dir = o.dir;
    this.#consumer = o.consumer;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
  }

  get dir(): string {
    return this.#dir;
  }

  /** Finish or drop the write a crash interrupted, load the committed positions, begin consuming. */
  async start(): Promise<void> {
    if (this.#state === 'running') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    await this.recover();
    this.#instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    this.#conn = await this.#instance.connect();
    await this.#conn.run("SET TimeZone = 'UTC'");
    this.#lastFlush = this.#clock.now();
    this.#state = 'running';
    this.#loop = this.#run();
  }

  /** The start-up half: finish a committed write, drop uncommitted files, read the committed positions. */
  async recover(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    let commit;
    try {
      commit = await readCommit(this.#dir);
    } catch (err) {
      throw new EdgeloopError('EL_ERR_ARCHIVE_COMMIT', `${C}: ${(err as Error).message}`, { cause: err });
    }
    await applyRenames(this.#dir, commit.renames);
    await applyDeletes(this.#dir, commit.deletes);
    for (const t of ARCHIVE_TABLE_NAMES) {
      const dir = join(this.#dir, t);
      if (
        await stat(dir).then(
          () => true,
          () => false,
        )
      )
        await removeTmpFiles(dir);
    }
    this.#committed = { ...commit.positions[this.#consumer] };
    this.#startPositions = { ...this.#committed };
  }

  /** Per shard, the last stream record whose rows are in committed files. */
  committedPositions(): Record<string, string> {
    return { ...this.#committed };
  }

  #run(): Promise<void> {
    return runConsumerLoop({
      stream: this.#stream,
      step: () => this.step(),
      running: () => this.#state === 'running',
      onError: (err) => {
        this.#s.loopErrors++;
        this.#log.error({ err }, 'archive step failed');
      },
      onIdle: () => {
        for (const w of this.#idleWaiters.splice(0)) w();
      },
      idleWaitMs: this.#o.idleWaitMs,
      clock: this.#clock,
      signal: this.#abort.signal,
    });
  }

  /** Read one batch from every shard into the buffer; write it when due. Returns the records read. */
  async step(): Promise<number> {
    if (this.#state !== 'running') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is not running`);
    let n = 0;
    for (const shard of await this.#stream.listShards()) {
      const batch = await this.#stream.read(shard, {
        consumer: this.#consumer,
        position: this.#read.get(shard),
        limit: this.#o.batchSize,
      });
      const skipTo = this.#startPositions[shard];
      for (const rec of batch.records) {
        n++;
        this.#s.recordsRead++;
        this.#pending[shard] = rec.sequenceNumber;
        if (skipTo !== undefined && compareSequenceNumbers(rec.sequenceNumber, skipTo) <= 0) {
          this.#s.recordsSkipped++;
          continue;
        }
        const decoded = decodeRecord(rec.data);
        this.#s.invalidMessages += decoded.errors.length;
        for (const m of decoded.messages) for (const row of archiveRows(m, rec.arrivedAt)) this.#rows.push(row);
      }
      this.#read.set(shard, batch.position);
    }
    if (
      this.#rows.length >= this.#o.flushRows ||
      (Object.keys(this.#pending).length > 0 && this.#clock.now() - this.#lastFlush >= this.#o.flushIntervalMs)
    ) {
      await this.flush();
    }
    return n;
  }

  /** Resolve once everything readable now is archived and committed (tests, tools, a graceful handover). */
  async drain(): Promise<void> {
    if (this.#state !== 'running') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is not running`);
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await this.flush();
  }

  /** Write and commit what is buffered, checkpoint the stream, then compact settled partitions. */
  flush(): Promise<void> {
    const run = this.#chain.then(() => this.#flush());
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #flush(): Promise<void> {
    this.#lastFlush = this.#clock.now();
    if (!this.#conn) return;
    if (this.#unapplied) await this.#apply(this.#unapplied.renames, this.#unapplied.deletes);
    if (this.#rows.length > 0 || Object.keys(this.#pending).length > 0) await this.#write();
    await this.#compact();
  }

  async #write(): Promise<void> {
    const rows = this.#rows;
    const pending = this.#pending;
    this.#rows = [];
    this.#pending = {};
    const positions = { ...this.#committed, ...pending };
    const groups = new Map<string, { table: ArchiveTableName; partition: string; rows: ArchiveRow[] }>();
    for (const r of rows) {
      const partition = partitionOf(r.ts);
      const key = `${r.table}/${partition}`;
      const g = groups.get(key);
      if (g) g.rows.push(r);
      else groups.set(key, { table: r.table, partition, rows: [r] });
    }
    const renames: { from: string; to: string }[] = [];
    try {
      for (const g of groups.values()) renames.push(await this.#writeFile(g.table, g.partition, g.rows));
      phase('files');
      await writeCommit(this.#dir, { schema: NO_SCHEMA, positions: { [this.#consumer]: positions }, renames });
      phase('committed');
    } catch (err) {
      await applyDeletes(
        this.#dir,
        renames.map((r) => r.from),
      ).catch(() => undefined);
      this.#rows = [...rows, ...this.#rows];
      this.#pending = { ...pending, ...this.#pending };
      this.#s.writeErrors++;
      throw new EdgeloopError(
        'EL_ERR_ARCHIVE_WRITE',
        `${C}: writing ${rows.length} rows failed (kept buffered): ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.#committed = positions;
    this.#s.commits++;
    this.#s.filesWritten += renames.length;
    for (const r of rows) this.#s.rowsWritten[r.table]++;
    await this.#apply(renames, []);
    phase('renamed');
    await this.#checkpoint(pending);
    phase('checkpointed');
  }

  /** The renames and deletes of the commit just written; kept for the next flush (or start) when they fail. */
  async #apply(renames: { from: string; to: string }[], deletes: string[]): Promise<void> {
    this.#unapplied = { renames, deletes };
    try {
      await applyRenames(this.#dir, renames);
      await applyDeletes(this.#dir, deletes);
    } catch (err) {
      this.#s.writeErrors++;
      throw new EdgeloopError(
        'EL_ERR_ARCHIVE_WRITE',
        `${C}: committed files could not be put in place (retried before the next commit and at start): ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.#unapplied = undefined;
  }

  async #checkpoint(pending: Record<string, string>): Promise<void> {
    const entries = Object.entries(pending).map(([shardId, sequenceNumber]) => ({ shardId, sequenceNumber }));
    if (entries.length === 0) return;
    if (this.#stream.checkpointMany) await this.#stream.checkpointMany(this.#consumer, entries);
    else for (const e of entries) await this.#stream.checkpoint(this.#consumer, e.shardId, e.sequenceNumber);
  }

  async #writeFile(
    table: ArchiveTableName,
    partition: string,
    rows: ArchiveRow[],
  ): Promise<{ from: string; to: string }> {
    const conn = this.#conn!;
    const tmpTable = `archive_buf_${++this.#table}`;
    const spec = ARCHIVE_TABLES[table];
    await conn.run(`CREATE TEMP TABLE ${tmpTable} (${spec.columns.map((c) => `${c.name} ${c.type}`).join(', ')})`);
    try {
      const app = await conn.createAppender(tmpTable);
      for (const r of rows) {
        spec.columns.forEach((c, i) => appendValue(app, c.type, r.values[i] ?? null));
        app.endRow();
      }
      app.closeSync();
      const dir = `${table}/${partition}`;
      await mkdir(join(this.#dir, dir), { recursive: true });
      const base = `part-${this.#clock.now()}-${randomBytes(4).toString('hex')}.parquet`;
      const from = `${dir}/.${base}.tmp`;
      await conn.run(
        `COPY (SELECT * FROM ${tmpTable} ${ORDER}) TO ${sqlString(join(this.#dir, from))} (FORMAT parquet, COMPRESSION ${this.#o.compression})`,
      );
      await fsyncPath(join(this.#dir, from));
      return { from, to: `${dir}/${base}` };
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${tmpTable}`).catch(() => undefined);
    }
  }

  /** Committed part files by partition, relative to the archive root. */
  /** Every hour partition of every table, with its part files (name order) and their sizes. */
  partitions(): Promise<PartitionFiles[]> {
    return listPartitions(this.#dir);
  }

  async #compact(): Promise<void> {
    const plan = planCompaction(await this.partitions(), {
      now: this.#clock.now(),
      settleMs: this.#o.compactSettleMs,
      targetBytes: this.#o.targetFileBytes,
    });
    for (const g of plan) {
      const base = `part-${this.#clock.now()}-${randomBytes(4).toString('hex')}.parquet`;
      const from = `${g.partition}/.${base}.tmp`;
      const list = `[${g.files.map((f) => sqlString(join(this.#dir, f))).join(', ')}]`;
      await this.#conn!.run(
        `COPY (SELECT * FROM read_parquet(${list}) ${ORDER}) TO ${sqlString(join(this.#dir, from))} (FORMAT parquet, COMPRESSION ${this.#o.compression})`,
      );
      await fsyncPath(join(this.#dir, from));
      const renames = [{ from, to: `${g.partition}/${base}` }];
      await writeCommit(this.#dir, {
        schema: NO_SCHEMA,
        positions: { [this.#consumer]: this.#committed },
        renames,
        deletes: g.files,
      });
      phase('compact-committed');
      await this.#apply(renames, g.files);
      phase('compacted');
      this.#s.filesCompacted += g.files.length;
      this.#log.debug({ partition: g.partition, files: g.files.length, bytes: g.bytes }, 'archive partition compacted');
    }
  }

  stats(): RawArchiveStats {
    return { ...this.#s, rowsWritten: { ...this.#s.rowsWritten }, buffered: this.#rows.length };
  }

  health(): { ok: boolean; buffered: number; commits: number; writeErrors: number } {
    return {
      ok: this.#state === 'running',
      buffered: this.#rows.length,
      commits: this.#s.commits,
      writeErrors: this.#s.writeErrors,
    };
  }

  /** Stop reading, write what is buffered (a failure leaves it to the next start, from the checkpoint). Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'closed';
    this.#abort.abort();
    for (const w of this.#idleWaiters.splice(0)) w();
    await this.#loop?.catch(() => undefined);
    if (wasRunning) {
      await this.#chain;
      await this.#flushOnClose();
    }
    this.#conn?.closeSync();
    this.#conn = undefined;
    this.#instance?.closeSync();
    this.#instance = undefined;
  }

  async #flushOnClose(): Promise<void> {
    try {
      if (this.#unapplied) await this.#apply(this.#unapplied.renames, this.#unapplied.deletes);
      if (this.#rows.length > 0 || Object.keys(this.#pending).length > 0) await this.#write();
    } catch (err) {
      this.#log.error(
        { err },
        'archive: final write failed; the rows are read again from the stream checkpoint at the next start',
      );
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
