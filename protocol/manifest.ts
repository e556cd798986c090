/**
 * Model manifest schema (edgeloop.model/v1). A model is an ONNX file plus this manifest. The manifest is signed
 * with ed25519 over its canonical JSON without the `signature` field (protocol/canonical-json.ts); signing and
 * verification live in models/manifest/ (they need node:crypto and the file system).
 *
 * Any ONNX model that fits the manifest runs, not only ours:
 * - anomaly models take a float32 tensor [batch, window.length * sensors.length] (row-major: time, then sensor)
 *   in raw units (normalisation is folded into the graph when `normalization.folded` is true, otherwise the runner
 *   applies it), and output per window either a score (`score`, `reconstruction-error`) compared with `threshold`.
 * - recommenders take [batch, features.length] and output per-label probabilities (`multilabel-probabilities`)
 *   or class probabilities; `actions` maps labels to maintenance actions.
 * - remaining-useful-life models take a window like anomaly models and output per window the RUL and quantiles
 *   of it, in cycles (`remaining-useful-life`; `labels` names the columns, `quantiles` gives each quantile
 *   column's level, e.g. { p10: 0.1, p90: 0.9 }).
 */
import { z } from 'zod';
import { formatIssues } from './zod-issues.ts';
import { EdgeloopError } from './errors.ts';

export const MANIFEST_SCHEMA = 'edgeloop.model/v1';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const NormalizationSchema = z.object({
  mean: z.array(finite),
  std: z.array(finite.refine((x) => x > 0, 'std must be > 0')),
  /** true when the normalisation is part of the ONNX graph (the runner feeds raw values) */
  folded: z.boolean(),
});

export const AnomalyInputsSchema = z.object({
  kind: z.literal('window'),
  /** ONNX input name */
  name: z.string().min(1),
  sensors: z.array(z.string().min(1)).min(1),
  window: z.object({ length: z.number().int().min(1), stride: z.number().int().min(1) }),
  normalization: NormalizationSchema,
});

export const FeatureDefaultSchema = z.object({
  feature: z.string(),
  value: finite,
});

export const FeatureInputsSchema = z.object({
  kind: z.literal('features'),
  name: z.string().min(1),
  /** ordered feature list: column i of the input tensor is features[i] */
  features: z.array(z.string().min(1)).min(1),
  normalization: NormalizationSchema,
  /** defaults policy: only features listed here may be filled in when missing; all others are required */
  defaults: z.array(FeatureDefaultSchema).default([]),
  /** features older than this are stale (the service answers 422), ms; 0 = no limit */
  maxFeatureAgeMs: z.number().int().min(0).default(0),
});

export const OutputSchema = z.object({
  name: z.string().min(1),
  kind: z.enum([
    'score',
    'reconstruction-error',
    'class-probabilities',
    'multilabel-probabilities',
    'remaining-useful-life',
  ]),
  /** label per output column (recommenders, classifiers, RUL models) */
  labels: z.array(z.string()).optional(),
  /** quantile level of each quantile column, by label (RUL models); every key must be one of `labels` */
  quantiles: z.record(z.string(), z.number().gt(0).lt(1)).optional(),
});

export const ActionSchema = z.object({
  id: z.string().min(1),
  label: z.string().min(1),
  /** output labels (failure modes) this action answers; empty for "no action" */
  modes: z.array(z.string()),
});

export const TestVectorSchema = z.object({
  /** batch of inputs, each flattened to the input width */
  input: z.array(z.array(finite)).min(1),
  expected: z.array(z.array(finite)).min(1),
  tolerance: z.number().positive(),
});

export const SignatureSchema = z.object({
  alg: z.literal('ed25519'),
  /** sha256 (hex, first 16 chars) of the public key's SPKI DER: names the key without shipping it */
  keyId: z.string().min(1),
  /** base64 signature over canonicalJson(manifest without signature) */
  value: z.string().min(1),
});

