import { definePart } from '../../lib/parts.ts';
import type { FeatureStore } from '../feature-store/feature-store.ts';
import { importPart, simplePart, type CloudContext, type CloudPart } from './context.ts';

/** The online feature store: SqliteFeatureStore (`<dataDir>/features.db`) or SageMakerFeatureStore. */
export const featureStorePart = definePart({
  name: 'feature-store',
  create: async (_needs, ctx: CloudContext): Promise<CloudPart<FeatureStore>> => {
    const c = ctx.config.featureStore;
    if (c.kind === 'sagemaker') {
      const { SageMakerFeatureStore } = await importPart(
        'feature-store',
        () => import('../feature-store/sagemaker-feature-store.ts'),
      );
      return simplePart(
        'feature-store',
        new SageMakerFeatureStore({ ...(c.sagemaker ?? {}) } as ConstructorParameters<typeof SageMakerFeatureStore>[0]),
      );
    }
    const { SqliteFeatureStore } = await import('../feature-store/sqlite-feature-store.ts');
    return simplePart(
      'feature-store',
      new SqliteFeatureStore({
        path: ctx.paths.features,
        synchronous: c.sqlite.synchronous,
        ...(c.sqlite.defaultTtlHours !== undefined ? { defaultTtlMs: c.sqlite.defaultTtlHours * 3_600_000 } : {}),
        clock: ctx.clock,
      }),
    );
  },
});
