/**
 * Pieces the cloud's OpenAPI documents share (recommend, maintenance, warehouse reports): the one error body of
 * every edgeloop HTTP server (cloud/http/server.ts), as the document's `Error` component that every error
 * response names, and the /metrics path.
 */

/** The error body of every edgeloop HTTP server: `{"error": {"code", "message", "requestId", "details"?}}`. */
export const errorBodySchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'requestId'],
      properties: {
        code: { type: 'string', description: 'an EL_ERR_* code (docs/errors.md)' },
        message: { type: 'string' },
        requestId: { type: 'string', description: 'the x-request-id of the request (sent or generated)' },
        details: { type: 'object' },
      },
    },
  },
} as const;

/** A document's `components`, with the error body as `#/components/schemas/Error`. */
export const errorComponents = { schemas: { Error: errorBodySchema } } as const;

/** An error response of a document that carries errorComponents. */
export const errorResponse = (description: string): Record<string, unknown> =>
  jsonResponse(description, { $ref: '#/components/schemas/Error' });

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
