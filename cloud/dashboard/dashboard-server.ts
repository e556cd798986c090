/**
 * The live dashboard: a fastify server with a plain HTML/JS/CSS page (no build step, no CDN) and its JSON and SSE
 * routes:
 *   GET /                      the page
 *   GET /dashboard.js|.css     its script and style; /favicon.svg (also as /favicon.ico)
 *   GET /api/snapshot          DashboardSnapshot (JSON)
 *   GET /api/devices/:id       one device (404 when unknown)
 *   GET /api/stream            Server-Sent Events: a `snapshot` event every `intervalMs`
 *   GET /api/maintenance       devices by predicted RUL, when a maintenance source is given ({available: false} otherwise)
 *   GET /api/drift?subject=K:ID the drift panel (drift-view.ts); 404 when the drift monitors do not run
 *   GET /healthz               200 {ok:true}
 * The page uses SSE and falls back to polling /api/snapshot. Errors answer the one body of cloud/http/server.ts.
 * close() ends the open event streams first, so the server's close (which waits for requests in flight) is prompt.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { EdgeloopError } from '../../protocol/errors.ts';
import { createHttpServer, sendError } from '../http/server.ts';
import { type DriftSource, driftPanel } from './drift-view.ts';
import type { DashboardSnapshot, DeviceView } from './fleet-view.ts';

export interface DashboardSource {
  snapshot(): DashboardSnapshot;
  device(id: string): DeviceView | undefined;
}

/** A device's RUL as the RUL panel shows it (the maintenance part's DeviceRul has these and more). */
export interface RulRow {
  deviceId: string;
  status: 'ok' | 'warming-up';
  rul: number | null;
  p10: number | null;
  p90: number | null;
  cycles: number;
  window: number;
  lastCycleAt: number | null;
  suggestedServiceAt: number | null;
  alert: boolean;
}

/** What the RUL panel reads: the maintenance part's service (cloud/maintenance/maintenance-service.ts). */
export interface MaintenanceSource {
  readonly horizon: number;
  fleet(opts: { sort?: 'rul'; limit?: number }): { devices: RulRow[]; total: number };
}

export interface DashboardServerOptions {
  source: DashboardSource;
  /** the RUL panel's data, looked up at each request (the maintenance part may start later or not run) */
  maintenance?: () => MaintenanceSource | undefined;
  host?: string;
  /** 0 = any free port (default 0) */
  port?: number;
  /** SSE period, ms (default 1000) */
  intervalMs?: number;
  title?: string;
  /** the drift monitors (cloud/drift/DriftService): the page shows their panel when given */
  drift?: DriftSource | undefined;
}

const PUBLIC = join(import.meta.dirname, 'public');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  // browsers that ignore the page's <link rel="icon"> still ask for /favicon.ico: the same icon, never a 404
  '/favicon.ico': { file: 'favicon.svg', type: 'image/svg+xml' },
};

export class DashboardServer {
  readonly #o: Required<Omit<DashboardServerOptions, 'title' | 'maintenance' | 'drift'>> &
    Pick<DashboardServerOptions, 'maintenance'> & { title: string; drift: DriftSource | undefined };
  #app: FastifyInstance | undefined;
  #url: string | undefined;
  readonly #streams = new Set<{ res: ServerResponse; timer: NodeJS.Timeout }>();
  readonly #assets = new Map<string, Buffer>();

  constructor(opts: DashboardServerOptions) {
    if (!opts?.source || typeof opts.source.snapshot !== 'function') {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'DashboardServer: options.source with snapshot() is required');
    }
    this.#o = { host: '127.0.0.1', port: 0, intervalMs: 1000, title: 'edgeloop', drift: undefined, ...opts };
  }

  get url(): string | undefined {
    return this.#url;
  }

  async start(): Promise<void> {
    if (this.#app) return;
    for (const [path, a] of Object.entries(ASSETS)) {
      let body = readFileSync(join(PUBLIC, a.file));
      if (a.file === 'index.html')
        body = Buffer.from(
          body
            .toString('utf8')
            .replaceAll('{{title}}', escapeHtml(this.#o.title))
            .replaceAll('{{drift}}', this.#o.drift ? 'on' : 'off'),
        );
      this.#assets.set(path, body);
    }
    const app = createHttpServer({ name: 'dashboard' });
    for (const [path, a] of Object.entries(ASSETS)) {
      app.get(path, async (_req, reply) =>
        reply.header('content-type', a.type).header('cache-control', 'no-cache').send(this.#assets.get(path)),
      );
    }
    app.get('/healthz', async () => ({ ok: true }));
    app.get('/api/snapshot', async (_req, reply) =>
      reply.header('cache-control', 'no-store').send(this.#o.source.snapshot()),
    );
    app.get<{ Params: { id: string } }>('/api/devices/:id', async (req, reply) => {
      const d = this.#o.source.device(req.params.id);
      if (!d)
        return sendError(req, reply, 404, 'EL_ERR_NOT_FOUND', `unknown device ${JSON.stringify(req.params.id)}`, {
          deviceId: req.params.id,
        });
      return d;
    });
    app.get('/api/maintenance', async (_req, reply) => {
      // 200 either way: the page asks every few seconds, and no maintenance part is a state, not an error
      const m = this.#o.maintenance?.();
      reply.header('cache-control', 'no-store');
      if (!m) return reply.send({ available: false });
      const { devices, total } = m.fleet({ sort: 'rul', limit: 50 });
      return reply.send({ available: true, horizon: m.horizon, total, devices });
    });
    app.get<{ Querystring: { subject?: string } }>('/api/drift', async (req, reply) => {
      const drift = this.#o.drift;
      if (!drift) return sendError(req, reply, 404, 'EL_ERR_NOT_FOUND', 'the drift monitors are not running');
      const subject = typeof req.query.subject === 'string' ? req.query.subject : undefined;
      return reply
        .header('cache-control', 'no-store')
        .send(driftPanel(await drift.status({ events: 20 }), { subject }));
    });
    app.get('/api/stream', (req, reply) => {
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      const send = (): void => {
        res.write(`event: snapshot\ndata: ${JSON.stringify(this.#o.source.snapshot())}\n\n`);
      };
      send();
      const entry = { res, timer: setInterval(send, this.#o.intervalMs) };
      this.#streams.add(entry);
      req.raw.on('close', () => {
        clearInterval(entry.timer);
        this.#streams.delete(entry);
      });
    });
    await app.listen({ host: this.#o.host, port: this.#o.port });
    this.#app = app;
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.#o.port;
    const host = this.#o.host === '0.0.0.0' || this.#o.host === '::' ? 'localhost' : this.#o.host;
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  }

  async close(): Promise<void> {
    const app = this.#app;
    if (!app) return;
    this.#app = undefined;
    for (const s of this.#streams) {
      clearInterval(s.timer);
      // the stream's socket ends with it: one whose last write is still going out when the server's close begins
      // is not idle then, and kept alive it would hold the close open until the client or the keep-alive timeout
      const socket = s.res.socket;
      s.res.end(() => socket?.end());
    }
    this.#streams.clear();
    await app.close();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
