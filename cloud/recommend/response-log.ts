/**
 * Every response (and every shadow score) is logged for offline evaluation: entity, feature time, variant, model
 * version, the result. SqliteResponseLog buffers rows in memory and hands them every `flushMs` to a writer thread
 * that owns the SQLite connection, so logging costs the request path an array push. A bound on the buffer
 * keeps memory flat when the disk stalls: past it, the oldest buffered rows are dropped and counted.
 */
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface ResponseLogEntry {
  ts: number;
  entityId: string;
  variant: string;
  shadow: boolean;
  model: string;
  version: string;
  featureTime: number | null;
  featureAgeMs: number | null;
  /** top action id */
  top: string | null;
  result: unknown;
}

export interface ResponseLog {
  append(e: ResponseLogEntry): void;
  flush(): void;
  close(): Promise<void>;
}

export interface SqliteResponseLogOptions {
  path: string;
  /** ms between hand-offs to the writer thread (default 20) */
  flushMs?: number;
  /** rows buffered at most; beyond, the oldest are dropped and counted (default 50,000) */
  maxBuffered?: number;
}

/**
 * The log's SQLite connection lives in a worker thread (response-log-worker.mjs): the request path only pushes a
 * row; every `flushMs` the buffered rows are posted to the worker, which encodes and inserts them in one
 * transaction. With the writes on the event loop, the log cost the service a third of its throughput and most of
 * its p99 (WAL checkpoints and JSON encoding between requests); see docs/benchmarks.md.
 */
export class SqliteResponseLog implements ResponseLog {
  readonly #path: string;
  readonly #worker: Worker;
  readonly #ready: Promise<void>;
  #buf: ResponseLogEntry[] = [];
  readonly #max: number;
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  #flushId = 0;
  readonly #waiting = new Map<number, () => void>();
  #lastError: string | undefined;
  dropped = 0;
  written = 0;

  constructor(opts: SqliteResponseLogOptions) {
    this.#path = opts.path;
    this.#max = opts.maxBuffered ?? 50_000;
    this.#worker = new Worker(new URL('./response-log-worker.mjs', import.meta.url), {
      workerData: { path: opts.path },
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('error', reject);
      this.#worker.on('message', (m: { type: string; id?: number; message?: string }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'flushed') {
          this.#waiting.get(m.id!)?.();
          this.#waiting.delete(m.id!);
        } else if (m.type === 'error') this.#lastError = m.message;
      });
    });
    this.#ready.catch(() => undefined);
    this.#timer = setInterval(() => this.flush(), opts.flushMs ?? 20);
    this.#timer.unref();
  }

  /** the last write error reported by the writer thread, if any */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  append(e: ResponseLogEntry): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'response log is closed');
    if (this.#buf.length >= this.#max) {
      this.#buf.shift();
      this.dropped++;
    }
    this.#buf.push(e);
  }

  /** Hand every buffered row to the writer thread now. */
  flush(): void {
    if (this.#buf.length === 0 || this.#closed) return;
    const rows = this.#buf;
    this.#buf = [];
    this.#worker.postMessage({ type: 'rows', rows });
    this.written += rows.length;
  }

  /** Resolves when every row appended so far is in the database. */
  async settle(): Promise<void> {
    await this.#ready;
    this.flush();
    const id = ++this.#flushId;
    await new Promise<void>((resolve) => {
      this.#waiting.set(id, resolve);
      this.#worker.postMessage({ type: 'flush', id });
    });
  }

  /** Rows for offline evaluation (newest last), after everything appended so far is written. */
  async query(opts: { entityId?: string; variant?: string; limit?: number } = {}): Promise<ResponseLogEntry[]> {
    await this.settle();
    const db = new Database(this.#path, { readonly: true });
    try {
      const where: string[] = [];
      const args: unknown[] = [];
      if (opts.entityId) where.push('entity_id = ?'), args.push(opts.entityId);
      if (opts.variant) where.push('variant = ?'), args.push(opts.variant);
      const sql = `SELECT * FROM recommend_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...args, opts.limit ?? 1000) as Array<Record<string, unknown>>;
      return rows.reverse().map((r) => ({
        ts: r.ts as number,
        entityId: r.entity_id as string,
        variant: r.variant as string,
        shadow: r.shadow === 1,
        model: r.model as string,
        version: r.version as string,
        featureTime: r.feature_time as number | null,
        featureAgeMs: r.feature_age_ms as number | null,
        top: r.top_action as string | null,
        result: JSON.parse(r.result as string),
      }));
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    try {
      await this.settle();
    } finally {
      this.#closed = true;
      const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
      this.#worker.postMessage({ type: 'close' });
      await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
      await this.#worker.terminate();
    }
  }
}

/** For tests and embedded use without a file. */
export class MemoryResponseLog implements ResponseLog {
  entries: ResponseLogEntry[] = [];
  append(e: ResponseLogEntry): void {
    this.entries.push(e);
  }
  flush(): void {}
  async close(): Promise<void> {}
}
