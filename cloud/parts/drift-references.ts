import { definePart } from '../../lib/parts.ts';
import { referenceFromModelVersion } from '../drift/reference.ts';
import type { ModelVersionRecord } from '../registry/model-registry.ts';
import type { CloudContext } from './context.ts';
import { cloudDriftPart } from './drift.ts';
import { registryPart } from './registry.ts';

/**
 * The registry's references for the drift monitors, when both run in this process: every model version that carries
 * one (`training.driftReference`, which the retraining job writes and `edgeloop up` gives the shipped model) is
 * handed to the monitors — those already registered when the part starts, then each one pushed — so a device is
 * compared with the distribution of the very version it reports running. A version whose reference does not parse
 * is skipped with a warning; the monitors keep the others.
 */
export const driftReferencesPart = definePart({
  name: 'drift-references',
  enabled: (ctx: CloudContext) => ctx.config.drift !== undefined && ctx.config.registry !== undefined,
  requires: { drift: cloudDriftPart, registry: registryPart },
  create: ({ drift, registry }, ctx: CloudContext) => {
    const models = registry.instance.registry;
    const logger = ctx.logger.child({ part: 'drift-references' });
    let adopted = 0;
    const adopt = (v: ModelVersionRecord): void => {
      try {
        const ref = referenceFromModelVersion(v);
        if (!ref) return;
        drift.setReference(ref);
        adopted++;
      } catch (err) {
        logger.warn({ model: v.name, version: v.version, err: (err as Error).message }, 'drift reference skipped');
      }
    };
    return {
      get adopted(): number {
        return adopted;
      },
      start() {
        for (const m of models.list()) for (const v of models.versions(m.name)) adopt(v);
        models.on('push', adopt);
      },
      close() {
        models.off('push', adopt);
      },
      health: () => ({ ok: true, references: adopted }),
    };
  },
});
