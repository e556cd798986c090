/** The cloud's own HTTP endpoint: its health and its Prometheus metrics (cloud/http/server.ts's base). */
import { definePart } from '../../lib/parts.ts';
import type { FastifyInstance } from 'fastify';
import type { CloudContext, CloudPart } from './context.ts';

export interface HttpEndpoint extends CloudPart<FastifyInstance> {
  /** http://host:port once listening */
  readonly url: string | undefined;
}

/** `/healthz` (the whole cloud's health: 200 or 503) and Prometheus `/metrics`, when `http.enabled`. */
export const httpPart = definePart({
  name: 'http',
  enabled: (ctx: CloudContext) => ctx.config.http.enabled,
  create: async (_needs, ctx: CloudContext): Promise<HttpEndpoint> => {
    const { createHttpServer } = await import('../http/server.ts');
    const app = createHttpServer({ name: 'http', logger: ctx.logger, metrics: ctx.registry });
    app.get('/healthz', async (_req, reply) => {
      const h = ctx.health();
      return reply.code(h.ok ? 200 : 503).send({ status: h.ok ? 'ok' : 'degraded', parts: h.parts });
    });
    const endpoint = {
      name: 'http',
      instance: app,
      url: undefined as string | undefined,
      async start() {
        await app.listen({ host: ctx.config.http.host, port: ctx.config.http.port });
        const addr = app.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : ctx.config.http.port;
        const host =
          ctx.config.http.host === '0.0.0.0' || ctx.config.http.host === '::' ? '127.0.0.1' : ctx.config.http.host;
        endpoint.url = `http://${host}:${port}`;
      },
      async close() {
        await app.close();
      },
    };
    return endpoint;
  },
});
