/**
 * The maintenance service's and alert store's options: one schema each with the defaults, checked with
 * lib/options.ts (an unknown option is refused with a suggestion, a bad value names the field;
 * EL_ERR_INVALID_ARGUMENT). MaintenanceTuningSchema is also the `maintenance:` config section's (config.ts), so each
 * default is stated once. Only zod and types here, so loading a config never loads ONNX Runtime or SQLite.
 */
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { dependency, parseOptions } from '../../lib/options.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AlertStore } from './alert-store.ts';

const CODE = 'EL_ERR_INVALID_ARGUMENT';

export const MaintenanceTuningSchema = z.strictObject({
  /** alert when p10 <= horizon cycles; default: the manifest's threshold (30 for the shipped model), else 30 */
  horizon: z.number().min(0).optional(),
  /** cycles above the horizon p10 must rise to before an open alert resolves */
  hysteresis: z.number().min(0).default(10),
  /** devices kept in memory (sequences and predictions); the least recently updated are evicted */
  maxDevices: z.number().int().min(1).default(10_000),
  /** windows per ONNX Runtime call at most */
  maxBatch: z.number().int().min(1).max(4096).default(256),
  /**
   * score a device with fewer cycles than the model's window, its first cycle repeated in front, as the model's
   * offline evaluation pads a short unit (its manifest's training.padding); off: a device warms up for a window
   */
  padShortHistories: z.boolean().default(false),
});

export const MaintenanceServiceOptionsSchema = MaintenanceTuningSchema.extend({
  /** the RUL model's manifest (kind `rul`, window input, output labels with rul, p10, p90) */
  manifest: dependency<Manifest>('a Manifest'),
  /** a runner of that model; the service closes it */
  runner: dependency<ModelRunner>('a ModelRunner', (v) => typeof (v as ModelRunner | undefined)?.run === 'function'),
  store: dependency<AlertStore>('an AlertStore', (v) => typeof (v as AlertStore | undefined)?.append === 'function'),
  /** metrics registered here (edgeloop_maintenance_*) when given */
  registry: dependency<Registry>('a prom-client Registry').optional(),
  clock: dependency<Clock>('a Clock').optional(),
  logger: dependency<Logger>('a Logger').optional(),
});

export type MaintenanceServiceOptions = z.input<typeof MaintenanceServiceOptionsSchema>;

export function resolveMaintenanceOptions(
  o: MaintenanceServiceOptions,
): z.output<typeof MaintenanceServiceOptionsSchema> {
  return parseOptions(MaintenanceServiceOptionsSchema, o, { where: 'MaintenanceService', code: CODE });
}

export const SqliteAlertStoreOptionsSchema = z.strictObject({
  /** SQLite file, or ':memory:' */
  path: z.string({ error: 'a file path is required' }).min(1, 'a file path is required'),
  /** events kept (oldest pruned) */
  maxEvents: z.number().int().min(1).default(100_000),
});

export type SqliteAlertStoreOptions = z.input<typeof SqliteAlertStoreOptionsSchema>;

export function resolveAlertStoreOptions(o: SqliteAlertStoreOptions): z.output<typeof SqliteAlertStoreOptionsSchema> {
  return parseOptions(SqliteAlertStoreOptionsSchema, o, { where: 'SqliteAlertStore', code: CODE });
}
