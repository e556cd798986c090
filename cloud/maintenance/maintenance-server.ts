/**
 * HTTP API of the maintenance part (Fastify):
 *   GET /v1/devices/:deviceId/rul                  RUL, p10-p90, model, freshness, cycles seen, suggested service time
 *   GET /v1/maintenance/devices?sort=rul&limit=    devices by predicted RUL
 *   GET /v1/maintenance/alerts?deviceId&state&limit  alert events, newest first
 *   GET /openapi.json, /healthz, /metrics (unless metrics: false)
 * Requests are validated strictly by the schemas of the published OpenAPI document (maintenance-openapi.ts): 400
 * with the reason for a wrong type, a value out of range or an undocumented query parameter.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { EdgeloopError } from '../../protocol/errors.ts';
import { serveMetrics } from '../http/metrics.ts';
import { useStrictSchemaValidation } from '../http/schema-validation.ts';
import { MAINTENANCE_HTTP_STATUS } from './errors.ts';
import {
  MAX_PATH_SEGMENT,
  alertStateSchema,
  deviceIdSchema,
  deviceRulSchema,
  fleetSchema,
  limitSchema,
  openApiDocument,
  sortSchema,
} from './maintenance-openapi.ts';
import type { FleetSort, MaintenanceService } from './maintenance-service.ts';

export interface MaintenanceServerOptions {
  service: MaintenanceService;
  /** serve /metrics from this registry (leave out when a parent server already does; the document then omits it) */
  registry?: Registry;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  414: 'URI Too Long',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function buildMaintenanceServer(opts: MaintenanceServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    keepAliveTimeout: 30_000,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
  });
  useStrictSchemaValidation(app);
  const svc = opts.service;
  const document = openApiDocument({ metrics: opts.registry !== undefined });

  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { code?: string; statusCode?: number; validation?: unknown; details?: unknown };
    if (e.validation)
      return reply
        .status(400)
        .send({ statusCode: 400, code: 'EL_ERR_INVALID_ARGUMENT', error: STATUS_TEXT[400], message: e.message });
    if (e instanceof EdgeloopError) {
      const status = MAINTENANCE_HTTP_STATUS[e.code] ?? 500;
      return reply.status(status).send({
        statusCode: status,
        code: e.code,
        error: STATUS_TEXT[status] ?? 'Error',
        message: e.message,
        details: e.details,
      });
    }
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    return reply.status(status).send({
      statusCode: status,
      code: e.code ?? 'EL_ERR_INTERNAL',
      error: STATUS_TEXT[status] ?? 'Error',
      message: e.message,
    });
  });

  app.get<{ Params: { deviceId: string } }>(
    '/v1/devices/:deviceId/rul',
    {
      schema: {
        params: { type: 'object', properties: { deviceId: deviceIdSchema }, required: ['deviceId'] },
        querystring: { type: 'object', properties: {}, additionalProperties: false },
        response: { 200: deviceRulSchema },
      },
    },
    async (req) => svc.rul(req.params.deviceId),
  );

  app.get<{ Querystring: { sort: FleetSort; limit: number } }>(
    '/v1/maintenance/devices',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { sort: sortSchema, limit: limitSchema },
          additionalProperties: false,
        },
        response: { 200: fleetSchema },
      },
    },
    async (req) => ({ ...svc.fleet({ sort: req.query.sort, limit: req.query.limit }), horizon: svc.horizon }),
  );

  app.get<{ Querystring: { deviceId?: string; state?: 'firing' | 'resolved'; limit: number } }>(
    '/v1/maintenance/alerts',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { deviceId: deviceIdSchema, state: alertStateSchema, limit: limitSchema },
          additionalProperties: false,
        },
      },
    },
    async (req) => ({
      alerts: await svc.alerts({
        ...(req.query.deviceId === undefined ? {} : { deviceId: req.query.deviceId }),
        ...(req.query.state === undefined ? {} : { state: req.query.state }),
        limit: req.query.limit,
      }),
    }),
  );

  app.get('/openapi.json', async () => document);
  app.get('/healthz', async () => ({
    ok: true,
    model: { name: svc.manifest.name, version: svc.manifest.version },
  }));
  if (opts.registry) serveMetrics(app, opts.registry);
  return app;
}
