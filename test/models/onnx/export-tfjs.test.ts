import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeModel } from '../../../models/onnx/onnx-proto.ts';
import { exportTfjsToOnnx } from '../../../models/onnx/export-tfjs.ts';
import type { ExportTfjsOptions } from '../../../models/onnx/export-tfjs.ts';
import { loadTf } from '../../../models/training/load-tf.ts';
import type { Tf } from '../../../models/training/load-tf.ts';
import { Prng } from '../../../lib/prng.ts';

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

function randomRows(rows: number, width: number, seed: number, scale = 2): Float32Array {
  const p = new Prng(seed);
  return Float32Array.from({ length: rows * width }, () => (p.next() * 2 - 1) * scale);
}

async function runOnnx(
  bytes: Uint8Array,
  input: Float32Array,
  rows: number,
  inputName = 'input',
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', input, [rows, input.length / rows]) });
    const t = out[session.outputNames[0]!]!;
    return { data: t.data as Float32Array, dims: t.dims };
  } finally {
    await session.release();
  }
}

function expectClose(onnx: Float32Array, ref: Float32Array, tol = 1e-5): void {
  expect(onnx.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(onnx[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!));
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

/** tfjs reference: the model on (x - mean)/std, optionally followed by the per-row MSE against that input */
function tfReference(
  model: import('@tensorflow/tfjs').LayersModel,
  input: Float32Array,
  rows: number,
  opts: ExportTfjsOptions,
): Float32Array {
  return tf.tidy(() => {
    const width = input.length / rows;
    let x = tf.tensor2d(input, [rows, width]);
    if (opts.normalization) {
      const reps = width / opts.normalization.mean.length;
      const tileArr = (v: number[]) => Array.from({ length: reps }, () => v).flat();
      x = x.sub(tf.tensor1d(tileArr(opts.normalization.mean))).div(tf.tensor1d(tileArr(opts.normalization.std)));
    }
    const y = model.predict(x) as import('@tensorflow/tfjs').Tensor2D;
    if (opts.head === 'reconstruction-mse') return y.sub(x).square().mean(1, true).dataSync() as Float32Array;
    return y.dataSync() as Float32Array;
  });
}

async function parity(
  model: import('@tensorflow/tfjs').LayersModel,
  opts: ExportTfjsOptions = {},
  rows = 33,
): Promise<Uint8Array> {
  const width = model.inputs[0]!.shape[1] as number;
  const input = randomRows(rows, width, 7);
  const bytes = exportTfjsToOnnx(model, opts);
  const ref = tfReference(model, input, rows, opts);
  const got = await runOnnx(bytes, input, rows, opts.inputName);
  expect(got.dims[0]).toBe(rows);
  expectClose(got.data, ref);
  // the batch dimension is dynamic: a single row gives the same first row
  const one = await runOnnx(bytes, input.subarray(0, width), 1, opts.inputName);
  expectClose(one.data, ref.subarray(0, one.data.length));
  return bytes;
}

const init = (seed: number) => ({
  kernelInitializer: tf.initializers.glorotUniform({ seed }),
  biasInitializer: tf.initializers.randomNormal({ seed: seed + 1, stddev: 0.3 }),
});

describe('exportTfjsToOnnx parity with tfjs (1e-5)', () => {
  it('dense stack with relu, tanh, sigmoid, softmax', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu', ...init(1) }),
        tf.layers.dense({ units: 10, activation: 'tanh', ...init(2) }),
        tf.layers.dense({ units: 8, activation: 'sigmoid', ...init(3) }),
        tf.layers.dense({ units: 5, activation: 'softmax', ...init(4) }),
      ],
    });
    await parity(m);
  });

  it.each([
    'linear',
    'relu',
    'relu6',
    'elu',
    'selu',
    'sigmoid',
    'hardSigmoid',
    'tanh',
    'softmax',
    'logSoftmax',
    'softplus',
    'softsign',
    'swish',
    'mish',
    'gelu',
    'gelu_new',
  ] as const)('activation %s (as Dense activation and as Activation layer)', async (act) => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 9, activation: act as 'relu', ...init(11) }),
        tf.layers.dense({ units: 7, ...init(12) }),
        tf.layers.activation({ activation: act as 'relu' }),
      ],
    });
    await parity(m);
  });

  it('activation layers, dropout, batch normalisation, dense without bias', async () => {
    const bn = tf.layers.batchNormalization({ epsilon: 1e-3 });
    const m = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [10],
          units: 12,
          useBias: false,
          kernelInitializer: tf.initializers.glorotUniform({ seed: 21 }),
        }),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.dropout({ rate: 0.5 }),
        bn,
        tf.layers.dense({ units: 8, ...init(22) }),
        tf.layers.elu(),
        tf.layers.reLU({ maxValue: 0.8 }),
        tf.layers.dense({ units: 4, ...init(23) }),
        tf.layers.softmax(),
      ],
    });
    const p = new Prng(5);
    const vec = (f: () => number) => tf.tensor1d(Array.from({ length: 12 }, f));
    bn.setWeights([
      vec(() => 0.5 + p.next()),
      vec(() => p.next() - 0.5),
      vec(() => p.next() - 0.5),
      vec(() => 0.2 + p.next()),
    ]);
    await parity(m);
  });

  it('functional model with a linear chain', async () => {
    const input = tf.input({ shape: [5] });
    const h = tf.layers
      .dense({ units: 6, activation: 'relu', ...init(31) })
      .apply(input) as import('@tensorflow/tfjs').SymbolicTensor;
    const out = tf.layers
      .dense({ units: 3, activation: 'sigmoid', ...init(32) })
      .apply(h) as import('@tensorflow/tfjs').SymbolicTensor;
    await parity(tf.model({ inputs: input, outputs: out }));
  });

  it('folds per-column and per-sensor (tiled) normalisation into the graph', async () => {
    const m = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [12], units: 4, activation: 'tanh', ...init(41) })],
    });
    await parity(m, {
      normalization: {
        mean: Array.from({ length: 12 }, (_, i) => i - 3),
        std: Array.from({ length: 12 }, (_, i) => 0.5 + i / 4),
      },
    });
    // 4 windows x 3 sensors: constants tiled over the window
    await parity(m, { normalization: { mean: [10, -2, 0.5], std: [3, 0.1, 2] }, inputName: 'x', outputName: 'y' });
  });

  it.each([13, 18])('autoencoder with the reconstruction-mse head (opset %i) outputs [batch, 1]', async (opset) => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [16], units: 8, activation: 'relu', ...init(51) }),
        tf.layers.dense({ units: 3, activation: 'linear', ...init(52) }),
        tf.layers.dense({ units: 8, activation: 'relu', ...init(53) }),
        tf.layers.dense({ units: 16, ...init(54) }),
      ],
    });
    const opts: ExportTfjsOptions = {
      head: 'reconstruction-mse',
      opset,
      normalization: { mean: [1, 2, 3, 4], std: [1, 0.5, 2, 4] },
    };
    const bytes = await parity(m, opts);
    const session = await ort.InferenceSession.create(bytes);
    try {
      expect(session.inputNames).toEqual(['input']);
      expect(session.outputNames).toEqual(['score']);
      const out = await session.run({ input: new ort.Tensor('float32', randomRows(3, 16, 9), [3, 16]) });
      expect(out.score!.dims).toEqual([3, 1]);
    } finally {
      await session.release();
    }
    const decoded = decodeModel(bytes);
    expect(decoded.opsetImport[0]!.version).toBe(opset);
    expect(decoded.graph.input[0]!.type.tensorType.shape.dim[0]!.dimParam).toBe('batch');
  });
});

