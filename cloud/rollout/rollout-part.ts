/**
 * createRolloutPart(config): the rollout controller as a cloud part `{ name: 'rollout', start(), close(), health() }`
 * for cloud/create-cloud.ts (or `edgeloop rollout serve`). It connects its own MQTT client (persistent session, so
 * device reports sent while it restarts are queued by the broker), opens the state database, resumes running
 * rollouts and serves the HTTP API the CLI uses. Manifests come from the registry: in-process when `deps.registry`
 * is given (one-process deployments), else over HTTP from `registryUrl`. On completion it moves the registry alias
 * `completeAlias` (default "production") to the rolled-out version.
 *
 * start: MQTT client → controller (state, subscriptions) → HTTP API.  close: the reverse.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { parseOptions } from '../../lib/options.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Topics, DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';
import { MqttTransport } from '../../transport/mqtt-transport.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
import { RolloutController, type ModelSource } from './rollout-controller.ts';
import { ROLLOUT_TIMING_DEFAULTS } from './rollout-controller-options.ts';
import type { RolloutOutcome } from './rollout-view.ts';
import type { RolloutState } from './rollout-state.ts';
import { httpModelSource, registryModelSource } from './model-source.ts';
import { RolloutServer, RolloutServerOptionsSchema } from './rollout-server.ts';

export const RolloutPartConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIRS.rollout),
  /** default <dataDir>/rollout.db */
  dbPath: z.string().min(1).optional(),
  topicPrefix: z.string().min(1).default(DEFAULT_TOPIC_PREFIX),
  mqtt: z
    .strictObject({
      url: z.string().min(1).default('mqtt://127.0.0.1:1883'),
      clientId: z.string().min(1).default('edgeloop-rollout'),
      username: z.string().optional(),
      password: z.string().optional(),
    })
    .prefault({}),
  /** registry base URL (when the registry is not in this process) */
  registryUrl: z.string().url().default('http://127.0.0.1:8081'),
  registryToken: z.string().min(1).optional(),
  /** alias moved to the version when a rollout completes; false = none */
  completeAlias: z.union([z.string().min(1), z.literal(false)]).default('production'),
  http: z
    .strictObject({
      host: RolloutServerOptionsSchema.shape.host,
      port: RolloutServerOptionsSchema.shape.port,
      apiToken: RolloutServerOptionsSchema.shape.apiToken,
      /** listen on a non-loopback host without apiToken (rollout writes open to the network) */
      insecure: RolloutServerOptionsSchema.shape.insecure,
    })
    .prefault({}),
  /** named device groups for `--group` */
  groups: z.record(z.string(), z.array(z.string().min(1))).default({}),
  tickMs: z.number().int().min(1).default(ROLLOUT_TIMING_DEFAULTS.tickMs),
  discoveryMs: z.number().int().min(0).default(ROLLOUT_TIMING_DEFAULTS.discoveryMs),
  /**
   * what happens to a challenger the retraining job accepted (`retrain.candidate` in the same cloud process): a
   * rollout with a shadow stage first, going on by itself (auto) or after `edgeloop rollout approve` (manual); off:
   * nothing (push and roll out by hand). `spec`: the rest of its rollout spec (stages, gates, shadow settings).
   */
  candidates: z
    .strictObject({
      approve: z.enum(['auto', 'manual', 'off']).default('auto'),
      spec: z.record(z.string(), z.unknown()).default({}),
    })
    .prefault({}),
});
export type RolloutPartConfig = z.output<typeof RolloutPartConfigSchema>;
export type RolloutPartConfigInput = z.input<typeof RolloutPartConfigSchema>;

export interface RolloutPartDeps {
  logger?: Logger;
  clock?: Clock;
  /** an already connected transport (the part then neither starts nor closes it) */
  transport?: Transport;
  /** an in-process registry (and the base URL devices download its artifacts from) */
  registry?: { registry: ModelRegistry; artifactBaseUrl: string | (() => string) };
  models?: ModelSource;
  /** told how every rollout ended (the retraining history records why a candidate was not promoted) */
  onEnded?: (outcome: RolloutOutcome) => void | Promise<void>;
}

export interface RolloutPart {
  readonly name: 'rollout';
  readonly instance: { controller: RolloutController; server: RolloutServer };
  start(): Promise<void>;
  close(): Promise<void>;
  health(): { ok: boolean; mqtt: boolean; url?: string };
}

export function parseRolloutPartConfig(input: unknown, source = 'rollout config'): RolloutPartConfig {
  return parseOptions(RolloutPartConfigSchema, input ?? {}, { where: source, root: '(root)' });
}

export function createRolloutPart(config: RolloutPartConfigInput, deps: RolloutPartDeps = {}): RolloutPart {
  const c = parseRolloutPartConfig(config);
  const logger = (deps.logger ?? silentLogger).child({ part: 'rollout' });
  const ownsTransport = !deps.transport;
  const transport =
    deps.transport ??
    new MqttTransport({
      url: c.mqtt.url,
      clientId: c.mqtt.clientId,
      clean: false,
      sessionExpirySeconds: 24 * 3600,
      logger,
      ...(c.mqtt.username !== undefined ? { username: c.mqtt.username } : {}),
      ...(c.mqtt.password !== undefined ? { password: c.mqtt.password } : {}),
    });
  const models =
    deps.models ??
    (deps.registry
      ? registryModelSource(deps.registry.registry, deps.registry.artifactBaseUrl)
      : httpModelSource(c.registryUrl, c.registryToken ? { token: c.registryToken } : {}));
  const onCompleted = async (s: RolloutState): Promise<void> => {
    if (c.completeAlias === false) return;
    if (deps.registry) {
      deps.registry.registry.setAlias(s.spec.model, c.completeAlias, s.spec.version);
      return;
    }
    const res = await fetch(
      `${c.registryUrl.replace(/\/+$/, '')}/v1/models/${encodeURIComponent(s.spec.model)}/aliases/${encodeURIComponent(c.completeAlias)}`,
      {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          ...(c.registryToken ? { authorization: `Bearer ${c.registryToken}` } : {}),
        },
        body: JSON.stringify({ version: s.spec.version }),
        signal: AbortSignal.timeout(10_000),
      },
    );
    if (!res.ok)
      throw new EdgeloopError(
        'EL_ERR_REGISTRY_HTTP',
        `moving alias ${c.completeAlias}: HTTP ${res.status} ${await res.text()}`,
      );
  };
  const controller = new RolloutController({
    transport,
    dbPath: c.dbPath ?? join(c.dataDir, 'rollout.db'),
    models,
    topics: new Topics(c.topicPrefix),
    groups: c.groups,
    tickMs: c.tickMs,
    discoveryMs: c.discoveryMs,
    onCompleted,
    ...(deps.onEnded ? { onEnded: deps.onEnded } : {}),
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const server = new RolloutServer({
    controller,
    host: c.http.host,
    port: c.http.port,
    insecure: c.http.insecure,
    logger,
    ...(c.http.apiToken ? { apiToken: c.http.apiToken } : {}),
  });
  let started = false;
  return {
    name: 'rollout',
    instance: { controller, server },
    async start() {
      if (ownsTransport) await transport.start();
      await controller.start();
      await server.start();
      started = true;
    },
    async close() {
      started = false;
      await server.close();
      await controller.close();
      if (ownsTransport) await transport.close();
    },
    health() {
      return { ok: started && transport.connected, mqtt: transport.connected, ...(started ? { url: server.url } : {}) };
    },
  };
}
