import { resolve } from 'node:path';
import { definePart } from '../../lib/parts.ts';
import { driftPart } from '../drift/drift-part.ts';
import type { CloudContext } from './context.ts';

/**
 * The drift monitors (cloud/drift/), when the config has a `drift:` section: their store is `<dataDir>/drift.db`
 * unless the section says otherwise, reference files resolve against the data directory's parent as the other
 * paths of the config do (the working directory). The processor feeds it (cloud/parts/processor.ts): every feature
 * write, and the status and events messages it reads from the stream. Its instance is the DriftService.
 */
export const cloudDriftPart = definePart({
  name: 'drift',
  enabled: (ctx: CloudContext) => ctx.config.drift !== undefined,
  create: (_needs, ctx: CloudContext) => {
    const given = (ctx.config.drift ?? {}) as { references?: string[] } & Record<string, unknown>;
    const drift = {
      dataDir: ctx.paths.dataDir,
      ...given,
      ...(given.references ? { references: given.references.map((f) => resolve(ctx.paths.cwd, f)) } : {}),
    };
    return driftPart.create(
      {},
      {
        config: { drift },
        metrics: ctx.registry,
        clock: ctx.clock,
        logger: ctx.logger,
        // every state change on the cloud's bus: the retrain part starts a job on drift.detected
        onDriftEvent: (e) => ctx.events?.emit(e.type, e),
      },
    );
  },
});
