/**
 * HTTP API of the recommendation service (Fastify):
 *   GET  /v1/recommendations/:entityId?k=3     top-k actions from the entity's online features
 *   POST /v1/recommendations                    { entityIds: [...], k } or { items: [{ entityId?, features, eventTime? }], k }
 *   GET  /v1/models                             what each variant serves
 *   POST /v1/models/reload                      re-resolve variants now (the registry also triggers it)
 *   GET  /openapi.json, /healthz, /metrics
 * Requests are validated by JSON schema (400 with the reason); feature problems answer 404 / 422 with the code and
 * what is missing or how old; no model answers 503.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';
import { RECOMMEND_HTTP_STATUS } from './errors.ts';
import type { RecommendService } from './recommend-service.ts';

const entityIdSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' } as const;
const kSchema = { type: 'integer', minimum: 1, maximum: 50, default: 3 } as const;
const featuresSchema = {
  type: 'object',
  additionalProperties: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'null' }] },
  maxProperties: 1000,
} as const;

const actionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    label: { type: 'string' },
    score: { type: 'number' },
    modes: { type: 'array', items: { type: 'string' } },
  },
} as const;

const recommendationSchema = {
  type: 'object',
  properties: {
    entityId: { type: ['string', 'null'] },
    variant: { type: 'string' },
    model: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } },
    featureTime: { type: ['number', 'null'], description: 'event time of the features used (ms since epoch)' },
    featureAgeMs: { type: ['number', 'null'], description: 'age of the features at answer time' },
    defaulted: { type: 'array', items: { type: 'string' }, description: 'features filled from manifest defaults' },
    actions: { type: 'array', items: actionSchema },
    modes: { type: 'object', additionalProperties: { type: 'number' } },
    predictedModes: { type: 'array', items: { type: 'string' } },
  },
} as const;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' }, details: {} },
} as const;

const batchBodySchema = {
  type: 'object',
  properties: {
    k: kSchema,
    entityIds: { type: 'array', items: entityIdSchema, minItems: 1, maxItems: 1000 },
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['features'],
        additionalProperties: false,
        properties: { entityId: entityIdSchema, features: featuresSchema, eventTime: { type: 'number', minimum: 0 } },
      },
    },
  },
  additionalProperties: false,
  oneOf: [{ required: ['entityIds'] }, { required: ['items'] }],
} as const;

export interface RecommendServerOptions {
  service: RecommendService;
  /** serve /metrics from the service's registry (false when a parent server already does) */
  metrics?: boolean;
  /** fastify logger (off by default) */
  logger?: boolean;
}

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'edgeloop recommendation service',
      version: '1',
      description:
        'Maintenance-action recommendations from an entity\'s online features and the registered recommender model, with sticky A/B and shadow variants.',
    },
    paths: {
      '/v1/recommendations/{entityId}': {
        get: {
          summary: 'Top-k actions for one entity from its online features',
          parameters: [
            { name: 'entityId', in: 'path', required: true, schema: entityIdSchema },
            { name: 'k', in: 'query', required: false, schema: kSchema },
          ],
          responses: {
            '200': { description: 'ranked actions', content: { 'application/json': { schema: recommendationSchema } } },
            '400': { description: 'invalid request', content: { 'application/json': { schema: errorSchema } } },
            '404': { description: 'no features for the entity (EL_ERR_RECOMMEND_NO_FEATURES)', content: { 'application/json': { schema: errorSchema } } },
            '422': { description: 'features missing without a declared default, or stale', content: { 'application/json': { schema: errorSchema } } },
            '503': { description: 'no model loaded', content: { 'application/json': { schema: errorSchema } } },
          },
        },
      },
      '/v1/recommendations': {
        post: {
          summary: 'A batch of entities (from the feature store) or of inline feature sets',
          requestBody: { required: true, content: { 'application/json': { schema: batchBodySchema } } },
          responses: {
            '200': {
              description: 'one result per item, in order; failed items carry { entityId, error: { code, message } }',
              content: { 'application/json': { schema: { type: 'object', properties: { results: { type: 'array' } } } } },
            },
            '400': { description: 'invalid request', content: { 'application/json': { schema: errorSchema } } },
          },
        },
      },
      '/v1/models': { get: { summary: 'The model each variant serves', responses: { '200': { description: 'variants' } } } },
      '/v1/models/reload': { post: { summary: 'Re-resolve the variants\' models now', responses: { '200': { description: 'variants after reload' } } } },
      '/healthz': { get: { summary: 'Liveness and loaded models', responses: { '200': { description: 'ok' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
    },
  };
}

export function buildRecommendServer(opts: RecommendServerOptions): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, keepAliveTimeout: 30_000 });
  const svc = opts.service;

  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { code?: string; statusCode?: number; validation?: unknown; details?: unknown };
    if (e.validation) {
      return reply.status(400).send({ statusCode: 400, code: 'EL_ERR_INVALID_ARGUMENT', error: 'Bad Request', message: e.message });
    }
    if (e instanceof EdgeloopError) {
      const status = RECOMMEND_HTTP_STATUS[e.code] ?? (e.code === 'EL_ERR_CLOSED' ? 503 : 500);
      return reply.status(status).send({ statusCode: status, code: e.code, error: httpText(status), message: e.message, details: e.details });
    }
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    return reply.status(status).send({ statusCode: status, code: e.code ?? 'EL_ERR_INTERNAL', error: httpText(status), message: e.message });
  });

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

  app.post<{ Body: { k?: number; entityIds?: string[]; items?: Array<{ entityId?: string; features: Record<string, FeatureValue>; eventTime?: number }> } }>(
    '/v1/recommendations',
    { schema: { body: batchBodySchema } },
    async (req) => {
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
    },
  );

  app.get('/v1/models', async () => ({ variants: svc.models() }));
  app.post('/v1/models/reload', async () => {
    await svc.reload();
    return { variants: svc.models() };
  });
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/healthz', async (_req, reply) => {
    const variants = svc.models();
    const ok = variants.filter((v) => !v.shadow).every((v) => v.version !== '');
    return reply.status(ok ? 200 : 503).send({ ok, variants });
  });
  if (opts.metrics !== false) {
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', svc.registry.contentType);
      return svc.registry.metrics();
    });
  }
  return app;
}

function httpText(status: number): string {
  return (
    { 400: 'Bad Request', 404: 'Not Found', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable' } as Record<number, string>
  )[status] ?? 'Error';
}
