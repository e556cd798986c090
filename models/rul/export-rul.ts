/**
 * From a trained RUL model to an ONNX file and its (unsigned) manifest. The graph takes the raw window
 * [batch, window * sensors] (row-major: cycle, then sensor), normalises it inside the graph and outputs
 * [batch, 3] = (rul, p10, p90) in cycles. Before anything is returned the ONNX model runs in ONNX Runtime on the
 * sample windows and must match TensorFlow.js (EL_ERR_RUL_PARITY past `parityTolerance`).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { ManifestInput } from '../../protocol/manifest.ts';
import {
  assertParity,
  checkedManifest,
  manifestHead,
  roundTo,
  runOnnx,
  testVectorOf,
} from '../manifest/export-steps.ts';
import { exportTfjsToOnnx } from '../onnx/export-tfjs.ts';
import type { RulScores } from './evaluate-rul.ts';
import { RUL_OUTPUTS } from './ensemble-layers.ts';
import type { TrainedRul } from './train-rul.ts';

export const RUL_INPUT_NAME = 'window';
export const RUL_OUTPUT_NAME = 'rul';
/** default maintenance alert: the pessimistic (p10) remaining life at or below this many cycles */
export const RUL_ALERT_CYCLES = 30;

export interface ExportRulOptions {
  name?: string;
  version?: string;
  /** ISO time; default now */
  createdAt?: string;
  /** raw windows [rows, window * sensors] for the parity check; the first 4 become the test vector */
  sample: Float32Array;
  sampleRows: number;
  /** max |onnx - tfjs| / max(1, |tfjs|); default 1e-4 (outputs are cycles, up to ~150: float32 sums of a few hundred products differ by ~1e-5 relative between the two runtimes) */
  parityTolerance?: number;
  /** figures on held-out units of the training file, recorded in the manifest with how they were obtained */
  validation?: RulScores & { protocol: string };
  /** training facts recorded in the manifest (data file, units...) */
  training?: Record<string, unknown>;
}

export interface ExportedRul {
  onnx: Uint8Array;
  manifest: ManifestInput;
  parityMaxError: number;
}

export async function exportRul(t: TrainedRul, o: ExportRulOptions): Promise<ExportedRul> {
  const opt = t.options;
  const width = opt.window * opt.sensors.length;
  if (o.sampleRows < 1 || o.sample.length !== o.sampleRows * width) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `sample must hold ${o.sampleRows} >= 1 windows of ${width} values, got ${o.sample.length} values`,
    );
  }
  const onnx = exportTfjsToOnnx(t.model, {
    inputName: RUL_INPUT_NAME,
    outputName: RUL_OUTPUT_NAME,
    normalization: t.normalization,
    metadata: { 'edgeloop.model': 'cmapss-rul', 'edgeloop.outputs': RUL_OUTPUTS.join(',') },
  });
  const ortOut = await runOnnx(onnx, RUL_INPUT_NAME, RUL_OUTPUT_NAME, o.sample, o.sampleRows);
  const parityMaxError = relativeParity(t.predict(o.sample, o.sampleRows), ortOut);
  assertParity(parityMaxError, o.parityTolerance ?? 1e-4, 'EL_ERR_RUL_PARITY', 'ONNX RUL model', 'relative; ');
  const manifest: ManifestInput = {
    ...manifestHead(o, { name: 'cmapss-rul', kind: 'rul' }, onnx),
    inputs: {
      kind: 'window',
      name: RUL_INPUT_NAME,
      sensors: [...opt.sensors],
      window: { length: opt.window, stride: 1 },
      normalization: { mean: t.normalization.mean, std: t.normalization.std, folded: true },
    },
    output: {
      name: RUL_OUTPUT_NAME,
      kind: 'remaining-useful-life',
      labels: [...RUL_OUTPUTS],
      quantiles: { p10: 0.1, p90: 0.9 },
    },
    threshold: RUL_ALERT_CYCLES,
    thresholdRule: `maintenance alert when p10 (the pessimistic remaining life) is at or below ${RUL_ALERT_CYCLES} cycles`,
    testVector: testVectorOf(o.sample, width, ortOut, RUL_OUTPUTS.length, o.sampleRows, 1e-3),
    latencyBudgetMs: 1,
    training: {
      framework: 'tensorflow.js',
      target: `piecewise-linear RUL capped at ${opt.cap} cycles`,
      loss: 'squared error (rul) + pinball at 0.1 and 0.9 (p10, p90)',
      window: opt.window,
      cap: opt.cap,
      hidden: opt.hidden,
      epochs: opt.epochs,
      batchSize: opt.batchSize,
      learningRate: opt.learningRate,
      l2: opt.l2,
      inputNoise: opt.inputNoise,
      seed: opt.seed,
      trainWindows: t.trainWindows,
      finalLoss: round(t.finalLoss),
      parityMaxError,
      ...(o.training ?? {}),
    },
    ...(o.validation
      ? {
          metrics: {
            validation: {
              protocol: o.validation.protocol,
              units: o.validation.units,
              rmse: round(o.validation.rmse),
              nasaScore: round(o.validation.nasaScore),
              coverageP10P90: round(o.validation.coverage),
              meanIntervalWidth: round(o.validation.meanIntervalWidth),
            },
          },
        }
      : {}),
  };
  return { onnx, manifest: checkedManifest(manifest, 'exported RUL manifest'), parityMaxError };
}

/** Largest |a - b| / max(1, |a|): absolute below one cycle, relative above. */
export function relativeParity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
  return worst;
}

function round(x: number): number {
  return roundTo(x, 4);
}
