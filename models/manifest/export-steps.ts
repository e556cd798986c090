/**
 * The steps every exporter (anomaly, RUL, recommender) takes from an ONNX graph to its unsigned manifest: run the
 * graph in ONNX Runtime on sample rows, check parity with the training runtime, cut the test vector from the first
 * rows, and start the manifest with its identifying fields. Signing and writing stay in sign-manifest.ts and
 * model-dir.ts; the model-specific fields (inputs, output, threshold, training facts) stay in each exporter.
 *
 * Field order matters: manifest.json is written as the object is built, so `manifestHead` gives the first six
 * fields in the order every shipped manifest has them (schema, name, version, kind, createdAt, artifact).
 */
import { EdgeloopError, type ErrorCode } from '../../protocol/errors.ts';
import { MANIFEST_SCHEMA, type ManifestInput, parseManifest } from '../../protocol/manifest.ts';
import { OrtModelRunner } from '../runtime/ort-model-runner.ts';
import { describeArtifact } from './model-dir.ts';

/** Output `outputName` of `onnx` for `rows` rows of `sample`, from a fresh ONNX Runtime session (closed after). */
export async function runOnnx(
  onnx: Uint8Array,
  inputName: string,
  outputName: string,
  sample: Float32Array,
  rows: number,
): Promise<Float32Array> {
  const runner = await OrtModelRunner.create({ model: onnx, inputName, outputName });
  try {
    return (await runner.run(sample, rows)).data;
  } finally {
    await runner.close();
  }
}

/**
 * Throw `code` when the ONNX graph and the training runtime disagree by more than `tolerance`; `how` says how the
 * error is measured ("relative; ").
 */
export function assertParity(maxError: number, tolerance: number, code: ErrorCode, what: string, how = ''): void {
  if (!(maxError <= tolerance)) {
    throw new EdgeloopError(
      code,
      `${what} disagrees with TensorFlow.js by ${maxError.toExponential(2)} (${how}tolerance ${tolerance})`,
    );
  }
}

/** The manifest test vector: the first `rows` (at most 4) input rows and the ONNX outputs for them. */
export function testVectorOf(
  input: Float32Array,
  inputWidth: number,
  output: Float32Array,
  outputWidth: number,
  sampleRows: number,
  tolerance: number,
): NonNullable<ManifestInput['testVector']> {
  const rows = Math.min(4, sampleRows);
  return {
    input: Array.from({ length: rows }, (_, i) => Array.from(input.subarray(i * inputWidth, (i + 1) * inputWidth))),
    expected: Array.from({ length: rows }, (_, i) =>
      Array.from(output.subarray(i * outputWidth, (i + 1) * outputWidth)),
    ),
    tolerance,
  };
}

/** What an exporter's caller may set of the identifying fields (an exporter's options carry these). */
export interface ManifestNaming {
  name?: string | undefined;
  /** default 1.0.0 */
  version?: string | undefined;
  /** ISO time; default now */
  createdAt?: string | undefined;
}

/**
 * The identifying fields every manifest starts with, in their written order: `given` over the exporter's default
 * name, for the ONNX bytes `onnx` (written as `file`, default model.onnx).
 */
export function manifestHead(
  given: ManifestNaming,
  defaults: { name: string; kind: ManifestInput['kind'] },
  onnx: Uint8Array,
  file?: string,
): Pick<ManifestInput, 'schema' | 'name' | 'version' | 'kind' | 'createdAt' | 'artifact'> {
  return {
    schema: MANIFEST_SCHEMA,
    name: given.name ?? defaults.name,
    version: given.version ?? '1.0.0',
    kind: defaults.kind,
    createdAt: given.createdAt ?? new Date().toISOString(),
    artifact: describeArtifact(onnx, file),
  };
}

/** A shipped model's creation time: the given one, else SOURCE_DATE_EPOCH (reproducible builds), else `fallback`. */
export function buildCreatedAt(given: string | undefined, fallback: string): string {
  if (given !== undefined) return given;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch ? new Date(Number(epoch) * 1000).toISOString() : fallback;
}

/** The manifest as built, after checking it against the schema (EL_ERR_MODEL_MANIFEST_INVALID names `what`). */
export function checkedManifest<M extends ManifestInput>(manifest: M, what: string): M {
  parseManifest(manifest, what);
  return manifest;
}

/** `x` rounded to `digits` decimals, for figures recorded in a manifest. */
export function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
