/**
 * Reference distributions: what the model was trained (or validated) on, per feature, kept with a model version
 * in the registry as plain JSON. Each feature keeps a sorted sample of at most `maxSample` values; a larger
 * training column is reduced to its evenly spaced order statistics (a deterministic quantile sketch that keeps
 * the shape, tails included). The output section holds the validation baseline of the anomaly model: a sample
 * of its scores and its anomaly rate.
 */
import { z } from 'zod';
import { EdgeloopError } from '../../protocol/errors.ts';
import { issuesLine } from '../../protocol/zod-issues.ts';
import { meanStd, sortedFinite } from './statistics.ts';

export const REFERENCE_SCHEMA = 'edgeloop.drift-reference/1';

const finite = z.number().finite();
export const FeatureReferenceSchema = z.strictObject({
  /** values in the training column (before reduction) */
  count: z.number().int().min(0),
  /** sorted sample (or sketch) of the finite values */
  values: z.array(finite).min(1),
  mean: finite,
  std: z.number().finite().min(0),
  /** share of missing / NaN values in the training column */
  missingRate: z.number().min(0).max(1),
});
export const ReferenceSetSchema = z.strictObject({
  schema: z.literal(REFERENCE_SCHEMA),
  model: z.strictObject({ name: z.string().min(1), version: z.string().min(1) }).optional(),
  createdAt: z.string().min(1),
  features: z.record(z.string().min(1), FeatureReferenceSchema),
  output: z
    .strictObject({
      /** validation scores of the model (sorted sample) */
      scores: z.array(finite).min(1).optional(),
      /** share of validation windows above the decision threshold */
      anomalyRate: z.number().min(0).max(1).optional(),
    })
    .optional(),
});
export type FeatureReference = z.infer<typeof FeatureReferenceSchema>;
export type ReferenceSet = z.infer<typeof ReferenceSetSchema>;

export interface BuildReferenceOptions {
  /** values kept per feature. Default 10 000. */
  maxSample?: number;
  model?: { name: string; version: string };
  output?: { scores?: ArrayLike<number>; anomalyRate?: number };
  /** ISO time; default now */
  createdAt?: string;
}

/** Build a reference set from training columns (feature name → values; null / NaN count as missing). */
export function buildReference(
  columns: Record<string, ArrayLike<number | null>>,
  o: BuildReferenceOptions = {},
): ReferenceSet {
  const maxSample = o.maxSample ?? 10_000;
  const features: Record<string, FeatureReference> = {};
  for (const [name, column] of Object.entries(columns)) {
    const sorted = sortedFinite(column);
    if (sorted.length === 0)
      throw new EdgeloopError('EL_ERR_DATA_INVALID', `buildReference: feature "${name}" has no finite values`);
    const { mean, std } = meanStd(sorted);
    features[name] = {
      count: column.length,
      values: sketch(sorted, maxSample),
      mean,
      std,
      missingRate: 1 - sorted.length / column.length,
    };
  }
  const ref: ReferenceSet = { schema: REFERENCE_SCHEMA, createdAt: o.createdAt ?? new Date().toISOString(), features };
  if (o.model) ref.model = { ...o.model };
  if (o.output) {
    ref.output = {};
    if (o.output.scores) ref.output.scores = sketch(sortedFinite(o.output.scores), maxSample);
    if (o.output.anomalyRate !== undefined) ref.output.anomalyRate = o.output.anomalyRate;
  }
  return parseReference(ref);
}

/** Evenly spaced order statistics: the values at quantiles (k + 0.5) / size. */
function sketch(sorted: Float64Array, size: number): number[] {
  if (sorted.length <= size) return Array.from(sorted);
  return Array.from({ length: size }, (_, k) => sorted[Math.floor(((k + 0.5) * sorted.length) / size)]!);
}

/** Validate a reference set (JSON from the registry or a file); the error names the field. */
export function parseReference(input: unknown, source = 'drift reference'): ReferenceSet {
  const r = ReferenceSetSchema.safeParse(input);
  if (!r.success) {
    throw new EdgeloopError('EL_ERR_DRIFT_REFERENCE', `${source}: ${issuesLine(r.error.issues)}`);
  }
  for (const [name, f] of Object.entries(r.data.features)) {
    for (let k = 1; k < f.values.length; k++) {
      if (f.values[k]! < f.values[k - 1]!)
        throw new EdgeloopError(
          'EL_ERR_DRIFT_REFERENCE',
          `${source}: features.${name}.values must be sorted ascending (index ${k})`,
        );
    }
  }
  return r.data;
}

/**
 * The reference set for a model version with the manifest's validation baseline filled in: the model's name and
 * version, and the anomaly rate (`metrics.validationFlagRate`, else `metrics.trainingFlagRate`, as models/
 * writes it) unless the reference already has one.
 */
export function withManifestBaseline(
  ref: ReferenceSet,
  manifest: { name: string; version: string; metrics?: Record<string, unknown> | undefined },
): ReferenceSet {
  const m = manifest.metrics ?? {};
  const rate = [m['validationFlagRate'], m['trainingFlagRate']].find(
    (v): v is number => typeof v === 'number' && v >= 0 && v <= 1,
  );
  const out: ReferenceSet = { ...ref, model: { name: manifest.name, version: manifest.version } };
  if (rate !== undefined && ref.output?.anomalyRate === undefined) out.output = { ...ref.output, anomalyRate: rate };
  return out;
}

/**
 * The reference set a registered model version carries: `training.driftReference` of its manifest (a
 * ReferenceSet, kept with the version in the registry), with the manifest's baseline filled in. undefined when
 * the version has none.
 */
export function referenceFromModelVersion(v: {
  name: string;
  version: string;
  metrics?: Record<string, unknown> | undefined;
  training?: Record<string, unknown> | undefined;
}): ReferenceSet | undefined {
  const raw = v.training?.['driftReference'];
  if (raw === undefined) return undefined;
  return withManifestBaseline(parseReference(raw, `model ${v.name}@${v.version} training.driftReference`), v);
}
