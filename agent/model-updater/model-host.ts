/**
 * ModelHost: what the device-side model updater needs from the agent's inference engine. The agent's inference
 * engine (agent/inference/) implements it; the updater (agent/model-updater/model-updater.ts) uses it.
 */
import type { Manifest } from '../../protocol/manifest.ts';

export interface ActiveModel {
  manifest: Manifest;
  /** absolute path of the verified .onnx file in the agent's model store */
  modelPath: string;
  activatedAt: number;
}

export interface ModelStats {
  /** windows scored by this model since it was activated */
  windows: number;
  anomalies: number;
  anomalyRate: number;
  p95Ms: number;
}

export interface ModelHost {
  /** The model currently serving `name` (manifest name), if any. */
  active(name: string): ActiveModel | undefined;
  /**
   * Load `modelPath` in a fresh ONNX Runtime session, run the manifest's test vector in it, and only then swap it
   * in atomically (windows in flight finish on the old session). Rejects, keeping the old model, on any failure.
   */
  activate(manifest: Manifest, modelPath: string): Promise<void>;
  /** Inference figures of the active model for `name` since activation. */
  stats(name: string): ModelStats | undefined;
  /**
   * Shadow candidates (optional: a host without them refuses shadow assignments). activateShadow loads the model
   * like activate() but runs it beside the active model of the same name, acting on nothing it decides.
   */
  activateShadow?(manifest: Manifest, modelPath: string): Promise<void>;
  /** Stop the shadow candidate of `name`; false when none ran. */
  clearShadow?(name: string): Promise<boolean>;
  /** The shadow candidate running for `name`, if any. */
  shadow?(name: string): ActiveModel | undefined;
}
