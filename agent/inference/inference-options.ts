/**
 * The inference engine's options: one schema with the defaults (also the agent config's `inference` section, so
 * the defaults are stated once), checked with lib/options.ts (an unknown option is refused with a suggestion, a bad
 * value names the field; EL_ERR_INVALID_ARGUMENT).
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { callback, clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import type { OutboxEvent } from '../outbox/outbox-options.ts';

/** The tuning options, shared with the agent config's `inference` section. */
export const InferenceTuningSchema = z.strictObject({
  /** windows per ONNX Runtime call at most */
  maxBatchWindows: z.number().int().min(1).default(256),
  /**
   * device-time cooldown between two events of one model, ms: after an anomaly event, further anomalous windows of
   * the same model are counted into the next event for this long
   */
  cooldownMs: z.number().int().min(0).default(10_000),
  intraOpNumThreads: z.number().int().min(1).default(1),
});

export const InferenceEngineOptionsSchema = InferenceTuningSchema.extend({
  /** called with each anomaly event (synchronously, in window order) */
  onEvent: callback<(event: OutboxEvent) => void>(),
  /** ORT calls outstanding before ready() makes producers wait */
  maxInflightRuns: z.number().int().min(1).default(4),
  /** verify manifest signatures in activate() against these keys (keyId → key); none = hash check only */
  trustedKeys: dependency<ReadonlyMap<string, KeyObject>>('a keyId → KeyObject map').optional(),
  /** refuse unsigned manifests in activate(); default: true when trustedKeys is non-empty */
  requireSignature: z.boolean().optional(),
  /** build a runner (tests, shared sessions); default OrtModelRunner over the verified bytes */
  createRunner: callback<(modelBytes: Uint8Array, manifest: Manifest) => Promise<ModelRunner>>().optional(),
  ...clockAndLogger,
});

export type InferenceEngineOptions = z.input<typeof InferenceEngineOptionsSchema>;
export type ResolvedInferenceOptions = z.output<typeof InferenceEngineOptionsSchema>;

export const resolveInferenceOptions = optionsParser(InferenceEngineOptionsSchema, {
  where: 'InferenceEngine',
  code: 'EL_ERR_INVALID_ARGUMENT',
});
