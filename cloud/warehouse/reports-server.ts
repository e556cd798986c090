/**
 * HTTP API of the warehouse's named reports (Fastify), and the reports page:
 *   GET /v1/reports/fleet-health
 *   GET /v1/reports/device-history/:deviceId
 *   GET /v1/reports/model-impact?asOf=TIME
 *   GET /v1/reports/site-trend?site=&from=TIME&to=TIME
 *   GET /openapi.json, /healthz, and the page at / (cloud/warehouse/public/: a site trend chart, a model-version
 *   comparison)
 * Parameters are validated by the JSON schemas of the published document (reports-openapi.ts); every error
 * answers the one body of cloud/http/server.ts (`{"error": {"code", "message", "requestId"}}`).
 *
 * The warehouse file is opened read-only when a request needs it and closed again once no request has come for
 * `idleCloseMs`: DuckDB lets a writer (`edgeloop warehouse refresh`) take its lock only while no process holds
 * the file, so a refresh needs an idle gap, and the next request reads what it wrote. For the same reason nothing
 * can change the file while the handle is open: a report's rows are kept (by its SQL) for as long as the handle is,
 * and a repeated request is answered from them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { listeningUrl } from '../http/json-api.ts';
import { createHttpServer, type HttpStatusByCode } from '../http/server.ts';
import { reportSql, type ReportArgs } from './reports.ts';
import {
  deviceIdSchema,
  MAX_PATH_SEGMENT,
  openApiDocument,
  reportSchema,
  siteSchema,
  timeSchema,
  type ReportRoute,
} from './reports-openapi.ts';
import { Warehouse } from './warehouse.ts';

export { openApiDocument } from './reports-openapi.ts';

export interface ReportsServerOptions {
  /** the warehouse file (`<dataDir>/warehouse.duckdb`). Required. */
  path: string;
  host?: string;
  /** 0 = any free port (default) */
  port?: number;
  /** close the read-only handle after this long without a request, so a refresh can lock the file (default 1000) */
  idleCloseMs?: number;
  logger?: Logger;
}

type QueryResult = Awaited<ReturnType<Warehouse['query']>>;

/** most distinct report queries kept per open handle (all are dropped when it is full) */
const MAX_CACHED = 256;

