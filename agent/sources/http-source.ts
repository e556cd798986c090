/**
 * Local HTTP intake: POST /v1/readings with a JSON body (a reading, an array, or {"readings": [...]}) or NDJSON
 * (content-type application/x-ndjson). Answers after the good readings are committed:
 *   202 {"accepted": n, "firstSeq", "lastSeq"}                      every line was good
 *   400 {"accepted": n, "rejected": [{"line", "reason"}], ...}     some lines were bad: the good ones ARE kept
 *   413 body over maxBodyBytes, 415 other content types,
 *   507 {"error","code":"EL_ERR_OUTBOX_FULL"} + Retry-After when the outbox refuses (at its bound with only events
 *   left, or the volume is full): nothing of the request was kept, send it again later,
 *   503 {"error","code":"EL_ERR_AGENT_STOPPING"} while the agent stops, 500 {"error","code"} for anything else.
 * GET /v1/health answers 200 while the source listens (a liveness check for the producer).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { parseBody } from './reading-parser.ts';
import type { ReadingSink, ReadingSource } from './source.ts';

/** HTTP status per intake error code (anything else: 500) */
const INTAKE_ERROR_STATUS: Readonly<Record<string, number>> = { EL_ERR_OUTBOX_FULL: 507, EL_ERR_AGENT_STOPPING: 503 };
/** Retry-After on a 507, s: about when acknowledgements may have made room */
const RETRY_AFTER_S = 5;

export interface HttpSourceOptions {
  sink: ReadingSink;
  host?: string;
  /** 0 = any free port (see `.port`) */
  port?: number;
  maxBodyBytes?: number;
  clock?: Clock;
}

export class HttpSource implements ReadingSource {
  readonly name = 'http';
  readonly #o: Required<Omit<HttpSourceOptions, 'clock'>>;
  readonly #clock: Clock;
  #server: Server | undefined;
  #port = 0;

  constructor(opts: HttpSourceOptions) {
    this.#o = { host: '127.0.0.1', port: 8787, maxBodyBytes: 1024 * 1024, ...opts } as Required<
      Omit<HttpSourceOptions, 'clock'>
    >;
    this.#clock = opts.clock ?? systemClock;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://${this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host}:${this.#port}`;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new EdgeloopError(
            'EL_ERR_AGENT_SOURCE',
            `HTTP source cannot listen on ${this.#o.host}:${this.#o.port}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (code: number, body: unknown): void => {
      if (res.headersSent) return;
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/health' && req.method === 'GET') return send(200, { ok: true });
    if (path !== '/v1/readings') return send(404, { error: 'not found: POST /v1/readings' });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(405, { error: 'use POST' });
    }
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    const ndjson =
      type === 'application/x-ndjson' ||
      type === 'application/ndjson' ||
      type === 'application/jsonl' ||
      type === 'text/plain';
    if (!ndjson && type !== 'application/json') {
      req.resume();
      return send(415, { error: `content-type ${type} not supported: use application/json or application/x-ndjson` });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    try {
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > this.#o.maxBodyBytes) {
          tooLarge = true;
          break;
        }
        chunks.push(c as Buffer);
      }
    } catch {
      return;
    }
    if (tooLarge) {
      res.setHeader('connection', 'close');
      return send(413, { error: `body over ${this.#o.maxBodyBytes} bytes; send smaller batches` });
    }
    const parsed = parseBody(Buffer.concat(chunks).toString('utf8'), this.#clock.now(), ndjson);
    if (parsed.rejected.length) this.#o.sink.rejected(this.name, parsed.rejected);
    let range = { firstSeq: 0, lastSeq: 0 };
    if (parsed.readings.length) {
      try {
        range = await this.#o.sink.ingest(parsed.readings);
      } catch (err) {
        const code = err instanceof EdgeloopError ? err.code : 'EL_ERR_INTERNAL';
        const status = INTAKE_ERROR_STATUS[code] ?? 500;
        if (status === 507) res.setHeader('retry-after', String(RETRY_AFTER_S));
        return send(status, { error: (err as Error).message, code, accepted: 0, rejected: parsed.rejected });
      }
    }
    const body = { accepted: parsed.readings.length, firstSeq: range.firstSeq, lastSeq: range.lastSeq };
    if (parsed.rejected.length)
      return send(400, { ...body, rejected: parsed.rejected.slice(0, 100), rejectedCount: parsed.rejected.length });
    if (parsed.readings.length === 0)
      return send(400, { ...body, rejected: [{ line: 1, reason: 'no readings in the body' }], rejectedCount: 1 });
    return send(202, body);
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    // stop accepting; requests in progress finish (their readings are being committed), idle sockets go now
    s.closeIdleConnections();
    await new Promise<void>((r) => {
      const t = setTimeout(() => s.closeAllConnections(), 2_000);
      t.unref();
      s.close(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}
