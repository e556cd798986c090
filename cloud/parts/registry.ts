import { join } from 'node:path';
import { definePart } from '../../lib/parts.ts';
import { importPart, type CloudContext } from './context.ts';

/** The model registry (cloud/registry/), when the config has a `registry:` section. Its instance: the RegistryPart. */
export const registryPart = definePart({
  name: 'registry',
  enabled: (ctx: CloudContext) => ctx.config.registry !== undefined,
  create: async (_needs, ctx: CloudContext) => {
    const mod = await importPart('registry', () => import('../registry/registry-part.ts'));
    const cfg = mod.parseRegistryPartConfig(
      { dataDir: join(ctx.paths.dataDir, 'registry'), ...ctx.config.registry },
      'registry (cloud config)',
    );
    return mod.createRegistryPart(cfg, { logger: ctx.logger, clock: ctx.clock });
  },
});