export const ManifestSchema = z
  .object({
    schema: z.literal(MANIFEST_SCHEMA),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 chars of [A-Za-z0-9._:-]'),
    version: z.string().min(1).max(64),
    kind: z.enum(['anomaly', 'recommender', 'rul']),
    createdAt: z.string().min(1),
    artifact: z.object({
      file: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex chars'),
      bytes: z.number().int().positive(),
    }),
    inputs: z.discriminatedUnion('kind', [AnomalyInputsSchema, FeatureInputsSchema]),
    output: OutputSchema,
    /** decision threshold on the score (anomaly) or per-label probability (recommender) */
    threshold: finite,
    /** how the threshold was chosen, in words (for example "max training score x 1.1") */
    thresholdRule: z.string().optional(),
    /**
     * How scores become decisions (anomaly models). `smoothing`: the trailing mean of the last `smoothing` window
     * scores (per device and model, causal) is what is compared with `threshold`, as it was when the threshold was
     * calibrated. Absent = 1 (each window on its own).
     */
    decision: z.object({ smoothing: z.number().int().min(1).max(10_000) }).optional(),
    actions: z.array(ActionSchema).optional(),
    testVector: TestVectorSchema,
    /** latency budget per window on the device; the agent reverts a model that exceeds it (p95, ms) */
    latencyBudgetMs: z.number().positive().optional(),
    training: z.record(z.string(), z.unknown()).optional(),
    metrics: z.record(z.string(), z.unknown()).optional(),
    signature: SignatureSchema.optional(),
  })
  .superRefine((m, ctx) => {
    const n = m.inputs.kind === 'window' ? m.inputs.sensors.length : m.inputs.features.length;
    if (m.inputs.normalization.mean.length !== n || m.inputs.normalization.std.length !== n) {
      ctx.addIssue({
        code: 'custom',
        path: ['inputs', 'normalization'],
        message: `mean and std must have ${n} entries (one per ${m.inputs.kind === 'window' ? 'sensor' : 'feature'})`,
      });
    }
    const width = m.inputs.kind === 'window' ? m.inputs.window.length * n : n;
    m.testVector.input.forEach((row, i) => {
      if (row.length !== width) {
        ctx.addIssue({
          code: 'custom',
          path: ['testVector', 'input', i],
          message: `has ${row.length} values, the input width is ${width}`,
        });
      }
    });
    if (m.decision && m.kind !== 'anomaly') {
      ctx.addIssue({ code: 'custom', path: ['decision'], message: 'only anomaly models have a decision rule' });
    }
    for (const label of Object.keys(m.output.quantiles ?? {})) {
      if (!m.output.labels?.includes(label)) {
        ctx.addIssue({
          code: 'custom',
          path: ['output', 'quantiles', label],
          message: `"${label}" is not one of output.labels`,
        });
      }
    }
    if (m.testVector.expected.length !== m.testVector.input.length) {
      ctx.addIssue({ code: 'custom', path: ['testVector', 'expected'], message: 'one expected row per input row' });
    }
  });

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;
export type AnomalyInputs = z.infer<typeof AnomalyInputsSchema>;
export type FeatureInputs = z.infer<typeof FeatureInputsSchema>;

/** Validate a parsed manifest; throws EL_ERR_MODEL_MANIFEST_INVALID naming every bad field. */
export function parseManifest(value: unknown, source = 'manifest'): Manifest {
  const r = ManifestSchema.safeParse(value);
  if (!r.success) {
    const issues = formatIssues(r.error.issues);
    throw new EdgeloopError('EL_ERR_MODEL_MANIFEST_INVALID', `${source} is invalid: ${issues.join('; ')}`, {
      details: { issues },
    });
  }
  checkArtifactPath(r.data.artifact.file, source);
  return r.data;
}

/**
 * `artifact.file` names a file in the model directory itself: a plain file name (no slash, backslash, `.`, `..`, drive
 * letter or NUL), so a manifest can never make a device read or write outside that directory.
 */
export function checkArtifactPath(file: string, source = 'manifest'): void {
  if (file === '.' || file === '..' || /[/\\\0]/.test(file) || /^[A-Za-z]:/.test(file)) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_PATH',
      `${source}: artifact.file ${JSON.stringify(file)} is not a file name inside the model directory`,
      {
        details: { file },
      },
    );
  }
}

/** Width of one input row for this manifest. */
export function inputWidth(m: Manifest): number {
  return m.inputs.kind === 'window' ? m.inputs.window.length * m.inputs.sensors.length : m.inputs.features.length;
}
