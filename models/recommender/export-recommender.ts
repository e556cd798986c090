/**
 * From a trained recommender to an ONNX file and its (unsigned) manifest. The ONNX graph takes the raw features
 * (RAW_FEATURES), computes the engineered ones and the normalisation inside the graph, and outputs the five
 * threshold-folded mode probabilities. Before anything is returned, the ONNX model is run in ONNX Runtime on the
 * given rows and compared with TensorFlow.js (EL_ERR_RECOMMENDER_PARITY past `parityTolerance`).
 */
import type { Manifest, ManifestInput } from '../../protocol/manifest.ts';
import {
  assertParity,
  checkedManifest,
  manifestHead,
  roundTo,
  runOnnx,
  testVectorOf,
} from '../manifest/export-steps.ts';
import { exportTfjsToOnnx } from '../onnx/export-tfjs.ts';
import { FAILURE_MODES } from './ai4i-data.ts';
import { FAILURE_IMPLYING_MODES } from './train-recommender.ts';
import { ACTION_CATALOG } from './actions.ts';
import { prependFeatureGraph, splitFailureOutput } from './feature-graph.ts';
import { DERIVED_FEATURES, RAW_FEATURES } from './features.ts';
import type { EvalReport } from './metrics.ts';
import type { TrainedRecommender } from './train-recommender.ts';

export const RECOMMENDER_INPUT_NAME = 'features';
export const RECOMMENDER_OUTPUT_NAME = 'mode_probabilities';
/** second graph output: the machine failure probability [batch, 1], 0.5 = decision */
export const RECOMMENDER_FAILURE_OUTPUT_NAME = 'failure_probability';

/** Defaults policy: only the product type may be filled in (as L: the most common type, lowest overstrain limit). */
export const RECOMMENDER_DEFAULTS: ReadonlyArray<{ feature: string; value: number }> = [
  { feature: 'type_l', value: 1 },
  { feature: 'type_m', value: 0 },
  { feature: 'type_h', value: 0 },
];

/** Snapshot features older than this are stale: tool wear and temperatures move within minutes. */
export const RECOMMENDER_MAX_FEATURE_AGE_MS = 15 * 60 * 1000;

export interface ExportRecommenderOptions {
  name?: string;
  version?: string;
  /** ISO time; default now */
  createdAt?: string;
  /** raw rows (RAW_FEATURES order) for the parity check and the test vector (the first 4 rows) */
  sampleRaw: Float32Array;
  sampleRows: number;
  /** max |onnx - tfjs| allowed; default 1e-5 */
  parityTolerance?: number;
  /** metrics on held-out data, recorded in the manifest */
  holdout?: EvalReport;
  /** training facts recorded in the manifest (data file, rows...) */
  training?: Record<string, unknown>;
}

export interface ExportedRecommender {
  onnx: Uint8Array;
  manifest: ManifestInput;
  /** largest |onnx - tfjs| over the sample rows */
  parityMaxError: number;
}

