import { join } from 'node:path';
import { definePart } from '../../lib/parts.ts';
import type { RetrainService } from '../retrain/retrain-service.ts';
import type { RolloutOutcome } from '../rollout/rollout-view.ts';
import { importPart, type CloudContext, type CloudPart } from './context.ts';
import { registryPart } from './registry.ts';

/**
 * The retraining job (cloud/retrain/, docs/retrain.md), when the config has a `retrain:` section: daily by
 * default and on every `drift.detected` of the drift part (through the cloud's event bus, `ctx.events`). Its files
 * are `<dataDir>/retrain/` (job store, job directories, lock, the training key); it reads the raw archive
 * (`<dataDir>/archive`) and pushes challengers to the registry, which it requires. A challenger that beats the
 * champion is announced as `retrain.candidate` on the bus (and a rejected one as `retrain.rejected`).
 */
export const retrainPart = definePart({
  name: 'retrain',
  enabled: (ctx: CloudContext) => ctx.config.retrain !== undefined,
  requires: { registry: registryPart },
  create: async ({ registry }, ctx: CloudContext): Promise<CloudPart<RetrainService>> => {
    const [{ parseRetrainConfig, retrainerOptions }, { Retrainer }, { RetrainService }] = await importPart(
      'retrain',
      () =>
        Promise.all([
          import('../retrain/retrain-config.ts'),
          import('../retrain/retrainer.ts'),
          import('../retrain/retrain-service.ts'),
        ]),
    );
    const c = parseRetrainConfig(ctx.config.retrain, 'retrain (cloud config)');
    const logger = ctx.logger.child({ part: 'retrain' });
    const retrainer = new Retrainer({
      ...retrainerOptions(c),
      dir: join(ctx.paths.dataDir, 'retrain'),
      archiveDir: ctx.paths.archive,
      registry: registry.instance.registry,
      clock: ctx.clock,
      logger,
      onEvent: (e) => ctx.events?.emit(e.type, e),
    });
    const service = new RetrainService({
      retrainer,
      intervalMs: c.intervalMs,
      driftMonitors: c.onDrift,
      driftSubjects: c.onDriftSubjects,
      noDataRetryMs: c.noDataRetryMs,
      noDataRetries: c.noDataRetries,
      clock: ctx.clock,
      logger,
    });
    const onDrift = (e: Parameters<RetrainService['onDriftEvent']>[0]): void => service.onDriftEvent(e);
    // the rollout of a candidate this job produced: the history keeps how it ended and why
    const onRollout = (o: RolloutOutcome): void => {
      if (o.model !== retrainer.model) return;
      try {
        retrainer.store.noteRollout(
          o.version,
          { id: o.id, status: o.status, reason: o.reason, stage: o.stage, at: ctx.clock.now() },
          ctx.clock.now(),
        );
      } catch (err) {
        logger.warn({ version: o.version, err: (err as Error).message }, 'could not record the rollout outcome');
      }
    };
    return {
      name: 'retrain',
      instance: service,
      start: async () => {
        service.start();
        ctx.events?.on('drift.detected', onDrift);
        ctx.events?.on('rollout.ended', onRollout);
      },
      close: async () => {
        ctx.events?.off('drift.detected', onDrift);
        ctx.events?.off('rollout.ended', onRollout);
        await service.close();
      },
      health: () => service.health(),
    };
  },
});
