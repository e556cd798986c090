/**
 * ONNX export of TensorFlow.js layers models, written over the ONNX protobuf schema (models/onnx/onnx-proto.ts).
 *
 * Supported: linear chains (tf.sequential, or tf.model whose layers form one chain) with a 2-D input
 * [batch, width] of
 * - Dense (Gemm, or MatMul without bias) with any built-in activation,
 * - Activation, ReLU (with maxValue), LeakyReLU, ELU, Softmax layers,
 * - BatchNormalization (inference form, folded into one Mul and one Add),
 * - Dropout, AlphaDropout, GaussianDropout, GaussianNoise (identity at inference).
 * Activations: linear, relu, relu6, elu, selu, sigmoid, hardSigmoid, tanh, softmax, logSoftmax, softplus,
 * softsign, swish, mish, gelu, gelu_new. Anything else throws EL_ERR_EXPORT_UNSUPPORTED naming the layer.
 *
 * Options fold the input normalisation (x - mean) / std into the graph (so the model takes raw values) and can
 * append a reconstruction-MSE head: the per-row mean squared error between the normalised input and the model's
 * output, so an autoencoder's ONNX output is directly its anomaly score [batch, 1]. The batch dimension is dynamic.
 */
import type * as tf from '@tensorflow/tfjs';
import { EdgeloopError } from '../../protocol/errors.ts';
import { GraphBuilder, floatTensorInfo } from './graph-builder.ts';

export interface ExportTfjsOptions {
  /** ONNX input name; default "input" */
  inputName?: string;
  /** ONNX output name; default "score" with the MSE head, "output" without */
  outputName?: string;
  /**
   * Input normalisation folded into the graph: x' = (x - mean) / std. `mean` and `std` have one entry per input
   * column, or one entry per sensor when the width is a multiple of their length (window rows are row-major:
   * time, then sensor, so the constants are tiled over the window).
   */
  normalization?: { mean: number[]; std: number[] };
  /** 'reconstruction-mse' appends mean((output - x')^2) per row → [batch, 1]; default 'none' */
  head?: 'none' | 'reconstruction-mse';
  /** default-domain opset, 13..21; default 13 */
  opset?: number;
  /** graph name; default the model's name */
  graphName?: string;
  /** free-form key/value pairs stored in the ONNX metadata_props */
  metadata?: Record<string, string>;
  /** ONNX doc_string */
  docString?: string;
}

const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;
const EXPORTER_VERSION = '1';
const OPTION_KEYS = new Set([
  'inputName',
  'outputName',
  'normalization',
  'head',
  'opset',
  'graphName',
  'metadata',
  'docString',
]);

