/**
 * The maintenance service's tuning and the alert store's options: schemas with the defaults, checked with
 * lib/options.ts (an unknown option is refused with a suggestion, a bad value names the field;
 * EL_ERR_INVALID_ARGUMENT). Both are also the `maintenance:` config section's (config.ts), so each default is stated
 * once; the service's own schema (maintenance-service.ts) extends the tuning with its injected parts. Only zod here,
 * so loading a config never loads ONNX Runtime or SQLite.
 */
import { z } from 'zod';
import { optionsParser } from '../../lib/options.ts';

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

export const SqliteAlertStoreOptionsSchema = z.strictObject({
  /** SQLite file, or ':memory:' */
  path: z.string({ error: 'a file path is required' }).min(1, 'a file path is required'),
  /** events kept (oldest pruned) */
  maxEvents: z.number().int().min(1).default(100_000),
});

export type SqliteAlertStoreOptions = z.input<typeof SqliteAlertStoreOptionsSchema>;

export const resolveAlertStoreOptions = optionsParser(SqliteAlertStoreOptionsSchema, {
  where: 'SqliteAlertStore',
  code: CODE,
});
