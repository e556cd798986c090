/** The shared JSON-API pieces of the registry and rollout servers, on a real Fastify server on port 0. */
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bearerAuth, listeningUrl, useJsonErrors } from '../../../cloud/http/json-api.ts';
import { EdgeloopError } from '../../../protocol/errors.ts';
import { silentLogger } from '../../../lib/logger.ts';

async function server(token: string | undefined): Promise<string> {
  const app = Fastify({ logger: false });
  onTestFinished(() => app.close());
  useJsonErrors(app, {
    statusByCode: { EL_ERR_REGISTRY_NOT_FOUND: 404 },
    errorCode: 'EL_ERR_TEST_HTTP',
    logger: silentLogger,
    what: 'test',
  });
  app.post('/write', { preHandler: bearerAuth(token, 'EL_ERR_TEST_HTTP') }, async () => ({ ok: true }));
  app.get('/missing', async () => {
    throw new EdgeloopError('EL_ERR_REGISTRY_NOT_FOUND', 'no such model');
  });
  app.get('/closed', async () => {
    throw new EdgeloopError('EL_ERR_CLOSED', 'closed');
  });
  app.get('/boom', async () => {
    throw new Error('boom');
  });
  app.post(
    '/typed',
    { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } } },
    async () => ({}),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  return listeningUrl(app);
}

const post = (url: string, authorization?: string): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: '{}',
  });

describe('cloud/http/json-api', () => {
  it('bearerAuth: 401 for a missing, wrong or wrong-length token, through for the right one; open without a token', async () => {
    const url = await server('s3cret');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const bad of [undefined, 'Bearer s3creT', 'Bearer s3cret2', 'Bearer', 's3cret']) {
      const res = await post(`${url}/write`, bad);
      expect(res.status, String(bad)).toBe(401);
      expect(await res.json()).toEqual({
        error: { code: 'EL_ERR_TEST_HTTP', message: 'missing or wrong bearer token' },
      });
    }
    expect((await post(`${url}/write`, 'Bearer s3cret')).status).toBe(200);
    const open = await server(undefined);
    expect((await post(`${open}/write`)).status).toBe(200);
  });

  it("useJsonErrors: status by error code, 500 for unlisted codes and plain errors, Fastify's 400s kept", async () => {
    const url = await server(undefined);
    const get = async (path: string): Promise<[number, unknown]> => {
      const r = await fetch(url + path);
      return [r.status, await r.json()];
    };
    expect(await get('/missing')).toEqual([
      404,
      { error: { code: 'EL_ERR_REGISTRY_NOT_FOUND', message: 'no such model' } },
    ]);
    expect(await get('/closed')).toEqual([500, { error: { code: 'EL_ERR_CLOSED', message: 'closed' } }]);
    expect(await get('/boom')).toEqual([500, { error: { code: 'EL_ERR_TEST_HTTP', message: 'boom' } }]);
    const typed = await post(`${url}/typed`);
    expect(typed.status).toBe(400);
    expect(((await typed.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'EL_ERR_TEST_HTTP',
      message: expect.stringMatching(/n/),
    });
  });
});
