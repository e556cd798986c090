/**
 * Options of the maintenance part (the `maintenance:` section of cloud.yaml; docs/predict-maintenance.md). Only zod
 * here, so loading a config never loads ONNX Runtime.
 */
import { z } from 'zod';

export const MaintenanceConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** HTTP port of the API; 0 = any free port */
  port: z.number().int().min(0).max(65535).default(8084),
  /** the RUL model's directory (manifest.json + model.onnx); default: the shipped models/default/rul */
  modelDir: z.string().min(1).optional(),
  /** PEM public-key files trusted for the model directory (default: the shipped default-models key) */
  trustedKeyFiles: z.array(z.string().min(1)).optional(),
  /** alert when p10 <= horizon cycles; default: the manifest's threshold (30 for the shipped model) */
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
  /** alert events kept in <dataDir>/maintenance.db (oldest pruned) */
  maxEvents: z.number().int().min(1).default(100_000),
});

export type MaintenanceConfig = z.infer<typeof MaintenanceConfigSchema>;
export type MaintenanceConfigInput = z.input<typeof MaintenanceConfigSchema>;
