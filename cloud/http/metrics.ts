/**
 * Prometheus on edgeloop's Fastify servers: the `GET /metrics` route, and the process metrics every cloud process
 * exports, kept to the exposition-format rules `promtool check metrics` enforces.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default process and Node.js metrics, with `prefix`, minus the gauges it names `*_total`
 * (`nodejs_active_handles_total`, `..._requests_total`, `..._resources_total`): Prometheus reserves `_total` for
 * counters. The figure they carry is `sum()` of the labelled gauge of the same name without `_total`
 * (`sum(edgeloop_process_nodejs_active_handles)`), which stays.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
  collectDefaultMetrics({ register: registry, prefix });
  for (const m of registry.getMetricsAsArray()) {
    // prom-client's runtime type is the string 'counter' / 'gauge' / ... (its .d.ts declares an enum)
    if (!before.has(m.name) && m.name.endsWith('_total') && String(m.type) !== 'counter')
      registry.removeSingleMetric(m.name);
  }
}

/** `GET /metrics`: the registry in the Prometheus text format. */
export function serveMetrics(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });
}
