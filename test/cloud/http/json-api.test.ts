/** The shared JSON-API pieces of the registry and rollout servers, on a real server (cloud/http/server.ts) on port 0. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { bearerAuth, listeningUrl } from '../../../cloud/http/json-api.ts';
import { createHttpServer } from '../../../cloud/http/server.ts';

async function server(token: string | undefined): Promise<string> {
  const app = createHttpServer({ name: 'test' });
  onTestFinished(() => app.close());
  app.post('/write', { preHandler: bearerAuth(token, 'EL_ERR_TEST_HTTP') }, async () => ({ ok: true }));
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
        error: {
          code: 'EL_ERR_TEST_HTTP',
          message: 'missing or wrong bearer token',
          requestId: res.headers.get('x-request-id'),
        },
      });
    }
    expect((await post(`${url}/write`, 'Bearer s3cret')).status).toBe(200);
    const open = await server(undefined);
    expect((await post(`${open}/write`)).status).toBe(200);
  });
});
