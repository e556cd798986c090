/**
 * HTTP API of the recommendation service (Fastify):
 *   GET  /v1/recommendations/:entityId?k=3     top-k actions from the entity's online features
 *   POST /v1/recommendations                    { entityIds: [...], k } or { items: [{ entityId?, features, eventTime? }], k }
 *   GET  /v1/models                             what each variant serves
 *   POST /v1/models/reload                      re-resolve variants now (the registry also triggers it)
 *   GET  /openapi.json, /healthz, /metrics (unless metrics: false)
 * Requests are validated by the JSON schemas of the published OpenAPI document (recommend-openapi.ts), strictly:
 * 400 with the reason for a wrong type, a missing or an unexpected property. Feature problems answer 404 / 422 with
 * the code and what is missing or how old; no model answers 503. Every error has the one body of
 * cloud/http/server.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { createHttpServer } from '../http/server.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';
import { RECOMMEND_HTTP_STATUS } from './errors.ts';
import {
  MAX_PATH_SEGMENT,
  batchBodySchema,
  entityIdSchema,
  kSchema,
  openApiDocument,
  recommendationSchema,
} from './recommend-openapi.ts';
import type { RecommendService } from './recommend-service.ts';

export { openApiDocument } from './recommend-openapi.ts';

export interface RecommendServerOptions {
  service: RecommendService;
  /** serve /metrics from the service's registry (false when a parent server already does; the document then omits it) */
  metrics?: boolean;
  /** where server errors are logged (default silent) */
  logger?: Logger;
}

export function buildRecommendServer(opts: RecommendServerOptions): FastifyInstance {
  const svc = opts.service;
  const metrics = opts.metrics !== false;
  const app = createHttpServer({
    name: 'recommend',
    ...(opts.logger ? { logger: opts.logger } : {}),
    // a too long id must reach the schema (400 naming it): Fastify's default maxParamLength is 100
    limits: { maxParamLength: MAX_PATH_SEGMENT, keepAliveTimeout: 30_000 },
    ...(metrics ? { metrics: svc.registry } : {}),
    statusByCode: { ...RECOMMEND_HTTP_STATUS, EL_ERR_CLOSED: 503 },
  });
  const document = openApiDocument({ metrics });

  app.get<{ Params: { entityId: string }; Querystring: { k: number } }>(
    '/v1/recommendations/:entityId',
    {
      schema: {
        params: { type: 'object', properties: { entityId: entityIdSchema }, required: ['entityId'] },
        querystring: { type: 'object', properties: { k: kSchema }, additionalProperties: false },
        response: { 200: recommendationSchema },
      },
    },
    async (req) => svc.recommend(req.params.entityId, req.query.k),
  );

  app.post<{
    Body: {
      k?: number;
      entityIds?: string[];
      items?: Array<{ entityId?: string; features: Record<string, FeatureValue>; eventTime?: number }>;
    };
  }>('/v1/recommendations', { schema: { body: batchBodySchema } }, async (req) => {
    const k = req.body.k ?? 3;
    if (req.body.entityIds) return { results: await svc.recommendMany(req.body.entityIds, k) };
    const items = req.body.items ?? [];
    const results = await Promise.all(
      items.map(async (it) => {
        try {
          return await svc.recommendInline(it.features, k, it.entityId, it.eventTime);
        } catch (err) {
          if (!(err instanceof EdgeloopError)) throw err;
          return { entityId: it.entityId ?? null, error: { code: err.code, message: err.message } };
        }
      }),
    );
    return { results };
  });

  app.get('/v1/models', async () => ({ variants: svc.models() }));
  app.post('/v1/models/reload', async () => {
    await svc.reload();
    return { variants: svc.models() };
  });
  app.get('/openapi.json', async () => document);
  app.get('/healthz', async (_req, reply) => {
    const variants = svc.models();
    const ok = variants.filter((v) => !v.shadow).every((v) => v.version !== '');
    return reply.status(ok ? 200 : 503).send({ ok, variants });
  });
  return app;
}
