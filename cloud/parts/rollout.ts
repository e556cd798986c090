import { definePart } from '../../lib/parts.ts';
import { brokerPart } from './broker.ts';
import { importPart, type CloudContext } from './context.ts';
import { registryPart } from './registry.ts';

/**
 * The rollout controller (cloud/rollout/), when the config has a `rollout:` section. It talks MQTT to the fleet: to
 * the embedded broker as an in-process service identity (no credentials-file entry needed), or to the external
 * broker; and to the in-process registry when that runs.
 */
export const rolloutPart = definePart({
  name: 'rollout',
  enabled: (ctx: CloudContext) => ctx.config.rollout !== undefined,
  optional: { broker: brokerPart, registry: registryPart },
  create: async ({ broker, registry }, ctx: CloudContext) => {
    const mod = await importPart('rollout', () => import('../rollout/rollout-part.ts'));
    const given = (ctx.config.rollout ?? {}) as { mqtt?: Record<string, unknown> };
    let mqtt: Record<string, unknown>;
    if (ctx.config.broker.mode === 'external') mqtt = { url: ctx.config.broker.external?.url, ...given.mqtt };
    else if (broker && given.mqtt?.username === undefined) {
      const clientId = String(given.mqtt?.clientId ?? 'edgeloop-rollout');
      mqtt = { url: broker.instance.url, clientId, ...(await broker.instance.addInProcessService(clientId)), ...given.mqtt };
    } else mqtt = { ...(broker ? { url: broker.instance.url } : {}), ...given.mqtt };
    const cfg = mod.parseRolloutPartConfig({ dataDir: ctx.paths.dataDir, topicPrefix: ctx.config.topicPrefix, ...given, mqtt }, 'rollout (cloud config)');
    return mod.createRolloutPart(cfg, {
      logger: ctx.logger,
      clock: ctx.clock,
      ...(registry ? { registry: { registry: registry.instance.registry, artifactBaseUrl: () => String(registry.health().url ?? '') } } : {}),
    });
  },
});
