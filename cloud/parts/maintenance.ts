/**
 * The maintenance part (docs/predict-maintenance.md), when the config has a `maintenance:` section: the RUL model
 * (models/default/rul unless `modelDir` says otherwise; signature, sha256 and test vector checked at start) served
 * on per-device sequences that the processor feeds (cloud/parts/processor.ts hands it every decoded message), its
 * alert events in `<dataDir>/maintenance.db`, and its HTTP API on its own port. It starts before the processor and
 * closes after it, so no message is handed to a closed service. Its instance is the MaintenanceService.
 */
import { join, resolve } from 'node:path';
import { definePart } from '../../lib/parts.ts';
import { packagePath } from '../../lib/package-root.ts';
import { MaintenanceConfigSchema, type MaintenanceConfigInput } from '../maintenance/config.ts';
import type { MaintenanceService } from '../maintenance/maintenance-service.ts';
import { importPart, type CloudContext } from './context.ts';
import { httpServicePart, readTrustedKeys, type HttpServicePart } from './http-service-part.ts';

/** The RUL model shipped with edgeloop. */
export const DEFAULT_RUL_DIR = packagePath('models', 'default', 'rul');
const DEFAULT_KEY = packagePath('models', 'default', 'keys', 'edgeloop-default.pub');

export type MaintenancePart = HttpServicePart<'maintenance', MaintenanceService>;

/**
 * The maintenance part. Without `input` it is configured by the cloud config's `maintenance:` section and runs only
 * when that is present; with `input` it always runs with that configuration.
 */
export function maintenancePartDef(input?: MaintenanceConfigInput) {
  return definePart({
    name: 'maintenance',
    enabled: (ctx: CloudContext) => input !== undefined || ctx.config.maintenance !== undefined,
    create: async (_needs, ctx: CloudContext): Promise<MaintenancePart> => {
      const cfg = MaintenanceConfigSchema.parse(input ?? ctx.config.maintenance ?? {});
      const [{ loadRulModel }, { MaintenanceService }, { SqliteAlertStore }, { buildMaintenanceServer }] =
        await importPart('maintenance', () =>
          Promise.all([
            import('../maintenance/rul-model.ts'),
            import('../maintenance/maintenance-service.ts'),
            import('../maintenance/alert-store.ts'),
            import('../maintenance/maintenance-server.ts'),
          ]),
        );
      const trustedKeys = readTrustedKeys('maintenance', cfg.trustedKeyFiles, ctx.paths.cwd, DEFAULT_KEY);
      const dir = cfg.modelDir === undefined ? DEFAULT_RUL_DIR : resolve(ctx.paths.cwd, cfg.modelDir);
      const { manifest, runner } = await loadRulModel(dir, trustedKeys);
      const service = new MaintenanceService({
        manifest,
        runner,
        store: new SqliteAlertStore({ path: join(ctx.paths.dataDir, 'maintenance.db'), maxEvents: cfg.maxEvents }),
        ...(cfg.horizon === undefined ? {} : { horizon: cfg.horizon }),
        hysteresis: cfg.hysteresis,
        maxDevices: cfg.maxDevices,
        maxBatch: cfg.maxBatch,
        padShortHistories: cfg.padShortHistories,
        registry: ctx.registry,
        clock: ctx.clock,
        logger: ctx.logger.child({ part: 'maintenance', model: manifest.name }),
      });
      return httpServicePart({
        name: 'maintenance',
        service,
        app: buildMaintenanceServer({ service, logger: ctx.logger.child({ part: 'maintenance' }) }),
        host: cfg.host,
        port: cfg.port,
        health: (url) => {
          const s = service.stats();
          return {
            ok: true,
            url,
            model: `${manifest.name}@${manifest.version}`,
            devices: s.devices,
            openAlerts: s.openAlerts,
          };
        },
      });
    },
  });
}

/** The maintenance part configured by the cloud config's `maintenance:` section. */
export const maintenancePart = maintenancePartDef();
