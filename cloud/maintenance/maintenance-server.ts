/**
 * HTTP API of the maintenance part (Fastify):
 *   GET /v1/devices/:deviceId/rul                  RUL, p10-p90, model, freshness, cycles seen, suggested service time
 *   GET /v1/maintenance/devices?sort=rul&limit=    devices by predicted RUL
 *   GET /v1/maintenance/alerts?deviceId&state&limit  alert events, newest first
 *   GET /openapi.json, /healthz, /metrics (unless metrics: false)
 * Requests are validated strictly by the schemas of the published OpenAPI document (maintenance-openapi.ts): 400
 * with the reason for a wrong type, a value out of range or an undocumented query parameter. Every error has the
 * one body of cloud/http/server.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/logger.ts';
import { createHttpServer } from '../http/server.ts';
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
  /** where server errors are logged (default silent) */
  logger?: Logger;
}

export function buildMaintenanceServer(opts: MaintenanceServerOptions): FastifyInstance {
  const app = createHttpServer({
    name: 'maintenance',
    ...(opts.logger ? { logger: opts.logger } : {}),
    // a too long id must reach the schema (400 naming it): Fastify's default maxParamLength is 100
    limits: { maxParamLength: MAX_PATH_SEGMENT, keepAliveTimeout: 30_000 },
    ...(opts.registry ? { metrics: opts.registry } : {}),
    statusByCode: MAINTENANCE_HTTP_STATUS,
  });
  const svc = opts.service;
  const document = openApiDocument({ metrics: opts.registry !== undefined });

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
  return app;
}
