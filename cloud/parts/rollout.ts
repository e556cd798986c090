import { Counter, Gauge } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import type { RolloutController } from '../rollout/rollout-controller.ts';
import { ROLLOUT_STATUSES, type RolloutStatus } from '../rollout/rollout-state.ts';
import type { RolloutPart, RolloutPartConfig } from '../rollout/rollout-part.ts';
import type { RetrainEvent } from '../retrain/retrainer.ts';
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
      mqtt = {
        url: broker.instance.url,
        clientId,
        ...(await broker.instance.addInProcessService(clientId)),
        ...given.mqtt,
      };
    } else mqtt = { ...(broker ? { url: broker.instance.url } : {}), ...given.mqtt };
    const cfg = mod.parseRolloutPartConfig(
      { dataDir: ctx.paths.dataDir, topicPrefix: ctx.config.topicPrefix, ...given, mqtt },
      'rollout (cloud config)',
    );
    const part = mod.createRolloutPart(cfg, {
      logger: ctx.logger,
      clock: ctx.clock,
      // how each rollout ended goes on the bus: the retraining history records it against its candidate
      onEnded: (outcome) => {
        ctx.events?.emit('rollout.ended', outcome);
      },
      ...(registry
        ? {
            registry: {
              registry: registry.instance.registry,
              artifactBaseUrl: () => String(registry.health().url ?? ''),
            },
          }
        : {}),
    });
    registerRolloutMetrics(ctx, part.instance.controller);
    return withCandidates(part, cfg.candidates, ctx);
  },
});

/**
 * The closed loop's hand-over: every `retrain.candidate` on the cloud's bus starts a rollout of that version whose
 * first stage is a shadow (RolloutController.startFromCandidate), unless `candidates.approve` is off. A candidate
 * that cannot start (another rollout of the model is running, the version is gone) is logged and announced as
 * `rollout.candidate-failed`, so the retraining history shows it; the next candidate tries again.
 */
function withCandidates(part: RolloutPart, c: RolloutPartConfig['candidates'], ctx: CloudContext): RolloutPart {
  const events = ctx.events;
  if (c.approve === 'off' || !events) return part;
  const logger = ctx.logger.child({ part: 'rollout' });
  const approve = c.approve;
  const onCandidate = (e: RetrainEvent): void => {
    part.instance.controller
      .startFromCandidate({ model: e.model, version: e.version, parent: e.parent, approve, spec: c.spec as never })
      .then((v) =>
        logger.info({ rollout: v.id, model: e.model, version: e.version, approve }, 'candidate rollout started'),
      )
      .catch((err: Error & { code?: string }) => {
        logger.warn({ model: e.model, version: e.version, err: err.message }, 'candidate rollout not started');
        events.emit('rollout.candidate-failed', {
          model: e.model,
          version: e.version,
          reason: err.message,
          at: ctx.clock.now(),
        });
      });
  };
  return {
    ...part,
    start: async () => {
      await part.start();
      events.on('retrain.candidate', onCandidate);
    },
    close: async () => {
      events.off('retrain.candidate', onCandidate);
      await part.close();
    },
  };
}

/**
 * The rollout controller's metrics:
 * - `edgeloop_rollout_rollouts{status}`: the rollouts of the state database's recent list (the 50 newest, what
 *   `edgeloop rollout status` shows) by status, read at scrape time;
 * - `edgeloop_rollout_transitions_total{status}`: rollouts that entered each status while this process ran (from
 *   the controller's change events), so an abort is counted even when the recent list has moved on.
 * deploy/prometheus alerts on a rise of `aborted` or `rolled-back` transitions and on any `rolling-back` rollout.
 */
function registerRolloutMetrics(ctx: CloudContext, controller: RolloutController): void {
  new Gauge({
    name: 'edgeloop_rollout_rollouts',
    help: 'Rollouts by status among the 50 most recent in the rollout state database.',
    labelNames: ['status'],
    registers: [ctx.registry],
    collect() {
      let views: Array<{ status: RolloutStatus }>;
      try {
        views = controller.list();
      } catch {
        return; // not started yet, or closed: no samples rather than zeros
      }
      this.reset();
      for (const s of ROLLOUT_STATUSES) this.set({ status: s }, views.filter((v) => v.status === s).length);
    },
  });
  const transitions = new Counter({
    name: 'edgeloop_rollout_transitions_total',
    help: 'Rollouts that entered each status (this process).',
    labelNames: ['status'],
    registers: [ctx.registry],
  });
  for (const s of ROLLOUT_STATUSES) transitions.inc({ status: s }, 0);
  const last = new Map<string, RolloutStatus>();
  controller.onChange((id) => {
    let status: RolloutStatus;
    try {
      status = controller.view(id).status;
    } catch {
      return; // closing
    }
    if (last.get(id) === status) return;
    last.set(id, status);
    transitions.inc({ status });
  });
}