export function exportTfjsToOnnx(model: tf.LayersModel | tf.Sequential, opts: ExportTfjsOptions = {}): Uint8Array {
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.has(k)) throw invalid(`unknown exporter option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const opset = opts.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21)
    throw invalid(`opset must be an integer in 13..21, got ${opset}`);
  const head = opts.head ?? 'none';
  if (head !== 'none' && head !== 'reconstruction-mse')
    throw invalid(`head must be "none" or "reconstruction-mse", got "${String(head)}"`);
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? (head === 'none' ? 'output' : 'score');
  if (!inputName || !outputName || inputName === outputName)
    throw invalid('inputName and outputName must be two different non-empty names');

  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw unsupported(
      `model "${model.name}" has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only one of each is supported`,
    );
  }
  const inShape = model.inputs[0]!.shape;
  const width = inShape[1];
  if (inShape.length !== 2 || typeof width !== 'number') {
    throw unsupported(
      `model input shape [${inShape.map(String).join(', ')}] is not [batch, width]; only 2-D inputs are supported`,
    );
  }

  const g = new GraphBuilder();
  g.reserve(inputName);
  let x = inputName;

  if (opts.normalization) {
    const { mean, std } = opts.normalization;
    if (mean.length !== std.length || mean.length === 0 || width % mean.length !== 0) {
      throw invalid(
        `normalization has ${mean.length} mean and ${std.length} std entries; need the same count, dividing the input width ${width}`,
      );
    }
    std.forEach((s, i) => {
      if (!(Number.isFinite(s) && s > 0))
        throw invalid(`normalization.std[${i}] must be a finite number > 0, got ${s}`);
      if (!Number.isFinite(mean[i]!)) throw invalid(`normalization.mean[${i}] must be finite, got ${mean[i]}`);
    });
    const reps = width / mean.length;
    const m = g.floatConst('norm_mean', tile(mean, reps), [width]);
    // Division (not multiplication by 1/std) so the graph computes exactly what tfjs computes on (x - mean) / std.
    const s = g.floatConst('norm_std', tile(std, reps), [width]);
    x = g.op('Div', [g.op('Sub', [x, m]), s]);
  }
  const normalized = x;

  let prevName: string | undefined;
  let curWidth = width;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') {
      prevName = layer.name;
      continue;
    }
    const inbound = (layer as unknown as { inboundNodes: Array<{ inboundLayers: Array<{ name: string }> }> })
      .inboundNodes;
    if (inbound.length !== 1)
      throw unsupported(`layer "${layer.name}" is used ${inbound.length} times; only simple chains are supported`);
    const from = inbound[0]!.inboundLayers;
    if (from.length !== 1 || (prevName !== undefined && from[0]!.name !== prevName)) {
      throw unsupported(
        `layer "${layer.name}" (${cls}) does not follow the previous layer in a single chain; only linear models are supported`,
      );
    }
    prevName = layer.name;
    const outShape = layer.outputShape as Array<number | null>;
    if (!Array.isArray(outShape) || outShape.length !== 2 || typeof outShape[1] !== 'number') {
      throw unsupported(
        `layer "${layer.name}" (${cls}) outputs shape ${JSON.stringify(outShape)}; only 2-D [batch, n] tensors are supported`,
      );
    }
    const cfg = layer.getConfig() as Record<string, unknown>;
    switch (cls) {
      case 'Dense': {
        const weights = layer.getWeights();
        const units = cfg.units as number;
        const kernel = weights[0]!.dataSync();
        const w = g.floatConst(`${layer.name}_kernel`, kernel, [curWidth, units]);
        if (cfg.useBias !== false && weights[1]) {
          const b = g.floatConst(`${layer.name}_bias`, weights[1].dataSync(), [units]);
          x = g.op('Gemm', [x, w, b]);
        } else {
          x = g.op('MatMul', [x, w]);
        }
        x = activation(g, x, serializedActivation(cfg.activation), layer.name);
        curWidth = units;
        break;
      }
      case 'Activation':
        x = activation(g, x, serializedActivation(cfg.activation), layer.name);
        break;
      case 'ReLU': {
        const max = cfg.maxValue as number | null | undefined;
        x =
          max == null
            ? g.op('Relu', [x])
            : g.op('Clip', [x, g.floatConst('zero', [0], []), g.floatConst('max', [max], [])]);
        break;
      }
      case 'LeakyReLU':
        x = g.op('LeakyRelu', [x], { alpha: { float: (cfg.alpha as number | undefined) ?? 0.3 } });
        break;
      case 'ELU':
        x = g.op('Elu', [x], { alpha: { float: (cfg.alpha as number | undefined) ?? 1 } });
        break;
      case 'Softmax': {
        const axis = (cfg.axis as number | number[] | undefined) ?? -1;
        const a = Array.isArray(axis) ? axis : [axis];
        if (a.length !== 1 || (a[0] !== -1 && a[0] !== 1))
          throw unsupported(
            `Softmax layer "${layer.name}" over axis ${JSON.stringify(axis)}; only the last axis is supported`,
          );
        x = g.op('Softmax', [x], { axis: -1 });
        break;
      }
      case 'BatchNormalization': {
        const axis = cfg.axis as number;
        if (axis !== -1 && axis !== 1)
          throw unsupported(
            `BatchNormalization layer "${layer.name}" over axis ${axis}; only the last axis is supported`,
          );
        const eps = (cfg.epsilon as number | undefined) ?? 1e-3;
        const ws = layer.getWeights();
        let i = 0;
        const gamma = cfg.scale !== false ? ws[i++]!.dataSync() : undefined;
        const beta = cfg.center !== false ? ws[i++]!.dataSync() : undefined;
        const mean = ws[i++]!.dataSync();
        const variance = ws[i++]!.dataSync();
        const mul = new Float32Array(curWidth);
        const add = new Float32Array(curWidth);
        for (let j = 0; j < curWidth; j++) {
          mul[j] = (gamma ? gamma[j]! : 1) / Math.sqrt(variance[j]! + eps);
          add[j] = (beta ? beta[j]! : 0) - mean[j]! * mul[j]!;
        }
        x = g.op('Add', [
          g.op('Mul', [x, g.floatConst(`${layer.name}_scale`, mul, [curWidth])]),
          g.floatConst(`${layer.name}_shift`, add, [curWidth]),
        ]);
        break;
      }
      case 'Dropout':
      case 'AlphaDropout':
      case 'GaussianDropout':
      case 'GaussianNoise':
        break; // identity at inference
      default:
        throw unsupported(
          `layer "${layer.name}" of type ${cls} is not supported by the ONNX exporter (supported: Dense, Activation, ReLU, LeakyReLU, ELU, Softmax, BatchNormalization, Dropout)`,
        );
    }
    if (outShape[1] !== curWidth)
      throw unsupported(
        `layer "${layer.name}" changes the width to ${outShape[1]} in a way the exporter does not model`,
      );
  }

  let outWidth = curWidth;
  if (head === 'reconstruction-mse') {
    if (curWidth !== width) {
      throw invalid(
        `head "reconstruction-mse" needs the model output width (${curWidth}) to equal its input width (${width})`,
      );
    }
    const diff = g.op('Sub', [x, normalized]);
    const sq = g.op('Mul', [diff, diff]);
    x =
      opset >= 18
        ? g.op('ReduceMean', [sq, g.int64Const('axes', [1])], { keepdims: 1 })
        : g.op('ReduceMean', [sq], { axes: [1], keepdims: 1 });
    outWidth = 1;
  }
  g.bindOutput(x, outputName);

  return g.encode({
    opset,
    graphName: opts.graphName ?? model.name,
    inputs: [floatTensorInfo(inputName, ['batch', width])],
    outputs: [floatTensorInfo(outputName, ['batch', outWidth])],
    producerVersion: EXPORTER_VERSION,
    ...(opts.docString ? { docString: opts.docString } : {}),
    metadata: {
      ...(opts.metadata ?? {}),
      'edgeloop.head': head,
      'edgeloop.normalization': opts.normalization ? 'folded' : 'none',
    },
  });
}

function serializedActivation(a: unknown): string {
  if (a == null) return 'linear';
  if (typeof a === 'string') return a;
  const name = (a as { className?: unknown }).className;
  return typeof name === 'string' ? name : String(a);
}

function activation(g: GraphBuilder, x: string, name: string, layer: string): string {
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return g.op('Relu', [x]);
    case 'relu6':
      return g.op('Clip', [x, g.floatConst('zero', [0], []), g.floatConst('six', [6], [])]);
    case 'elu':
      return g.op('Elu', [x], { alpha: { float: 1 } });
    case 'selu':
      return g.op('Selu', [x], { alpha: { float: SELU_ALPHA }, gamma: { float: SELU_SCALE } });
    case 'sigmoid':
      return g.op('Sigmoid', [x]);
    case 'hardSigmoid':
      return g.op('HardSigmoid', [x], { alpha: { float: 0.2 }, beta: { float: 0.5 } });
    case 'tanh':
      return g.op('Tanh', [x]);
    case 'softmax':
      return g.op('Softmax', [x], { axis: -1 });
    case 'logSoftmax':
      return g.op('LogSoftmax', [x], { axis: -1 });
    case 'softplus':
      return g.op('Softplus', [x]);
    case 'softsign':
      return g.op('Softsign', [x]);
    case 'swish':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'mish':
      return g.op('Mul', [x, g.op('Tanh', [g.op('Softplus', [x])])]);
    case 'gelu': {
      // x * 0.5 * (1 + erf(x / sqrt(2))), as tfjs computes it
      const erf = g.op('Erf', [g.op('Div', [x, g.floatConst('sqrt2', [Math.SQRT2], [])])]);
      const cdf = g.op('Mul', [g.floatConst('half', [0.5], []), g.op('Add', [g.floatConst('one', [1], []), erf])]);
      return g.op('Mul', [x, cdf]);
    }
    case 'gelu_new': {
      // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
      const cube = g.op('Mul', [x, g.op('Mul', [x, x])]);
      const inner = g.op('Add', [x, g.op('Mul', [g.floatConst('c', [0.044715], []), cube])]);
      const t = g.op('Tanh', [g.op('Mul', [g.floatConst('k', [Math.sqrt(2 / Math.PI)], []), inner])]);
      const half = g.op('Mul', [g.floatConst('half', [0.5], []), x]);
      return g.op('Mul', [half, g.op('Add', [g.floatConst('one', [1], []), t])]);
    }
    default:
      throw unsupported(`activation "${name}" of layer "${layer}" is not supported by the ONNX exporter`);
  }
}

function tile(values: number[], reps: number): Float32Array {
  const out = new Float32Array(values.length * reps);
  for (let r = 0; r < reps; r++) out.set(values, r * values.length);
  return out;
}

function unsupported(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_EXPORT_UNSUPPORTED', message);
}

function invalid(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', message);
}
