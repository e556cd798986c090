/**
 * Options of the recommendation service (the `recommend:` section of cloud.yaml; docs/recommend.md). Only zod here,
 * so loading a config never loads ONNX Runtime.
 */
import { z } from 'zod';

const RefSchema = z.union([
  z.strictObject({ dir: z.string().min(1) }),
  z.strictObject({ model: z.string().min(1), alias: z.string().min(1) }),
  z.strictObject({ model: z.string().min(1), version: z.string().min(1) }),
]);

const VariantSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 chars of [A-Za-z0-9._-]'),
  weight: z.number().min(0).default(1),
  shadow: z.boolean().default(false),
  ref: RefSchema,
});

export const RecommendConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** HTTP port of the API; 0 = any free port */
  port: z.number().int().min(0).max(65535).default(8080),
  featureGroup: z.string().min(1).default('device_features'),
  /** model feature → feature-store feature (e.g. air_temperature_k: air_temp_last) where the names differ */
  featureMap: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** salt of the sticky A/B hash; change it to reshuffle assignments */
  salt: z.string().default('edgeloop'),
  /** rows per ONNX Runtime call at most (micro-batching) */
  maxBatch: z.number().int().min(1).max(4096).default(64),
  /** variants; default: the shipped recommender from its directory */
  variants: z.array(VariantSchema).min(1).optional(),
  /** PEM public-key files trusted for model directories (default: the shipped default-models key) */
  trustedKeyFiles: z.array(z.string().min(1)).optional(),
  /** log every response to <dataDir>/recommend-log.db */
  responseLog: z.boolean().default(true),
});

export type RecommendConfig = z.infer<typeof RecommendConfigSchema>;
export type RecommendConfigInput = z.input<typeof RecommendConfigSchema>;