describe('exportTfjsToOnnx output and refusals', () => {
  it('is deterministic: the same model gives the same bytes', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, ...init(61) })] });
    const a = exportTfjsToOnnx(m, { metadata: { b: '2', a: '1' } });
    const b = exportTfjsToOnnx(m, { metadata: { a: '1', b: '2' } });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(decodeModel(a).metadataProps?.map((p) => p.key)).toEqual([
      'a',
      'b',
      'edgeloop.head',
      'edgeloop.normalization',
    ]);
  });

  it('refuses unsupported layers, branching models and bad options with a clear error', () => {
    const conv = tf.sequential({
      layers: [tf.layers.conv1d({ inputShape: [8, 2], filters: 2, kernelSize: 3 }), tf.layers.flatten()],
    });
    expect(() => exportTfjsToOnnx(conv)).toThrow(
      expect.objectContaining({ code: 'EL_ERR_EXPORT_UNSUPPORTED', message: expect.stringMatching(/input shape/) }),
    );

    const a = tf.input({ shape: [4] });
    const l = tf.layers.dense({ units: 4 }).apply(a) as import('@tensorflow/tfjs').SymbolicTensor;
    const sum = tf.layers.add().apply([a, l]) as import('@tensorflow/tfjs').SymbolicTensor;
    expect(() => exportTfjsToOnnx(tf.model({ inputs: a, outputs: sum }))).toThrow(
      expect.objectContaining({ code: 'EL_ERR_EXPORT_UNSUPPORTED' }),
    );

    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    expect(() => exportTfjsToOnnx(m, { head: 'reconstruction-mse' })).toThrow(
      /output width \(2\) to equal its input width \(4\)/,
    );
    expect(() => exportTfjsToOnnx(m, { normalization: { mean: [0, 0, 0], std: [1, 1, 1] } })).toThrow(
      /dividing the input width 4/,
    );
    expect(() => exportTfjsToOnnx(m, { normalization: { mean: [0, 0], std: [1, 0] } })).toThrow(
      /std\[1\] must be a finite number > 0/,
    );
    expect(() => exportTfjsToOnnx(m, { opset: 11 })).toThrow(/opset must be an integer in 13..21/);
    expect(() => exportTfjsToOnnx(m, { inputname: 'x' } as never)).toThrow(/unknown exporter option "inputname"/);

    const prelu = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 }), tf.layers.prelu()] });
    expect(() => exportTfjsToOnnx(prelu)).toThrow(/PReLU is not supported/);
  });
});
