/**
 * The recommendation service as a part of `edgeloop cloud` / `edgeloop up` (cloud/create-cloud.ts): reads the
 * feature-store part's store, resolves models through the registry part when it runs (aliases, hot reload) or from
 * model directories, and serves HTTP on its own port. Its instance is the RecommendPart below (url, service).
 */
import { join, resolve } from 'node:path';
import { verifyModelDir } from '../../models/manifest/index.ts';
import { definePart } from '../../lib/parts.ts';
import type { CloudContext } from '../parts/context.ts';
import { featureStorePart } from '../parts/feature-store.ts';
import { httpServicePart, readTrustedKeys, type HttpServicePart } from '../parts/http-service-part.ts';
import { registryPart } from '../parts/registry.ts';
import { DirectoryModelSource, type RecommenderModelSource } from './model-source.ts';
import { buildRecommendServer } from './recommend-server.ts';
import { RecommendService } from './recommend-service.ts';
import { RegistryModelSource } from './registry-model-source.ts';
import { SqliteResponseLog } from './response-log.ts';
import { RecommendConfigSchema, type RecommendConfigInput } from './config.ts';
import { packagePath } from '../../lib/package-root.ts';

export { RecommendConfigSchema, type RecommendConfig } from './config.ts';

/** The default recommender shipped with edgeloop (models/default/recommender). */
export const DEFAULT_RECOMMENDER_DIR = packagePath('models', 'default', 'recommender');
export const DEFAULT_MODELS_PUBLIC_KEY = packagePath('models', 'default', 'keys', 'edgeloop-default.pub');

export type RecommendPart = HttpServicePart<'recommend', RecommendService>;

/**
 * The recommend part. Without `input` it is configured by the cloud config's `recommend:` section and runs only
 * when that is present; with `input` (edgeloop up) it always runs with that configuration.
 */
export function recommendPartDef(input?: RecommendConfigInput, opts: { cwd?: string } = {}) {
  return definePart({
    name: 'recommend',
    enabled: (ctx: CloudContext) => input !== undefined || ctx.config.recommend !== undefined,
    requires: { store: featureStorePart },
    optional: { registry: registryPart },
    create: ({ store, registry }, ctx: CloudContext): RecommendPart => {
      const cfg = RecommendConfigSchema.parse(input ?? ctx.config.recommend ?? {});
      const cwd = opts.cwd ?? process.cwd();
      const trustedKeys = readTrustedKeys('recommend', cfg.trustedKeyFiles, cwd, DEFAULT_MODELS_PUBLIC_KEY);
      const dirs = new DirectoryModelSource({
        verify: async (dir) => {
          const v = verifyModelDir(resolve(cwd, dir), { trustedKeys });
          return { manifest: v.manifest, modelPath: v.modelPath };
        },
      });
      const source: RecommenderModelSource = registry
        ? new RegistryModelSource({
            registry: registry.instance.registry,
            cacheDir: join(ctx.paths.dataDir, 'recommend-cache'),
            directories: dirs,
          })
        : dirs;
      const log = cfg.responseLog
        ? new SqliteResponseLog({ path: join(ctx.paths.dataDir, 'recommend-log.db') })
        : undefined;
      const service = new RecommendService({
        featureStore: store.instance,
        source,
        variants: cfg.variants ?? [
          { name: 'default', weight: 1, shadow: false, ref: { dir: DEFAULT_RECOMMENDER_DIR } },
        ],
        featureGroup: cfg.featureGroup,
        salt: cfg.salt,
        featureMap: cfg.featureMap,
        maxBatch: cfg.maxBatch,
        registry: ctx.registry,
        logger: ctx.logger.child({ part: 'recommend' }),
        ...(log ? { responseLog: log } : {}),
      });
      return httpServicePart({
        name: 'recommend',
        service,
        app: buildRecommendServer({ service, metrics: false, logger: ctx.logger.child({ part: 'recommend' }) }),
        host: cfg.host,
        port: cfg.port,
        afterClose: () => log?.close(),
        health: (url) => {
          const models = service.models();
          return { ok: models.filter((m) => !m.shadow).every((m) => m.version !== ''), url, models };
        },
      });
    },
  });
}