export async function exportRecommender(
  t: TrainedRecommender,
  o: ExportRecommenderOptions,
): Promise<ExportedRecommender> {
  const engineeredModel = exportTfjsToOnnx(t.model, {
    inputName: RECOMMENDER_INPUT_NAME,
    outputName: RECOMMENDER_OUTPUT_NAME,
    normalization: t.normalization,
    head: 'none',
    metadata: { 'edgeloop.model': 'ai4i-recommender' },
  });
  const onnx = splitFailureOutput(
    prependFeatureGraph(engineeredModel, RECOMMENDER_INPUT_NAME),
    RECOMMENDER_OUTPUT_NAME,
    RECOMMENDER_FAILURE_OUTPUT_NAME,
    FAILURE_MODES.length,
    FAILURE_IMPLYING_MODES,
  );

  const runOrt = (outputName: string): Promise<Float32Array> =>
    runOnnx(onnx, RECOMMENDER_INPUT_NAME, outputName, o.sampleRaw, o.sampleRows);
  const ortOut = await runOrt(RECOMMENDER_OUTPUT_NAME);
  const ortFailure = await runOrt(RECOMMENDER_FAILURE_OUTPUT_NAME);
  let parityMaxError = 0;
  const compare = (tfOut: Float32Array, ort: Float32Array): void => {
    for (let i = 0; i < tfOut.length; i++) parityMaxError = Math.max(parityMaxError, Math.abs(tfOut[i]! - ort[i]!));
  };
  compare(t.predict(o.sampleRaw, o.sampleRows), ortOut);
  compare(t.predictFailure(o.sampleRaw, o.sampleRows), ortFailure);
  assertParity(parityMaxError, o.parityTolerance ?? 1e-5, 'EL_ERR_RECOMMENDER_PARITY', 'ONNX model');

  const manifest: ManifestInput = {
    ...manifestHead(o, { name: 'ai4i-recommender', kind: 'recommender' }, onnx),
    inputs: {
      kind: 'features',
      name: RECOMMENDER_INPUT_NAME,
      features: [...RAW_FEATURES],
      normalization: { mean: t.rawStats.mean, std: t.rawStats.std, folded: true },
      defaults: RECOMMENDER_DEFAULTS.map((d) => ({ ...d })),
      maxFeatureAgeMs: RECOMMENDER_MAX_FEATURE_AGE_MS,
    },
    output: { name: RECOMMENDER_OUTPUT_NAME, kind: 'multilabel-probabilities', labels: [...FAILURE_MODES] },
    threshold: 0.5,
    thresholdRule:
      "per-mode F1-optimal thresholds on a validation split (UDI hash), folded into the output bias so 0.5 is every mode's decision point; modes with validation F1 < " +
      `${t.options.minUsefulF1}` +
      Object.entries(t.options.minUsefulF1ByMode)
        .map(([m, v]) => ` (${m}: ${v})`)
        .join('') +
      ' are switched off',
    actions: ACTION_CATALOG.map((a) => ({ id: a.id, label: a.label, modes: [...a.modes] })),
    testVector: testVectorOf(o.sampleRaw, RAW_FEATURES.length, ortOut, FAILURE_MODES.length, o.sampleRows, 1e-4),
    latencyBudgetMs: 5,
    training: {
      framework: 'tensorflow.js',
      derivedFeatures: DERIVED_FEATURES.map((d) => ({ name: d.name, unit: d.unit })),
      hidden: t.options.hidden,
      epochs: t.options.epochs,
      seed: t.options.seed,
      batchSize: t.options.batchSize,
      learningRate: t.options.learningRate,
      positiveWeights: Object.fromEntries(FAILURE_MODES.map((m, j) => [m, round(t.positiveWeights[j]!)])),
      tunedThresholds: Object.fromEntries(FAILURE_MODES.map((m, j) => [m, round(t.thresholds[j]!)])),
      failurePositiveWeight: round(t.failurePositiveWeight),
      tunedFailureThreshold: round(t.failureThreshold),
      trainRows: t.trainRows,
      validationRows: t.validationRows,
      finalLoss: round(t.finalLoss),
      parityMaxError,
      ...(o.training ?? {}),
    },
    metrics: {
      // The folded thresholds: every mode decides at 0.5 (the recommendation service reads this map).
      thresholds: Object.fromEntries(FAILURE_MODES.map((m) => [m, 0.5])),
      // The second graph output (its own head, trained on the Machine failure label), also folded to 0.5.
      failureOutput: {
        name: RECOMMENDER_FAILURE_OUTPUT_NAME,
        threshold: 0.5,
        impliedBy: FAILURE_MODES.slice(...FAILURE_IMPLYING_MODES),
      },
      validation: summary(t.validation),
      ...(o.holdout ? { holdout: summary(o.holdout) } : {}),
    },
  };
  return { onnx, manifest: checkedManifest(manifest, 'exported recommender manifest'), parityMaxError };
}

export function summary(r: EvalReport): Record<string, unknown> {
  return {
    rows: r.rows,
    macroF1: round(r.macroF1),
    macroF1NoRnf: round(r.macroF1NoRnf),
    binaryFailureF1: round(r.binaryFailure.f1),
    anyModeFailureF1: round(r.anyModeFailure.f1),
    hitAt1: round(r.hitAt1),
    hitAt2: round(r.hitAt2),
    perMode: Object.fromEntries(
      Object.entries(r.perMode).map(([m, v]) => [
        m,
        { support: v.support, precision: round(v.precision), recall: round(v.recall), f1: round(v.f1) },
      ]),
    ),
  };
}

function round(x: number): number {
  return roundTo(x, 6);
}

export type { Manifest };
