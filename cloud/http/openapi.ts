/** Pieces the cloud's OpenAPI documents share (recommend, maintenance, warehouse reports). */

/** The error body of the Fastify-based services: Fastify's own shape plus edgeloop's error code. */
export const fastifyErrorSchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
    details: {},
  },
} as const;

/** A response object with a JSON body of `schema`. */
export const jsonResponse = (description: string, schema: unknown): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema } },
});

/** The `/metrics` path item of a service that serves its own Prometheus metrics; none when a parent server does. */
export const metricsPath = (served: boolean): Record<string, unknown> =>
  served
    ? {
        '/metrics': {
          get: {
            summary: 'Prometheus metrics',
            responses: {
              '200': {
                description: 'text exposition format',
                content: { 'text/plain': { schema: { type: 'string' } } },
              },
            },
          },
        },
      }
    : {};
