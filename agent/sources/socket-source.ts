/**
 * UNIX socket intake for processes on the device: connect to `path` and write NDJSON readings. For every chunk
 * the agent writes back one line: {"accepted": n, "lastSeq": s} once the good readings are committed, plus
 * {"line": k, "error": "..."} for each malformed line (k counts lines over the connection), or
 * {"error", "code"} when the outbox refuses readings. A stale socket file left by a crash is replaced; a path
 * that is in use by a live listener is an error.
 */
import { chmodSync, existsSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { readLines } from './line-reader.ts';
import type { ReadingSink, ReadingSource } from './source.ts';

export interface SocketSourceOptions {
  sink: ReadingSink;
  path: string;
  /** file mode of the socket, default 0o660 (owner and group may write) */
  mode?: number;
  clock?: Clock;
}

export class SocketSource implements ReadingSource {
  readonly name = 'socket';
  readonly #o: SocketSourceOptions;
  readonly #clock: Clock;
  #server: Server | undefined;
  readonly #conns = new Set<Socket>();

  constructor(opts: SocketSourceOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const { path } = this.#o;
    if (existsSync(path)) {
      if (!statSync(path).isSocket())
        throw new EdgeloopError('EL_ERR_AGENT_SOURCE', `socket path ${path} exists and is not a socket`);
      if (await isLive(path))
        throw new EdgeloopError('EL_ERR_AGENT_SOURCE', `socket path ${path} is in use by another process`);
      unlinkSync(path);
    }
    const server = createServer((sock) => this.#onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new EdgeloopError('EL_ERR_AGENT_SOURCE', `cannot listen on ${path}: ${err.message}`, { cause: err })),
      );
      server.listen(path, () => resolve());
    });
    chmodSync(path, this.#o.mode ?? 0o660);
    this.#server = server;
  }

  #onConnection(sock: Socket): void {
    this.#conns.add(sock);
    sock.once('close', () => this.#conns.delete(sock));
    const sink = this.#o.sink;
    const write = (obj: unknown): void => {
      if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(obj) + '\n');
    };
    readLines(sock, {
      now: () => this.#clock.now(),
      batch: async (p) => {
        if (p.rejected.length) {
          sink.rejected(this.name, p.rejected);
          for (const r of p.rejected) write({ line: r.line, error: r.reason });
        }
        if (p.readings.length) {
          try {
            const range = await sink.ingest(p.readings);
            write({ accepted: p.readings.length, lastSeq: range.lastSeq });
          } catch (err) {
            write({ error: (err as Error).message, code: (err as EdgeloopError).code, refused: p.readings.length });
          }
        }
      },
    })
      .catch(() => undefined)
      .finally(() => sock.end());
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    for (const c of this.#conns) c.pause();
    await new Promise<void>((r) => {
      s.close(() => r());
      for (const c of this.#conns) c.end();
      const t = setTimeout(() => {
        for (const c of this.#conns) c.destroy();
      }, 1_000);
      t.unref();
    });
    this.#conns.clear();
  }
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