/** Queries are run one at a time on one read-only handle, opened on demand and closed when idle. */
export class ReadOnlyWarehouse {
  readonly #path: string;
  readonly #idleMs: number;
  #open: Promise<Warehouse> | undefined;
  /** query results of the open handle: the file cannot change under it */
  readonly #cache = new Map<string, Promise<QueryResult>>();
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #idle: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(path: string, idleMs: number) {
    this.#path = path;
    this.#idleMs = idleMs;
  }

  /** Run `fn` on the open warehouse, after every query before it. */
  run<T>(fn: (w: Warehouse) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', 'reports server is closed'));
    clearTimeout(this.#idle);
    this.#pending++;
    const next = this.#queue.then(async () => fn(await (this.#open ??= this.#openNow())));
    this.#queue = next
      .catch(() => undefined)
      .finally(() => {
        if (--this.#pending === 0 && !this.#closed) this.#idle = setTimeout(() => void this.#release(), this.#idleMs);
      });
    return next;
  }

  /** A query's result, from the open handle's cache or run now (errors name the query as DuckDB's message does). */
  query(sql: string): Promise<QueryResult> {
    const hit = this.#cache.get(sql);
    if (hit !== undefined) return hit;
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    const p = this.run(async (w) => {
      try {
        return await w.query(sql);
      } catch (cause) {
        throw new EdgeloopError('EL_ERR_WAREHOUSE_QUERY', `warehouse query failed: ${(cause as Error).message}`, {
          cause,
        });
      }
    });
    this.#cache.set(sql, p);
    p.catch(() => {
      if (this.#cache.get(sql) === p) this.#cache.delete(sql);
    });
    return p;
  }

  #openNow(): Promise<Warehouse> {
    const p = Warehouse.open({ path: this.#path, readOnly: true });
    p.catch(() => {
      if (this.#open === p) this.#open = undefined;
    });
    return p;
  }

  async #release(): Promise<void> {
    const open = this.#open;
    if (!open || this.#pending > 0) return;
    this.#open = undefined;
    this.#cache.clear();
    (await open.catch(() => undefined))?.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idle);
    await this.#queue;
    await this.#release();
  }
}

const PUBLIC = join(import.meta.dirname, 'public');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/reports.js': { file: 'reports.js', type: 'text/javascript; charset=utf-8' },
  '/reports.css': { file: 'reports.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  '/favicon.ico': { file: 'favicon.svg', type: 'image/svg+xml' },
};

// the file cannot be opened while it is missing (no refresh yet) or a refresh in another process holds its lock
const STATUS: HttpStatusByCode = {
  EL_ERR_WAREHOUSE_REPORT: 400,
  EL_ERR_WAREHOUSE_NO_DEVICE: 404,
  EL_ERR_WAREHOUSE_OPEN: 503,
  EL_ERR_CLOSED: 503,
};

/** A time parameter as validated by timeSchema: ms since the epoch, or an ISO 8601 date or date-time. */
function time(name: string, v: number | string | undefined): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  const ms = Date.parse(/T.*(Z|[+-]\d{2}:\d{2})$|^[^T]*$/.test(v) ? v : `${v}Z`);
  // Date.parse rolls 2026-02-30 over into March: the calendar day must be one
  const [y, m, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  const real = new Date(Date.UTC(y, m - 1, d));
  if (!Number.isFinite(ms) || real.getUTCMonth() !== m - 1 || real.getUTCDate() !== d)
    throw new EdgeloopError('EL_ERR_WAREHOUSE_REPORT', `${name}: ${JSON.stringify(v)} is not a valid date or time`);
  return ms;
}

/** DuckDB's JSON form of a TIMESTAMPTZ (`2026-12-02 08:00:00.123+00`, the session is UTC) as ISO 8601. */
function isoInstant(v: unknown): unknown {
  return typeof v === 'string' ? new Date(`${v.replace(' ', 'T').replace(/\+00(:00)?$/, '')}Z`).toISOString() : v;
}

/** The Fastify app of the reports API and page over a read-only warehouse (tests inject into it; ReportsServer listens). */
export function buildReportsApp(o: { warehouse: ReadOnlyWarehouse; logger?: Logger }): FastifyInstance {
  const app = createHttpServer({
    name: 'warehouse reports',
    ...(o.logger ? { logger: o.logger } : {}),
    // every id the schema allows must reach the schema: Fastify's default maxParamLength is 100
    limits: { maxParamLength: MAX_PATH_SEGMENT, keepAliveTimeout: 30_000 },
    statusByCode: STATUS,
    requestErrorCode: 'EL_ERR_WAREHOUSE_HTTP',
  });
  const document = openApiDocument();

  const report = async (
    name: ReportRoute,
    args: ReportArgs,
  ): Promise<{ report: ReportRoute; rows: Record<string, unknown>[] }> => {
    const r = await o.warehouse.query(reportSql(name, args));
    const stamp = r.types.map((t) => t === 'TIMESTAMP WITH TIME ZONE');
    const rows = r.rows.map((row) =>
      Object.fromEntries(r.columns.map((c, i) => [c, stamp[i] ? isoInstant(row[i]) : row[i]])),
    );
    return { report: name, rows };
  };
  const noQuery = { type: 'object', additionalProperties: false } as const;

  app.get(
    '/v1/reports/fleet-health',
    { schema: { querystring: noQuery, response: { 200: reportSchema('fleet-health') } } },
    () => report('fleet-health', {}),
  );
  app.get<{ Params: { deviceId: string } }>(
    '/v1/reports/device-history/:deviceId',
    {
      schema: {
        params: { type: 'object', properties: { deviceId: deviceIdSchema }, required: ['deviceId'] },
        querystring: noQuery,
        response: { 200: reportSchema('device-history') },
      },
    },
    async (req) => {
      const r = await report('device-history', { device: req.params.deviceId });
      if (r.rows.length === 0)
        throw new EdgeloopError(
          'EL_ERR_WAREHOUSE_NO_DEVICE',
          `the warehouse has no device ${JSON.stringify(req.params.deviceId)}`,
        );
      return r;
    },
  );
  app.get<{ Querystring: { asOf?: number | string } }>(
    '/v1/reports/model-impact',
    {
      schema: {
        querystring: { type: 'object', properties: { asOf: timeSchema }, additionalProperties: false },
        response: { 200: reportSchema('model-impact') },
      },
    },
    (req) => report('model-impact', { asOf: time('asOf', req.query.asOf) }),
  );
  app.get<{ Querystring: { site?: string; from?: number | string; to?: number | string } }>(
    '/v1/reports/site-trend',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { site: siteSchema, from: timeSchema, to: timeSchema },
          additionalProperties: false,
        },
        response: { 200: reportSchema('site-trend') },
      },
    },
    (req) =>
      report('site-trend', { site: req.query.site, from: time('from', req.query.from), to: time('to', req.query.to) }),
  );
  app.get('/openapi.json', async () => document);
  app.get('/healthz', async (_req, reply) => {
    try {
      const at = await o.warehouse.run((w) => w.meta('refreshed_at'));
      return { ok: true, refreshedAt: at ?? null };
    } catch (err) {
      return reply.status(503).send({ ok: false, error: (err as Error).message });
    }
  });
  for (const [path, a] of Object.entries(ASSETS)) {
    const body = readFileSync(join(PUBLIC, a.file));
    app.get(path, async (_req, reply) =>
      reply.header('content-type', a.type).header('cache-control', 'no-cache').send(body),
    );
  }
  return app;
}

/** The reports API on its own port over a warehouse file (the `reports` cloud part, `edgeloop warehouse serve`). */
export class ReportsServer {
  readonly #o: Required<Omit<ReportsServerOptions, 'logger'>> & { logger: Logger };
  #warehouse: ReadOnlyWarehouse | undefined;
  #app: FastifyInstance | undefined;
  #url: string | undefined;

  constructor(opts: ReportsServerOptions) {
    if (typeof opts?.path !== 'string' || opts.path === '')
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', 'ReportsServer: option "path" (the warehouse file) is required');
    this.#o = { host: '127.0.0.1', port: 0, idleCloseMs: 1000, logger: silentLogger, ...opts };
  }

  /** http://host:port once listening */
  get url(): string | undefined {
    return this.#url;
  }

  async start(): Promise<void> {
    if (this.#app) return;
    const warehouse = new ReadOnlyWarehouse(this.#o.path, this.#o.idleCloseMs);
    const app = buildReportsApp({ warehouse, logger: this.#o.logger });
    try {
      await app.listen({ host: this.#o.host, port: this.#o.port });
    } catch (err) {
      await app.close();
      await warehouse.close();
      throw err;
    }
    this.#warehouse = warehouse;
    this.#app = app;
    this.#url = listeningUrl(app);
  }

  async close(): Promise<void> {
    const app = this.#app;
    this.#app = undefined;
    this.#url = undefined;
    await app?.close();
    await this.#warehouse?.close();
    this.#warehouse = undefined;
  }
}
