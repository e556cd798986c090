/**
 * Puts the recommender's feature engineering (features.ts DERIVED_FEATURES) inside the ONNX graph: takes a model
 * exported by models/onnx/export-tfjs.ts whose input is the engineered row [batch, MODEL_FEATURES.length], and
 * returns a model whose input is the raw row [batch, RAW_FEATURES.length] under the same input name. The added
 * nodes are Gather (one column), Sub, Mul, Add, MatMul (weighted sums), Min, Max, Clip and one Concat: opset 13;
 * an exact float64 comparison (`exactDiffBelow`) adds Cast, Mul, Round, Div, Sub and Less in double and a Where.
 * Shared sub-expressions are compiled once per use (a few extra elementwise nodes; the graph stays tiny). Pure.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { ONNX_ATTR, ONNX_DTYPE, decodeModel, encodeModel } from '../onnx/onnx-proto.ts';
import type { OnnxNode, OnnxTensor } from '../onnx/onnx-proto.ts';
import { DERIVED_FEATURES, MODEL_FEATURES, RAW_FEATURES, READING_DECIMALS, rawIndex } from './features.ts';
import type { FeatureExpr, RawFeature } from './features.ts';

export function prependFeatureGraph(onnx: Uint8Array, inputName: string): Uint8Array {
  const model = decodeModel(onnx);
  const g = model.graph;
  const input = g.input.find((i) => i.name === inputName);
  if (!input) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `model has no input "${inputName}"`);
  const dims = input.type.tensorType.shape.dim;
  if (dims.length !== 2 || Number(dims[1]?.dimValue) !== MODEL_FEATURES.length) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `model input "${inputName}" must be [batch, ${MODEL_FEATURES.length}] (the engineered features)`,
    );
  }
  const names = new Set<string>([
    ...g.node.flatMap((n) => [...n.input, ...n.output]),
    ...g.initializer.map((t) => t.name),
  ]);
  let counter = 0;
  const fresh = (p: string): string => {
    let n: string;
    do n = `fe_${p}_${counter++}`;
    while (names.has(n));
    names.add(n);
    return n;
  };
  const engineered = fresh('engineered');
  // Everything that read the input now reads the engineered row.
  for (const n of g.node) n.input = n.input.map((i) => (i === inputName ? engineered : i));

  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const op = (opType: string, inputs: string[], attrs: OnnxNode['attribute'] = undefined): string => {
    const out = fresh(opType.toLowerCase());
    nodes.push({ name: `${out}_node`, opType, input: inputs, output: [out], ...(attrs ? { attribute: attrs } : {}) });
    return out;
  };
  const floatConst = (values: number[], d: number[]): string => {
    const name = fresh('const');
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    inits.push({ name, dataType: ONNX_DTYPE.FLOAT, dims: d, rawData: bytes });
    return name;
  };
  const doubleConst = (value: number): string => {
    const name = fresh('const');
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value, true);
    inits.push({ name, dataType: ONNX_DTYPE.DOUBLE, dims: [], rawData: new Uint8Array(view.buffer) });
    return name;
  };
  const int64Const = (values: number[]): string => {
    const name = fresh('idx');
    const view = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    inits.push({ name, dataType: ONNX_DTYPE.INT64, dims: [values.length], rawData: new Uint8Array(view.buffer) });
    return name;
  };
  const columns = new Map<RawFeature, string>();
  const column = (c: RawFeature): string => {
    let t = columns.get(c);
    if (!t) {
      t = op('Gather', [inputName, int64Const([rawIndex(c)])], [{ name: 'axis', type: ONNX_ATTR.INT, i: 1 }]);
      columns.set(c, t);
    }
    return t;
  };
  // features.ts exactReading: Cast to double, then round to the reading resolution (Round is half to even)
  const scaleT = (): string => doubleConst(10 ** READING_DECIMALS);
  const exactReading = (c: RawFeature): string =>
    op('Div', [
      op('Round', [
        op('Mul', [op('Cast', [column(c)], [{ name: 'to', type: ONNX_ATTR.INT, i: ONNX_DTYPE.DOUBLE }]), scaleT()]),
      ]),
      scaleT(),
    ]);
  const compile = (e: FeatureExpr): string => {
    if ('col' in e) return column(e.col);
    if ('sub' in e) return op('Sub', [compile(e.sub[0]), compile(e.sub[1])]);
    if ('mul' in e) return op('Mul', [compile(e.mul[0]), compile(e.mul[1])]);
    if ('scale' in e) return op('Mul', [compile(e.scale[0]), floatConst([e.scale[1]], [])]);
    if ('offset' in e) return op('Add', [compile(e.offset[0]), floatConst([e.offset[1]], [])]);
    if ('min' in e) return op('Min', [compile(e.min[0]), compile(e.min[1])]);
    if ('max' in e) return op('Max', [compile(e.max[0]), compile(e.max[1])]);
    if ('clip' in e) return op('Clip', [compile(e.clip[0]), floatConst([e.clip[1]], []), floatConst([e.clip[2]], [])]);
    if ('exactDiffBelow' in e) {
      const [a, b, limit] = e.exactDiffBelow;
      const below = op('Less', [op('Sub', [exactReading(a), exactReading(b)]), doubleConst(limit)]);
      return op('Where', [below, floatConst([1], []), floatConst([-1], [])]);
    }
    const w = RAW_FEATURES.map((f) => e.dot[f] ?? 0);
    return op('MatMul', [inputName, floatConst(w, [RAW_FEATURES.length, 1])]);
  };
  const derived = DERIVED_FEATURES.map((d) => compile(d.expr));
  nodes.push({
    name: `${engineered}_node`,
    opType: 'Concat',
    input: [inputName, ...derived],
    output: [engineered],
    attribute: [{ name: 'axis', type: ONNX_ATTR.INT, i: 1 }],
  });

  g.node = [...nodes, ...g.node];
  g.initializer = [...inits, ...g.initializer];
  input.type.tensorType.shape.dim = [dims[0]!, { dimValue: RAW_FEATURES.length }];
  return encodeModel(model);
}

/**
 * Splits the network's last output [batch, modes + 1] into two graph outputs: `outputName` (the mode
 * probabilities, [batch, modes]) and `failureName` (the machine failure probability, [batch, 1]) = the larger of
 * the failure column and the mode columns [implied[0], implied[1]) (modes that always mean a failure). Slice,
 * ReduceMax and Max nodes (opset 13); a caller that fetches only `outputName` sees the same tensor as before.
 */
