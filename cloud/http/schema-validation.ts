/**
 * Request validation that holds to the JSON schemas a server publishes. Fastify's default ajv removes properties
 * that `additionalProperties: false` forbids instead of rejecting them, and coerces types everywhere (a JSON body's
 * `"k": "3"` becomes 3, a bare string becomes a one-item array). Here bodies are validated as sent; path, query
 * and header values, which are strings on the wire, are still coerced to the declared types.
 */
import { Ajv, type Options } from 'ajv';
import type { FastifyInstance } from 'fastify';

// Fastify's own defaults (@fastify/ajv-compiler), except removeAdditional and, for bodies, coerceTypes
const BASE: Options = { useDefaults: true, removeAdditional: false, addUsedSchema: false, allErrors: false };

export function useStrictSchemaValidation(app: FastifyInstance): void {
  const body = new Ajv({ ...BASE, coerceTypes: false });
  const strings = new Ajv({ ...BASE, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : strings).compile(schema));
}
