/**
 * Options of the maintenance part (the `maintenance:` section of cloud.yaml; docs/predict-maintenance.md): the
 * service's tuning and the alert store's size (maintenance-options.ts, their defaults) beside where the API listens
 * and the model comes from. Only zod here, so loading a config never loads ONNX Runtime.
 */
import { z } from 'zod';
import { MaintenanceTuningSchema, SqliteAlertStoreOptionsSchema } from './maintenance-options.ts';

export const MaintenanceConfigSchema = MaintenanceTuningSchema.extend({
  host: z.string().min(1).default('127.0.0.1'),
  /** HTTP port of the API; 0 = any free port */
  port: z.number().int().min(0).max(65535).default(8084),
  /** the RUL model's directory (manifest.json + model.onnx); default: the shipped models/default/rul */
  modelDir: z.string().min(1).optional(),
  /** PEM public-key files trusted for the model directory (default: the shipped default-models key) */
  trustedKeyFiles: z.array(z.string().min(1)).optional(),
  /** alert events kept in <dataDir>/maintenance.db (oldest pruned) */
  maxEvents: SqliteAlertStoreOptionsSchema.shape.maxEvents,
});

export type MaintenanceConfig = z.infer<typeof MaintenanceConfigSchema>;
export type MaintenanceConfigInput = z.input<typeof MaintenanceConfigSchema>;