export function splitFailureOutput(
  onnx: Uint8Array,
  outputName: string,
  failureName: string,
  modes: number,
  implied: readonly [number, number],
): Uint8Array {
  const model = decodeModel(onnx);
  const g = model.graph;
  const out = g.output.find((o) => o.name === outputName);
  const dims = out?.type.tensorType.shape.dim;
  if (!out || !dims || dims.length !== 2 || Number(dims[1]?.dimValue) !== modes + 1) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `model output "${outputName}" must be [batch, ${modes + 1}] (the modes, then machine failure)`,
    );
  }
  const all = `${outputName}_with_failure`;
  for (const n of g.node) n.output = n.output.map((o) => (o === outputName ? all : o));
  const int64 = (name: string, v: number): OnnxTensor => {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigInt64(0, BigInt(v), true);
    return { name, dataType: ONNX_DTYPE.INT64, dims: [1], rawData: new Uint8Array(view.buffer) };
  };
  const p = `${outputName}_split`;
  g.initializer.push(
    int64(`${p}_0`, 0),
    int64(`${p}_k`, modes),
    int64(`${p}_k1`, modes + 1),
    int64(`${p}_i0`, implied[0]),
    int64(`${p}_i1`, implied[1]),
    int64(`${p}_axis`, 1),
  );
  g.node.push(
    { name: `${p}_modes`, opType: 'Slice', input: [all, `${p}_0`, `${p}_k`, `${p}_axis`], output: [outputName] },
    { name: `${p}_head`, opType: 'Slice', input: [all, `${p}_k`, `${p}_k1`, `${p}_axis`], output: [`${p}_head_out`] },
    {
      name: `${p}_implied`,
      opType: 'Slice',
      input: [all, `${p}_i0`, `${p}_i1`, `${p}_axis`],
      output: [`${p}_implied_out`],
    },
    {
      name: `${p}_implied_max`,
      opType: 'ReduceMax',
      input: [`${p}_implied_out`],
      output: [`${p}_implied_max_out`],
      attribute: [
        { name: 'axes', type: ONNX_ATTR.INTS, ints: [1] },
        { name: 'keepdims', type: ONNX_ATTR.INT, i: 1 },
      ],
    },
    { name: `${p}_failure`, opType: 'Max', input: [`${p}_head_out`, `${p}_implied_max_out`], output: [failureName] },
  );
  out.type.tensorType.shape.dim = [dims[0]!, { dimValue: modes }];
  g.output.push({
    name: failureName,
    type: { tensorType: { elemType: out.type.tensorType.elemType, shape: { dim: [dims[0]!, { dimValue: 1 }] } } },
  });
  return encodeModel(model);
}
