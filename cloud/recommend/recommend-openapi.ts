/**
 * The recommendation service's OpenAPI 3.1 document and the JSON schemas the server validates requests and
 * serialises answers with: one source, so what `/openapi.json` publishes is what the routes enforce.
 */
import { errorComponents, errorResponse, jsonResponse, metricsPath } from '../http/openapi.ts';

/** Longest path segment the router accepts (decoded); longer ones answer 414 before any schema runs. */
export const MAX_PATH_SEGMENT = 512;

export const entityIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
} as const;
export const kSchema = { type: 'integer', minimum: 1, maximum: 50, default: 3 } as const;
const featuresSchema = {
  type: 'object',
  additionalProperties: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'null' }] },
  maxProperties: 1000,
} as const;

const actionSchema = {
  type: 'object',
  required: ['id', 'label', 'score', 'modes'],
  properties: {
    id: { type: 'string' },
    label: { type: 'string' },
    score: { type: 'number' },
    modes: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const recommendationSchema = {
  type: 'object',
  required: [
    'entityId',
    'variant',
    'model',
    'featureTime',
    'featureAgeMs',
    'defaulted',
    'actions',
    'modes',
    'predictedModes',
  ],
  properties: {
    entityId: { type: ['string', 'null'] },
    variant: { type: 'string' },
    model: {
      type: 'object',
      required: ['name', 'version'],
      properties: { name: { type: 'string' }, version: { type: 'string' } },
    },
    featureTime: { type: ['number', 'null'], description: 'event time of the features used (ms since epoch)' },
    featureAgeMs: { type: ['number', 'null'], description: 'age of the features at answer time' },
    defaulted: { type: 'array', items: { type: 'string' }, description: 'features filled from manifest defaults' },
    actions: { type: 'array', items: actionSchema },
    modes: { type: 'object', additionalProperties: { type: 'number' } },
    predictedModes: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** one item of a batch answer: a recommendation, or the item's error */
const batchResultSchema = {
  anyOf: [
    recommendationSchema,
    {
      type: 'object',
      required: ['entityId', 'error'],
      properties: {
        entityId: { type: ['string', 'null'] },
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
  ],
} as const;

const variantsSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['variant', 'shadow', 'weight', 'name', 'version'],
    properties: {
      variant: { type: 'string' },
      shadow: { type: 'boolean' },
      weight: { type: 'number' },
      name: { type: 'string' },
      version: { type: 'string', description: "'' while no model is loaded" },
    },
  },
} as const;

export const batchBodySchema = {
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

const json = jsonResponse;

export interface RecommendOpenApiOptions {
  /** the server answers GET /metrics (default true) */
  metrics?: boolean;
}

export function openApiDocument(opts: RecommendOpenApiOptions = {}): Record<string, unknown> {
  const modelsBody = { type: 'object', required: ['variants'], properties: { variants: variantsSchema } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'edgeloop recommendation service',
      version: '1',
      description:
        "Maintenance-action recommendations from an entity's online features and the registered recommender model, with sticky A/B and shadow variants.",
    },
    components: errorComponents,
    paths: {
      '/v1/recommendations/{entityId}': {
        get: {
          summary: 'Top-k actions for one entity from its online features',
          parameters: [
            { name: 'entityId', in: 'path', required: true, schema: entityIdSchema },
            { name: 'k', in: 'query', required: false, schema: kSchema },
          ],
          responses: {
            '200': json('ranked actions', recommendationSchema),
            '400': errorResponse('invalid request (entityId, k, or a query parameter other than k)'),
            '404': errorResponse('no features for the entity (EL_ERR_RECOMMEND_NO_FEATURES)'),
            '414': errorResponse(`a path segment longer than ${MAX_PATH_SEGMENT} characters (EL_ERR_INVALID_ARGUMENT)`),
            '422': errorResponse('features missing without a declared default, or stale'),
            '503': errorResponse('no model loaded'),
          },
        },
      },
      '/v1/recommendations': {
        post: {
          summary: 'A batch of entities (from the feature store) or of inline feature sets',
          requestBody: { required: true, content: { 'application/json': { schema: batchBodySchema } } },
          responses: {
            '200': json('one result per item, in order; failed items carry { entityId, error: { code, message } }', {
              type: 'object',
              required: ['results'],
              properties: { results: { type: 'array', items: batchResultSchema } },
            }),
            '400': errorResponse('invalid request'),
            '503': errorResponse('no model loaded'),
          },
        },
      },
      '/v1/models': {
        get: { summary: 'The model each variant serves', responses: { '200': json('variants', modelsBody) } },
      },
      '/v1/models/reload': {
        post: {
          summary: "Re-resolve the variants' models now",
          responses: {
            '200': json(
              'variants after reload (a variant whose new model is refused keeps serving the old one)',
              modelsBody,
            ),
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and loaded models',
          responses: {
            '200': json('every serving variant has a model', {
              type: 'object',
              required: ['ok', 'variants'],
              properties: { ok: { const: true }, variants: variantsSchema },
            }),
            '503': json('a serving variant has no model', {
              type: 'object',
              required: ['ok', 'variants'],
              properties: { ok: { const: false }, variants: variantsSchema },
            }),
          },
        },
      },
      ...metricsPath(opts.metrics !== false),
    },
  };
}
