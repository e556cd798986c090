/**
 * The one base of every edgeloop HTTP server (recommend, maintenance, registry, rollout, warehouse reports,
 * dashboard, the cloud's /healthz + /metrics): a Fastify instance with
 * - limits with defaults stated once (HttpLimitsSchema), overridden per server where one needs another value;
 * - request ids: a valid incoming `x-request-id` (1-128 of `[A-Za-z0-9._:-]`) is kept, any other is replaced by a
 *   random UUID; the id is echoed in the `x-request-id` response header, in every error body and in the log line of
 *   every server error;
 * - one error body, `{"error": {"code", "message", "requestId", "details"?}}`, for every failure: an EdgeloopError
 *   answers with `statusByCode[code]` (500 when unlisted); Fastify's refusals of a request (schema validation, bad
 *   JSON, body too large, a path segment over maxParamLength, unsupported media type) with their 4xx status and
 *   `requestErrorCode`; an unknown route with 404 EL_ERR_NOT_FOUND; anything else with 500 EL_ERR_INTERNAL. An error
 *   answered 500 (no listed status) is logged with its stack, which the body never carries;
 * - request bodies validated as sent (schema-validation.ts), `/metrics` from a prom-client registry when given;
 * - graceful close: a request that arrives while the server closes answers 503 EL_ERR_CLOSED, requests in flight
 *   finish, and their sockets close after the answer (`connection: close`); idle keep-alive sockets close at once.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { dependency, optionsParser } from '../../lib/options.ts';
import { EdgeloopError, type ErrorCode } from '../../protocol/errors.ts';
import { serveMetrics } from './metrics.ts';
import { useStrictSchemaValidation } from './schema-validation.ts';

/** The HTTP status each error code answers with (codes not listed answer 500). */
export type HttpStatusByCode = Readonly<Partial<Record<ErrorCode, number>>>;

/** The header a request id comes in and goes back out in. */
export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Size and time limits of a server. Fastify's own defaults, stated here once. */
export const HttpLimitsSchema = z.strictObject({
  /** largest request body, bytes (413 above) */
  bodyLimit: z
    .int()
    .min(1)
    .default(1024 * 1024),
  /** longest path parameter, characters (414 above) */
  maxParamLength: z.int().min(1).default(100),
  /** socket inactivity timeout, ms (0 = none) */
  connectionTimeout: z.int().min(0).default(0),
  /** time to receive a whole request, ms (0 = none) */
  requestTimeout: z.int().min(0).default(0),
  /** how long an idle keep-alive socket stays open, ms */
  keepAliveTimeout: z.int().min(1).default(72_000),
});

export type HttpLimits = z.input<typeof HttpLimitsSchema>;

export const HttpServerOptionsSchema = z.strictObject({
  /** the server's name in log lines ("recommend", "registry") */
  name: z.string().min(1),
  /** where server errors are logged (default silent) */
  logger: dependency<Logger>('a Logger').optional(),
  limits: HttpLimitsSchema.prefault({}),
  /** serve `GET /metrics` from this registry */
  metrics: dependency<Registry>('a prom-client Registry').optional(),
  statusByCode: dependency<HttpStatusByCode>('a table of HTTP status by error code').default({}),
  /** the code of a request Fastify refuses (validation, bad JSON, body too large, ...) */
  requestErrorCode: dependency<ErrorCode>('an error code', (v) => typeof v === 'string').default(
    'EL_ERR_INVALID_ARGUMENT',
  ),
  /**
   * 'idle': close() closes idle keep-alive sockets and waits for requests in flight; true: it also cuts the
   * sockets of requests in flight (none of the servers needs it: the dashboard ends its event streams itself)
   */
  forceCloseConnections: z.union([z.literal('idle'), z.boolean()]).default('idle'),
});

export type HttpServerOptions = z.input<typeof HttpServerOptionsSchema>;

const resolveHttpServerOptions = optionsParser(HttpServerOptionsSchema, {
  where: 'createHttpServer',
  code: 'EL_ERR_INVALID_ARGUMENT',
});

/** The request id of a raw request: its `x-request-id` when that is a valid one, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers[REQUEST_ID_HEADER];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

/** The one error body. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
}

/** Answer `status` with the one error body (also for errors sent by a route or a preHandler itself). */
export function sendError(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): FastifyReply {
  const body: ErrorBody = {
    error: { code, message, requestId: req.id, ...(details === undefined ? {} : { details }) },
  };
  return reply.code(status).header(REQUEST_ID_HEADER, req.id).type('application/json; charset=utf-8').send(body);
}

/** A Fastify server with the limits, request ids, error body, /metrics and close behaviour described above. */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const o = resolveHttpServerOptions(opts);
  const log = o.logger ?? silentLogger;
  const app = Fastify({
    logger: false,
    bodyLimit: o.limits.bodyLimit,
    connectionTimeout: o.limits.connectionTimeout,
    requestTimeout: o.limits.requestTimeout,
    keepAliveTimeout: o.limits.keepAliveTimeout,
    routerOptions: { maxParamLength: o.limits.maxParamLength },
    genReqId: requestIdOf,
    // answered below in the one error body instead of Fastify's own 503 body
    return503OnClosing: false,
    forceCloseConnections: o.forceCloseConnections,
    // a path segment over maxParamLength, a malformed URL: refused before routing, answered as the rest
    frameworkErrors: (err, req, reply) => onError(err, req, reply),
  });
  useStrictSchemaValidation(app);

  const logFailure = (err: Error, req: FastifyRequest): void =>
    log.error({ err, requestId: req.id, method: req.method, url: req.url }, `${o.name} request failed`);
  const onError = (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err instanceof EdgeloopError) {
      // a service that is closing (or not started) is unavailable on every server, whatever its own table lists
      const status = o.statusByCode[err.code] ?? (err.code === 'EL_ERR_CLOSED' ? 503 : undefined);
      // a listed status is a stated condition (503 no model yet, 404 unknown device); an unlisted code is not
      if (status === undefined) logFailure(err, req);
      return sendError(req, reply, status ?? 500, err.code, err.message, err.details);
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return sendError(req, reply, status, o.requestErrorCode, err.message);
    }
    logFailure(err, req);
    return sendError(req, reply, 500, 'EL_ERR_INTERNAL', err.message);
  };
  app.setErrorHandler((err, req, reply) => onError(err as FastifyError, req, reply));
  app.setNotFoundHandler((req, reply) =>
    sendError(req, reply, 404, 'EL_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
  );

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // callback-style hooks: no promise per request on the hot path
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    if (!closing) return done();
    // answered here: the route does not run
    void sendError(req, reply.header('connection', 'close'), 503, 'EL_ERR_CLOSED', `${o.name} is closing`);
  });
  // a request in flight when the close began: its socket is closed after the answer instead of waiting, idle, for
  // the client or the keep-alive timeout (server.close() closed only the sockets idle at that moment)
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  if (o.metrics) serveMetrics(app, o.metrics);
  return app;
}
