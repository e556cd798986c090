/**
 * onnxruntime-node adapter. One InferenceSession per model; intraOpNumThreads 1 by default (on 2 cores it is as
 * fast for small models and starts a session in ~1 ms instead of ~28 ms). `session.run()` occupies the event loop
 * while it runs, so callers batch windows into one call.
 */
import * as ort from 'onnxruntime-node';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { inputWidth } from '../../protocol/manifest.ts';
import type { ModelOutput, ModelRunner } from './model-runner.ts';

export interface OrtRunnerOptions {
  /** path of the .onnx file, or its bytes */
  model: string | Uint8Array;
  inputName?: string;
  outputName?: string;
  intraOpNumThreads?: number;
}

export class OrtModelRunner implements ModelRunner {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputWidth: number | undefined;
  #session: ort.InferenceSession | undefined;

  private constructor(session: ort.InferenceSession, inputName: string, outputName: string) {
    this.#session = session;
    this.inputName = inputName;
    this.outputName = outputName;
    const meta = (session as unknown as { inputMetadata?: Array<{ name: string; shape?: Array<number | string> }> })
      .inputMetadata;
    const shape = Array.isArray(meta) ? meta.find((m) => m.name === inputName)?.shape : undefined;
    const last = shape?.[shape.length - 1];
    this.inputWidth = typeof last === 'number' ? last : undefined;
  }

  static async create(opts: OrtRunnerOptions): Promise<OrtModelRunner> {
    let session: ort.InferenceSession;
    const so: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    try {
      session =
        typeof opts.model === 'string'
          ? await ort.InferenceSession.create(opts.model, so)
          : await ort.InferenceSession.create(opts.model, so);
    } catch (cause) {
      const where = typeof opts.model === 'string' ? opts.model : `${opts.model.byteLength} bytes`;
      throw new EdgeloopError(
        'EL_ERR_MODEL_LOAD',
        `ONNX Runtime cannot load the model (${where}): ${(cause as Error).message}`,
        { cause },
      );
    }
    const inputName = opts.inputName ?? session.inputNames[0]!;
    const outputName = opts.outputName ?? session.outputNames[0]!;
    if (!session.inputNames.includes(inputName)) {
      await session.release();
      throw new EdgeloopError(
        'EL_ERR_MODEL_LOAD',
        `model has no input "${inputName}" (has ${session.inputNames.join(', ')})`,
      );
    }
    if (!session.outputNames.includes(outputName)) {
      await session.release();
      throw new EdgeloopError(
        'EL_ERR_MODEL_LOAD',
        `model has no output "${outputName}" (has ${session.outputNames.join(', ')})`,
      );
    }
    return new OrtModelRunner(session, inputName, outputName);
  }

  /** Load the model a manifest describes (the file path is resolved by the caller). */
  static async forManifest(
    file: string | Uint8Array,
    manifest: Manifest,
    intraOpNumThreads = 1,
  ): Promise<OrtModelRunner> {
    return OrtModelRunner.create({
      model: file,
      inputName: manifest.inputs.name,
      outputName: manifest.output.name,
      intraOpNumThreads,
    });
  }

  async run(input: Float32Array, rows: number): Promise<ModelOutput> {
    const session = this.#session;
    if (!session) throw new EdgeloopError('EL_ERR_CLOSED', 'model runner is closed');
    if (rows <= 0 || input.length % rows !== 0) {
      throw new EdgeloopError('EL_ERR_MODEL_INPUT', `input of ${input.length} values does not split into ${rows} rows`);
    }
    const width = input.length / rows;
    if (this.inputWidth !== undefined && width !== this.inputWidth) {
      throw new EdgeloopError(
        'EL_ERR_MODEL_INPUT',
        `input rows have ${width} values, the model takes ${this.inputWidth}`,
      );
    }
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, [rows, width]) };
    const out = await session.run(feeds, [this.outputName]);
    const t = out[this.outputName]!;
    const data = t.data as Float32Array;
    return { data, rows, width: rows > 0 ? data.length / rows : 0 };
  }

  async close(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    await s?.release();
  }
}

/**
 * Run a manifest's test vector in the given runner; throws EL_ERR_MODEL_TEST_VECTOR naming the worst element.
 */
export async function checkTestVector(runner: ModelRunner, manifest: Manifest): Promise<{ maxError: number }> {
  const tv = manifest.testVector;
  const width = inputWidth(manifest);
  const input = new Float32Array(tv.input.length * width);
  tv.input.forEach((row, i) => input.set(row, i * width));
  let out: ModelOutput;
  try {
    out = await runner.run(input, tv.input.length);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MODEL_TEST_VECTOR', `test vector failed to run: ${(cause as Error).message}`, {
      cause,
    });
  }
  let maxError = 0;
  let where = '';
  for (let i = 0; i < tv.expected.length; i++) {
    const exp = tv.expected[i]!;
    if (exp.length !== out.width) {
      throw new EdgeloopError(
        'EL_ERR_MODEL_TEST_VECTOR',
        `test vector row ${i}: expected ${exp.length} outputs, model gives ${out.width}`,
      );
    }
    for (let j = 0; j < exp.length; j++) {
      const got = out.data[i * out.width + j]!;
      const err = Math.abs(got - exp[j]!) / Math.max(1, Math.abs(exp[j]!));
      if (!(err <= maxError)) {
        maxError = Number.isNaN(err) ? Infinity : err;
        where = `row ${i} output ${j}: expected ${exp[j]}, got ${got}`;
      }
    }
  }
  if (maxError > tv.tolerance) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_TEST_VECTOR',
      `test vector mismatch at ${where} (error ${maxError.toExponential(2)} > tolerance ${tv.tolerance})`,
      {
        details: { maxError },
      },
    );
  }
  return { maxError };
}
