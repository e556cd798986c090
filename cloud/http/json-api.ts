/**
 * What edgeloop's small JSON APIs on Fastify (registry, rollout controller) share: bearer-token auth for the
 * mutating routes, one error shape `{"error": {"code", "message"}}` with the HTTP status chosen by error code, and
 * the URL the server actually listens on.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

/** preHandler: 401 `errorCode` unless `Authorization: Bearer <token>` (compared in constant time); no token = open. */
export function bearerAuth(
  token: string | undefined,
  errorCode: string,
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  return async (req, reply) => {
    if (expected === undefined) return;
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      await reply.code(401).send({ error: { code: errorCode, message: 'missing or wrong bearer token' } });
    }
  };
}

/**
 * EdgeloopErrors answer with `statusByCode[code]` (500 when unlisted) and their own code; other errors with their
 * HTTP status (Fastify's validation 400s, for example) or 500 and `errorCode`. Server errors are logged.
 */
export function useJsonErrors(
  app: FastifyInstance,
  o: { statusByCode: Readonly<Record<string, number>>; errorCode: string; logger: Logger; what: string },
): void {
  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    if (err instanceof EdgeloopError) {
      void reply.code(o.statusByCode[err.code] ?? 500).send({ error: { code: err.code, message: err.message } });
      return;
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) o.logger.error({ err }, `${o.what} request failed`);
    void reply.code(status).send({ error: { code: o.errorCode, message: err.message } });
  });
}

/** `http://host:port` of a listening server (IPv6 hosts in brackets). */
export function listeningUrl(app: FastifyInstance): string {
  const a = app.server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}
