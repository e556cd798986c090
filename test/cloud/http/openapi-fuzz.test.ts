/**
 * The OpenAPI fuzzer itself (test/helpers/openapi-fuzz.ts) on a small Fastify API: it passes a server that
 * keeps its document, and names each way a server can break one (undocumented status, body off its schema,
 * extra properties dropped instead of rejected, coerced types, valid input refused).
 */
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { useStrictSchemaValidation } from '../../../cloud/http/schema-validation.ts';
import { fuzzOpenApi, generateCases, type OpenApiDocument, type Schema } from '../../helpers/openapi-fuzz.ts';

const nameSchema = { type: 'string', minLength: 1, maxLength: 20, pattern: '^[a-z][a-z0-9-]*$' } as const;
const bodySchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: nameSchema,
    size: { type: 'integer', minimum: 0, maximum: 10 },
    tags: { type: 'array', items: nameSchema, maxItems: 3 },
  },
} as const;
const thingSchema = {
  type: 'object',
  required: ['name', 'size'],
  properties: { name: { type: 'string' }, size: { type: 'integer' } },
} as const;
const errorSchema = { type: 'object', required: ['message'], properties: { message: { type: 'string' } } } as const;
const json = (schema: Schema) => ({ description: '', content: { 'application/json': { schema } } });

const doc: OpenApiDocument = {
  paths: {
    '/things/{name}': {
      get: {
        parameters: [
          { name: 'name', in: 'path', required: true, schema: nameSchema },
          { name: 'limit', in: 'query', required: true, schema: { type: 'integer', minimum: 1, maximum: 5 } },
        ],
        responses: { '200': json(thingSchema), '400': json(errorSchema) },
      },
    },
    '/things': {
      post: {
        requestBody: { required: true, content: { 'application/json': { schema: bodySchema } } },
        responses: { '201': json(thingSchema), '400': json(errorSchema) },
      },
    },
  },
};

interface Faults {
  defaultAjv?: boolean;
  sizeAsString?: boolean;
  teapotFor?: string;
  refuseLongNames?: boolean;
}

async function run(f: Faults) {
  const app = Fastify({ routerOptions: { maxParamLength: 200 } });
  onTestFinished(() => app.close());
  if (!f.defaultAjv) useStrictSchemaValidation(app);
  app.setErrorHandler((err: Error, _req, reply) => reply.code(400).send({ message: err.message }));
  app.get<{ Params: { name: string } }>(
    '/things/:name',
    {
      schema: {
        params: { type: 'object', properties: { name: nameSchema } },
        querystring: {
          type: 'object',
          required: ['limit'],
          properties: { limit: { type: 'integer', minimum: 1, maximum: 5 } },
        },
      },
    },
    async (req, reply) => {
      if (req.params.name === f.teapotFor) return reply.code(418).send({ message: 'teapot' });
      if (f.refuseLongNames && req.params.name.length > 10) return reply.code(400).send({ message: 'too long' });
      return { name: req.params.name, size: f.sizeAsString ? '3' : 3 };
    },
  );
  app.post<{ Body: { name: string; size?: number } }>('/things', { schema: { body: bodySchema } }, async (req, reply) =>
    reply.code(201).send({ name: req.body.name, size: req.body.size ?? 0 }),
  );
  const send = async (r: { method: string; url: string; headers: Record<string, string>; body?: string }) => {
    const res = await app.inject({
      method: r.method as 'GET',
      url: r.url,
      headers: r.headers,
      ...(r.body === undefined ? {} : { payload: r.body }),
    });
    return { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.body };
  };
  return fuzzOpenApi(doc, send);
}

describe('openapi fuzzer', () => {
  it('generates boundaries and one-rule-broken cases, each checked against the schema', () => {
    const cases = generateCases(doc);
    const why = (valid: boolean) => cases.filter((c) => c.valid === valid).map((c) => `${c.operation} ${c.why}`);
    expect(why(true)).toEqual(
      expect.arrayContaining([
        'GET /things/{name} path name: 20 characters "aaaaaaaaaaaaaaaaaaaa"',
        'GET /things/{name} query limit: 5',
        'POST /things body: {name, size, tags}',
      ]),
    );
    expect(why(false)).toEqual(
      expect.arrayContaining([
        'GET /things/{name} path name: 21 characters (maxLength 20)',
        'GET /things/{name} query limit: above maximum 5',
        'GET /things/{name} query limit: missing',
        'POST /things body: extra property (additionalProperties: false)',
        'POST /things body: missing required "name"',
        'POST /things body.size: wrong type: numeric string',
        'POST /things body.tags: 4 items (maxItems 3)',
        'POST /things body.tags: [0]: pattern: leading "-"',
        'POST /things body: malformed JSON',
        'POST /things body: missing',
      ]),
    );
  });

  it('passes a server that keeps its document', async () => {
    const r = await run({});
    expect(r.findings).toEqual([]);
    expect(r.statuses['POST /things']![201]).toBeGreaterThan(3);
  });

  it('flags dropped extra properties and coerced types (Fastify default ajv)', async () => {
    const problems = (await run({ defaultAjv: true })).findings.map((f) => `${f.why}: ${f.problem}`);
    expect(problems).toContain(
      'body: extra property (additionalProperties: false): invalid input accepted: 201 instead of one of 400/413/414/415',
    );
    expect(problems).toContain(
      'body.size: wrong type: numeric string: invalid input accepted: 201 instead of one of 400/413/414/415',
    );
  });

  it('flags undocumented statuses, bodies off their schema and valid input refused', async () => {
    const teapot = (await run({ teapotFor: 'a' })).findings.map((f) => f.problem);
    expect(teapot).toContain('status 418 is not documented (documented: 200, 400)');
    const body = (await run({ sizeAsString: true })).findings.map((f) => f.problem);
    expect(body).toContain('body does not match the 200 schema: data/size must be integer');
    const refused = (await run({ refuseLongNames: true })).findings.map((f) => `${f.why}: ${f.problem}`);
    expect(refused).toContain('path name: 20 characters "aaaaaaaaaaaaaaaaaaaa": valid input rejected with 400');
  });
});
