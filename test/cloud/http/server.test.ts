/**
 * The HTTP server base (cloud/http/server.ts) on real Fastify servers: request ids, every error path's status and
 * body, the 404 of an unknown route, limits, /metrics, and a close that lets the request in flight finish.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { InjectOptions } from 'fastify';
import { pino } from 'pino';
import type { Logger } from '../../../lib/logger.ts';
import { Registry, Counter } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { listeningUrl } from '../../../cloud/http/json-api.ts';
import { createHttpServer, type HttpServerOptions, REQUEST_ID_HEADER } from '../../../cloud/http/server.ts';
import { EdgeloopError } from '../../../protocol/errors.ts';

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

function app(o: Partial<HttpServerOptions> = {}) {
  const a = createHttpServer({
    name: 'test',
    statusByCode: { EL_ERR_REGISTRY_NOT_FOUND: 404, EL_ERR_RECOMMEND_NO_MODEL: 503 },
    ...o,
  });
  onTestFinished(() => a.close());
  a.get('/ok', async () => ({ ok: true }));
  a.get('/missing', async () => {
    throw new EdgeloopError('EL_ERR_REGISTRY_NOT_FOUND', 'no such model', { details: { name: 'm' } });
  });
  a.get('/no-model', async () => {
    throw new EdgeloopError('EL_ERR_RECOMMEND_NO_MODEL', 'no model loaded');
  });
  a.get('/closed', async () => {
    throw new EdgeloopError('EL_ERR_CLOSED', 'closed');
  });
  a.get('/unlisted', async () => {
    throw new EdgeloopError('EL_ERR_REGISTRY_CONFLICT', 'taken');
  });
  a.get('/boom', async () => {
    throw new Error('boom');
  });
  a.get<{ Params: { id: string } }>('/items/:id', async (req) => ({ id: req.params.id }));
  a.post(
    '/typed',
    {
      schema: {
        body: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'number' } } },
      },
    },
    async () => ({}),
  );
  return a;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('cloud/http/server', () => {
  it('keeps a valid x-request-id, replaces a missing or invalid one with a UUID, and echoes it', async () => {
    const a = app();
    const kept = await a.inject({ url: '/ok', headers: { [REQUEST_ID_HEADER]: 'abc-123:x.y_z' } });
    expect(kept.statusCode).toBe(200);
    expect(kept.headers[REQUEST_ID_HEADER]).toBe('abc-123:x.y_z');
    const generated = await a.inject({ url: '/ok' });
    expect(generated.headers[REQUEST_ID_HEADER]).toMatch(UUID);
    expect((await a.inject({ url: '/ok' })).headers[REQUEST_ID_HEADER]).not.toBe(generated.headers[REQUEST_ID_HEADER]);
    for (const bad of ['x'.repeat(129), 'a b', 'id\u00e9', '<script>', '']) {
      const res = await a.inject({ url: '/ok', headers: { [REQUEST_ID_HEADER]: bad } });
      expect(res.headers[REQUEST_ID_HEADER], JSON.stringify(bad)).toMatch(UUID);
    }
    expect(
      (await a.inject({ url: '/ok', headers: { [REQUEST_ID_HEADER]: 'x'.repeat(128) } })).headers[REQUEST_ID_HEADER],
    ).toBe('x'.repeat(128));
  });

  it('answers every error in one body with the request id, the status chosen by the code', async () => {
    const { logger, lines } = capture();
    const a = app({ logger, requestErrorCode: 'EL_ERR_REGISTRY_HTTP', limits: { bodyLimit: 64, maxParamLength: 10 } });
    const call = async (r: InjectOptions & { headers?: Record<string, string> }) => {
      const res = await a.inject({ ...r, headers: { [REQUEST_ID_HEADER]: 'req-1', ...(r.headers ?? {}) } });
      expect(res.headers[REQUEST_ID_HEADER]).toBe('req-1');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      return [res.statusCode, res.json()];
    };
    const body = (code: string, message: string | RegExp, details?: object) => ({
      error: {
        code,
        message: message instanceof RegExp ? expect.stringMatching(message) : message,
        requestId: 'req-1',
        ...(details ? { details } : {}),
      },
    });
    expect(await call({ url: '/missing' })).toEqual([
      404,
      body('EL_ERR_REGISTRY_NOT_FOUND', 'no such model', { name: 'm' }),
    ]);
    expect(await call({ url: '/no-model' })).toEqual([503, body('EL_ERR_RECOMMEND_NO_MODEL', 'no model loaded')]);
    // an EdgeloopError whose code has no status: 500 with its own code; a closed service is 503 on every server
    expect(await call({ url: '/unlisted' })).toEqual([500, body('EL_ERR_REGISTRY_CONFLICT', 'taken')]);
    expect(await call({ url: '/closed' })).toEqual([503, body('EL_ERR_CLOSED', 'closed')]);
    expect(await call({ url: '/boom' })).toEqual([500, body('EL_ERR_INTERNAL', 'boom')]);
    expect(await call({ url: '/nope?x=1' })).toEqual([404, body('EL_ERR_NOT_FOUND', 'no route GET /nope')]);
    expect(await call({ method: 'DELETE', url: '/ok' })).toEqual([
      404,
      body('EL_ERR_NOT_FOUND', 'no route DELETE /ok'),
    ]);
    const json = { 'content-type': 'application/json' };
    expect(await call({ method: 'POST', url: '/typed', headers: json, payload: '{"n":"1"}' })).toEqual([
      400,
      body('EL_ERR_REGISTRY_HTTP', 'body/n must be number'),
    ]);
    expect(await call({ method: 'POST', url: '/typed', headers: json, payload: '{"n":1,"m":2}' })).toEqual([
      400,
      body('EL_ERR_REGISTRY_HTTP', 'body must NOT have additional properties'),
    ]);
    expect(await call({ method: 'POST', url: '/typed', headers: json, payload: '{n' })).toEqual([
      400,
      body('EL_ERR_REGISTRY_HTTP', /not valid JSON/),
    ]);
    expect(await call({ method: 'POST', url: '/typed', headers: json, payload: `{"n":${'1'.repeat(80)}}` })).toEqual([
      413,
      body('EL_ERR_REGISTRY_HTTP', 'Request body is too large'),
    ]);
    expect(
      await call({ method: 'POST', url: '/typed', headers: { 'content-type': 'text/xml' }, payload: '<n/>' }),
    ).toEqual([415, body('EL_ERR_REGISTRY_HTTP', /Unsupported Media Type/)]);
    expect(await call({ url: `/items/${'i'.repeat(11)}` })).toEqual([
      414,
      body('EL_ERR_REGISTRY_HTTP', /max param length/),
    ]);
    expect((await a.inject({ url: `/items/${'i'.repeat(10)}` })).json()).toEqual({ id: 'i'.repeat(10) });
    // the unexpected failures are logged with the request id and the stack; the stated ones are not; no body has a stack
    expect(lines.map((l) => [l.level, l.msg, l.requestId, l.url])).toEqual([
      [50, 'test request failed', 'req-1', '/unlisted'],
      [50, 'test request failed', 'req-1', '/boom'],
    ]);
    expect((lines[1]!.err as { stack: string }).stack).toMatch(/Error: boom\n\s+at /);
    expect(JSON.stringify((await a.inject({ url: '/boom' })).json())).not.toMatch(/\bat |server\.test/);
  });

  it('serves /metrics from the registry it is given, and nothing else unless asked', async () => {
    const registry = new Registry();
    new Counter({ name: 'edgeloop_test_total', help: 'a test counter', registers: [registry] }).inc(2);
    const res = await app({ metrics: registry }).inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(registry.contentType);
    expect(res.body).toContain('edgeloop_test_total 2');
    expect((await app().inject({ url: '/metrics' })).statusCode).toBe(404);
  });

  it('refuses an unknown option with a suggestion, and a bad limit naming it', () => {
    expect(() => createHttpServer({ name: 'x', limit: {} } as never)).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_INVALID_ARGUMENT',
        message: expect.stringMatching(/"limit".*did you mean "limits"/),
      }),
    );
    expect(() => createHttpServer({ name: 'x', limits: { bodyLimit: 0 } })).toThrow(/limits\.bodyLimit/);
  });

  it('on close: the request in flight finishes, a request arriving then is 503 EL_ERR_CLOSED, the close is prompt', async () => {
    const a = createHttpServer({ name: 'test' });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    a.get('/slow', async () => {
      arrived();
      await held;
      return { done: true };
    });
    a.get('/ok', async () => ({ ok: true }));
    await a.listen({ host: '127.0.0.1', port: 0 });
    const url = listeningUrl(a);
    // an idle keep-alive socket (closed at once) beside the request in flight
    expect((await fetch(`${url}/ok`)).status).toBe(200);
    const slow = get(`${url}/slow`);
    await inFlight;
    const late = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise((r) => late.once('connect', r));
    late.write('GET /ok HTTP/1.1\r\nhost: x\r\n');
    const lateAnswer = new Promise<string>((r) => {
      let text = '';
      late
        .setEncoding('utf8')
        .on('data', (c: string) => (text += c))
        .on('close', () => r(text));
    });
    await new Promise((r) => setTimeout(r, 20));
    const closed = a.close();
    let done = false;
    void closed.then(() => (done = true));
    // a request whose headers were on their way when the close began
    await new Promise((r) => setTimeout(r, 20));
    late.end(`${REQUEST_ID_HEADER}: late\r\n\r\n`);
    const during = await lateAnswer;
    expect(during).toMatch(/^HTTP\/1\.1 503 /);
    expect(during).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(during.slice(during.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'EL_ERR_CLOSED', message: 'test is closing', requestId: 'late' },
    });
    expect(done).toBe(false);
    release();
    expect(await slow).toEqual({ status: 200, body: { done: true } });
    const t0 = Date.now();
    await closed;
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(fetch(`${url}/ok`)).rejects.toThrow();
  });
});

/** GET over node:http (its own socket), the status and JSON body. */
function get(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    })
      .on('error', reject)
      .end();
  });
}
