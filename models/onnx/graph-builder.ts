/**
 * GraphBuilder: collects ONNX nodes and initializers with unique names and produces an OnnxModel. Pure (no I/O).
 */
import { ONNX_ATTR, ONNX_DTYPE, encodeModel } from './onnx-proto.ts';
import type { OnnxAttribute, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto.ts';

export type AttrValue = number | number[] | { float: number } | { floats: number[] } | string;

/** ONNX IR version that goes with each default-domain opset (onnx/docs/Versioning.md). */
export function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export class GraphBuilder {
  readonly #nodes: OnnxNode[] = [];
  readonly #inits: OnnxTensor[] = [];
  readonly #names = new Set<string>();
  #counter = 0;

  /** Reserve a name (graph inputs) so nothing else takes it. */
  reserve(name: string): string {
    if (this.#names.has(name)) throw new Error(`internal: tensor name "${name}" used twice`);
    this.#names.add(name);
    return name;
  }

  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.#counter++}`;
    while (this.#names.has(name));
    this.#names.add(name);
    return name;
  }

  /** A float32 initializer (weights, constants). `dims` [] is a scalar. */
  floatConst(prefix: string, values: ArrayLike<number>, dims: number[]): string {
    const name = this.fresh(prefix);
    const data = Float32Array.from(values as ArrayLike<number>);
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected)
      throw new Error(`internal: constant ${name} has ${data.length} values for dims [${dims}]`);
    this.#inits.push({ name, dataType: ONNX_DTYPE.FLOAT, dims, rawData: toLittleEndianBytes(data) });
    return name;
  }

  int64Const(prefix: string, values: number[]): string {
    const name = this.fresh(prefix);
    const buf = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((v, i) => buf.setBigInt64(i * 8, BigInt(v), true));
    this.#inits.push({ name, dataType: ONNX_DTYPE.INT64, dims: [values.length], rawData: new Uint8Array(buf.buffer) });
    return name;
  }

  /** Add a node; returns its (single) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const out = this.fresh(opType.toLowerCase());
    const attribute: OnnxAttribute[] = Object.entries(attrs).map(([name, v]) => toAttr(name, v));
    this.#nodes.push({
      name: `${out}_node`,
      opType,
      input: inputs,
      output: [out],
      ...(attribute.length ? { attribute } : {}),
    });
    return out;
  }

  /**
   * Make `tensor` available under `name` (the graph output): renames the producing node's output when there is
   * one, otherwise adds an Identity.
   */
  bindOutput(tensor: string, name: string): void {
    const producer = this.#nodes.find((n) => n.output[0] === tensor);
    if (producer && !this.#names.has(name)) {
      producer.output[0] = name;
      for (const n of this.#nodes) n.input = n.input.map((i) => (i === tensor ? name : i));
      this.#names.add(name);
      return;
    }
    this.reserve(name);
    this.#nodes.push({ name: `${name}_identity`, opType: 'Identity', input: [tensor], output: [name] });
  }

  encode(opts: {
    opset: number;
    graphName: string;
    inputs: OnnxValueInfo[];
    outputs: OnnxValueInfo[];
    producerVersion: string;
    docString?: string;
    metadata?: Record<string, string>;
  }): Uint8Array {
    const metadataProps = Object.entries(opts.metadata ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value }));
    return encodeModel({
      irVersion: irVersionFor(opts.opset),
      opsetImport: [{ domain: '', version: opts.opset }],
      producerName: 'edgeloop',
      producerVersion: opts.producerVersion,
      ...(opts.docString ? { docString: opts.docString } : {}),
      graph: {
        name: opts.graphName,
        node: this.#nodes,
        initializer: this.#inits,
        input: opts.inputs,
        output: opts.outputs,
      },
      ...(metadataProps.length ? { metadataProps } : {}),
    });
  }
}

export function floatTensorInfo(name: string, dims: Array<number | string>): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function toAttr(name: string, v: AttrValue): OnnxAttribute {
  if (typeof v === 'string') return { name, type: ONNX_ATTR.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`internal: attribute ${name} must be an integer, use { float }`);
    return { name, type: ONNX_ATTR.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: ONNX_ATTR.INTS, ints: v };
  if ('float' in v) return { name, type: ONNX_ATTR.FLOAT, f: v.float };
  return { name, type: ONNX_ATTR.FLOATS, floats: v.floats };
}

function toLittleEndianBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}
