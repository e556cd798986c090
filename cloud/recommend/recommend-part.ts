/**
 * The recommendation service as a part of `edgeloop cloud` / `edgeloop up` (cloud/create-cloud.ts): reads the
 * feature-store part's store, resolves models through the registry part when it runs (aliases, hot reload) or from
 * model directories, and serves HTTP on its own port.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { verifyModelDir } from '../../models/manifest/index.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureStore } from '../feature-store/feature-store.ts';
import type { CloudPart, PartDef } from '../create-cloud.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
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

export function recommendPartDef(input: RecommendConfigInput = {}, opts: { cwd?: string } = {}): PartDef {
  const cfg = RecommendConfigSchema.parse(input);
  return {
    name: 'recommend',
    requires: () => ['feature-store'],
    create: (ctx) => {
      const store = ctx.instance<FeatureStore>('feature-store');
      if (!store) throw new EdgeloopError('EL_ERR_CONFIG_INVALID', 'the recommend part needs the feature-store part');
      const cwd = opts.cwd ?? process.cwd();
      const keyFiles = cfg.trustedKeyFiles?.map((f) => resolve(cwd, f)) ?? [DEFAULT_MODELS_PUBLIC_KEY];
      const trustedKeys = keyFiles.map((f) => {
        try {
          return readFileSync(f, 'utf8');
        } catch (cause) {
          throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `recommend.trustedKeyFiles: cannot read ${f}`, { cause });
        }
      });
      const dirs = new DirectoryModelSource({
        verify: async (dir) => {
          const v = verifyModelDir(resolve(cwd, dir), { trustedKeys });
          return { manifest: v.manifest, modelPath: v.modelPath };
        },
      });
      // the registry part's instance is { registry, server }
      const registry = ctx.instance<{ registry: ModelRegistry }>('registry')?.registry;
      const source: RecommenderModelSource = registry
        ? new RegistryModelSource({ registry, cacheDir: join(ctx.paths.dataDir, 'recommend-cache'), directories: dirs })
        : dirs;
      const log = cfg.responseLog ? new SqliteResponseLog({ path: join(ctx.paths.dataDir, 'recommend-log.db') }) : undefined;
      const service = new RecommendService({
        featureStore: store,
        source,
        variants: cfg.variants ?? [{ name: 'default', weight: 1, shadow: false, ref: { dir: DEFAULT_RECOMMENDER_DIR } }],
        featureGroup: cfg.featureGroup,
        salt: cfg.salt,
        featureMap: cfg.featureMap,
        maxBatch: cfg.maxBatch,
        registry: ctx.registry,
        logger: ctx.logger.child({ part: 'recommend' }),
        ...(log ? { responseLog: log } : {}),
      });
      const app = buildRecommendServer({ service, metrics: false });
      const part: CloudPart & { url: string | undefined } = {
        name: 'recommend',
        instance: service,
        url: undefined,
        start: async () => {
          await service.start();
          await app.listen({ host: cfg.host, port: cfg.port });
          const addr = app.server.address();
          const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
          part.url = `http://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${port}`;
        },
        close: async () => {
          await app.close();
          await service.close();
          await log?.close();
        },
        health: () => {
          const models = service.models();
          return { ok: models.filter((m) => !m.shadow).every((m) => m.version !== ''), url: part.url, models };
        },
      };
      return part;
    },
  };
}
