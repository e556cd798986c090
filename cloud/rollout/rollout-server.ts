/**
 * The rollout controller's HTTP API (fastify), used by `edgeloop rollout ...`:
 *
 *   GET  /healthz
 *   GET  /v1/rollouts[?model=NAME]          rollouts, newest first
 *   POST /v1/rollouts                       start: a rollout spec (model, version, stages, bake, maxFailures, gates,
 *                                           rate, devices | group, deviceTimeoutMs, retries, minWindows) → 201
 *   GET  /v1/rollouts/:ref                  one rollout (ref = rollout id, or a model name: its current/latest one)
 *   POST /v1/rollouts/candidates            start from a retraining candidate: { model, version, approve: auto|manual,
 *                                           parent?, spec? } → 201; a shadow stage comes first
 *   POST /v1/rollouts/:ref/approve          go on after a passed shadow stage (approve: manual)   { by? }
 *   POST /v1/rollouts/:ref/promote          skip the rest of the current stage's bake (or the shadow stage)
 *   POST /v1/rollouts/:ref/rollback         roll back to the previous manifest   { reason? }
 *   POST /v1/rollouts/:ref/abort            stop assigning, no rollback           { reason? }
 *
 * Errors: the one body of cloud/http/server.ts (`{ error: { code, message, requestId } }`) with 400 (spec), 401,
 * 404, 409 (active / state), 502 (registry). Writes need
 * `Authorization: Bearer <apiToken>` when an apiToken is configured; without one the server listens on loopback
 * only, unless `insecure: true` (lib/listen-guard.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { dependency, optionsParser } from '../../lib/options.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { bearerAuth } from '../http/json-api.ts';
import { ApiServer } from '../http/api-server.ts';
import { createHttpServer, type HttpStatusByCode } from '../http/server.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { CandidateInput } from './rollout-candidate.ts';
import type { RolloutController } from './rollout-controller.ts';
import type { RolloutSpecInput } from './rollout-spec.ts';

const STATUS: HttpStatusByCode = {
  EL_ERR_ROLLOUT_SPEC: 400,
  EL_ERR_ROLLOUT_GATE: 400,
  EL_ERR_INVALID_ARGUMENT: 400,
  EL_ERR_ROLLOUT_NOT_FOUND: 404,
  EL_ERR_REGISTRY_NOT_FOUND: 404,
  EL_ERR_ROLLOUT_ACTIVE: 409,
  EL_ERR_ROLLOUT_STATE: 409,
  EL_ERR_REGISTRY_HTTP: 502,
};

/** The RolloutServer's options and their defaults (the rollout part's `http` section reads these fields). */
export const RolloutServerOptionsSchema = z.strictObject({
  controller: dependency<RolloutController>('a RolloutController'),
  /** listen address */
  host: z.string().min(1).default('127.0.0.1'),
  /** listen port (0 = any free port) */
  port: z.number().int().min(0).max(65535).default(8082),
  /** bearer token for the writes; undefined = no auth, allowed on loopback hosts only (see insecure) */
  apiToken: z.string().min(1).optional(),
  /** start without an apiToken on a non-loopback host (writes open to the network; logged as a warning) */
  insecure: z.boolean().default(false),
  logger: dependency<Logger>('a Logger').default(silentLogger),
});
export type RolloutServerOptions = z.input<typeof RolloutServerOptionsSchema>;

const resolveRolloutServerOptions = optionsParser(RolloutServerOptionsSchema, {
  where: 'RolloutServer',
  code: 'EL_ERR_INVALID_ARGUMENT',
});

export class RolloutServer extends ApiServer {
  readonly #o: Readonly<z.output<typeof RolloutServerOptionsSchema>>;
  constructor(opts: RolloutServerOptions) {
    const o = resolveRolloutServerOptions(opts);
    super({ what: 'rollout controller', ...o });
    this.#o = Object.freeze(o);
  }

  protected build(): FastifyInstance {
    const c = this.#o.controller;
    const log = this.#o.logger;
    const app = createHttpServer({
      name: 'rollout',
      logger: log,
      statusByCode: STATUS,
      requestErrorCode: 'EL_ERR_ROLLOUT_HTTP',
    });
    const auth = bearerAuth(this.#o.apiToken, 'EL_ERR_ROLLOUT_HTTP');
    const reason = (req: FastifyRequest): string | undefined => {
      const b = req.body as { reason?: unknown } | undefined;
      return typeof b?.reason === 'string' ? b.reason : undefined;
    };
    app.get('/healthz', async () => ({ ok: true }));
    app.get('/v1/rollouts', async (req) => ({ rollouts: c.list((req.query as { model?: string }).model) }));
    app.post('/v1/rollouts', { preHandler: auth }, async (req, reply) => {
      const spec = req.body as RolloutSpecInput;
      if (!spec || typeof spec !== 'object')
        throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', 'expected a JSON rollout spec');
      return reply.code(201).send(await c.startRollout(spec));
    });
    app.post('/v1/rollouts/candidates', { preHandler: auth }, async (req, reply) => {
      const body = req.body as CandidateInput;
      if (!body || typeof body !== 'object')
        throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', 'expected a JSON candidate { model, version, approve }');
      return reply.code(201).send(await c.startFromCandidate(body));
    });
    app.get('/v1/rollouts/:ref', async (req) => c.view((req.params as { ref: string }).ref));
    app.post('/v1/rollouts/:ref/approve', { preHandler: auth }, async (req) => {
      const by = (req.body as { by?: unknown } | undefined)?.by;
      return c.approve((req.params as { ref: string }).ref, typeof by === 'string' ? by : undefined);
    });
    app.post('/v1/rollouts/:ref/promote', { preHandler: auth }, async (req) =>
      c.promote((req.params as { ref: string }).ref),
    );
    app.post('/v1/rollouts/:ref/rollback', { preHandler: auth }, async (req) =>
      c.rollback((req.params as { ref: string }).ref, reason(req)),
    );
    app.post('/v1/rollouts/:ref/abort', { preHandler: auth }, async (req) =>
      c.abort((req.params as { ref: string }).ref, reason(req)),
    );
    return app;
  }
}
