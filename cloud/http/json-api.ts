/**
 * What edgeloop's JSON APIs with writes on Fastify (registry, rollout controller) share beside the server base
 * (server.ts): bearer-token auth for the mutating routes, answered in the one error body, and the URL the server
 * actually listens on.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './server.ts';

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
      await sendError(req, reply, 401, errorCode, 'missing or wrong bearer token');
    }
  };
}

/** `http://host:port` of a listening server (IPv6 hosts in brackets). */
export function listeningUrl(app: FastifyInstance): string {
  const a = app.server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}
