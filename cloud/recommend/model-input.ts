/**
 * From a feature record to one model input row, following the manifest's ordered feature list and defaults
 * policy. Pure.
 *
 * Lookup per manifest feature `f`: the store feature `featureMap[f]` when the service maps it (devices whose sensor
 * ids differ from the model's names, e.g. `air_temperature_k` ← `air_temp_last`), else the record's `f`, else
 * `f_last` (the processor publishes the latest value of a sensor `s` as `s_last`, so a device whose sensor ids are
 * the model's raw feature names serves the model directly), else the manifest's declared default, else an error
 * naming every missing feature.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureInputs, Manifest } from '../../protocol/manifest.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';

export interface BuiltInput {
  row: Float32Array;
  /** features filled from manifest defaults */
  defaulted: string[];
  /** age of the features at `now` (ms); undefined for inline features without an event time */
  featureAgeMs: number | undefined;
}

export function featureInputs(manifest: Manifest): FeatureInputs {
  if (manifest.kind !== 'recommender' || manifest.inputs.kind !== 'features') {
    throw new EdgeloopError(
      'EL_ERR_RECOMMEND_MODEL_KIND',
      `model ${manifest.name}@${manifest.version} is not a recommender (kind ${manifest.kind}, inputs ${manifest.inputs.kind})`,
    );
  }
  return manifest.inputs;
}

export function buildInput(
  manifest: Manifest,
  features: Record<string, FeatureValue>,
  eventTime: number | undefined,
  now: number,
  entityId: string,
  out?: Float32Array,
  featureMap: Readonly<Record<string, string>> = {},
): BuiltInput {
  const inputs = featureInputs(manifest);
  const n = inputs.features.length;
  const row = out ?? new Float32Array(n);
  const featureAgeMs = eventTime === undefined ? undefined : Math.max(0, now - eventTime);
  if (inputs.maxFeatureAgeMs > 0 && featureAgeMs !== undefined && featureAgeMs > inputs.maxFeatureAgeMs) {
    throw new EdgeloopError(
      'EL_ERR_RECOMMEND_FEATURES_STALE',
      `features of ${entityId} are ${fmtAge(featureAgeMs)} old; model ${manifest.name}@${manifest.version} accepts at most ${fmtAge(inputs.maxFeatureAgeMs)}`,
      { details: { entityId, featureAgeMs, maxFeatureAgeMs: inputs.maxFeatureAgeMs, eventTime } },
    );
  }
  const defaulted: string[] = [];
  const missing: string[] = [];
  const badType: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = inputs.features[i]!;
    const mapped = featureMap[f];
    let v: FeatureValue | undefined = mapped === undefined ? undefined : features[mapped];
    if (v === undefined || v === null) v = features[f];
    if (v === undefined || v === null) v = features[`${f}_last`];
    if (v === undefined || v === null) {
      const d = inputs.defaults.find((x) => x.feature === f);
      if (d) {
        v = d.value;
        defaulted.push(f);
      } else {
        missing.push(mapped ? `${f} (mapped to ${mapped})` : f);
        continue;
      }
    }
    const num = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(num)) {
      badType.push(`${f}=${JSON.stringify(v)}`);
      continue;
    }
    row[i] = num;
  }
  if (missing.length > 0) {
    throw new EdgeloopError(
      'EL_ERR_RECOMMEND_FEATURES_MISSING',
      `features of ${entityId} lack ${missing.join(', ')} (model ${manifest.name}@${manifest.version} declares no default for them)`,
      { details: { entityId, missing } },
    );
  }
  if (badType.length > 0) {
    throw new EdgeloopError(
      'EL_ERR_RECOMMEND_FEATURE_TYPE',
      `features of ${entityId} are not numbers: ${badType.join(', ')}`,
      {
        details: { entityId, badType },
      },
    );
  }
  return { row, defaulted, featureAgeMs };
}

function fmtAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
