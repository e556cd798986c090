/**
 * Features of the AI4I maintenance recommender, shared by training and serving. Pure.
 *
 * The model takes RAW features (what a milling machine or its MES reports, and what the recommendation service
 * looks up in the feature store, in this order). The engineered features that physics suggests are declared here
 * once as small expressions over the raw ones: `engineerFeatures()` evaluates them in JavaScript for training,
 * and `models/recommender/feature-graph.ts` compiles the same expressions into ONNX nodes placed in front of the
 * network, so the served model computes them itself and a caller never needs this file.
 */

/** Raw inputs, in the model's input column order (manifest `inputs.features`). */
export const RAW_FEATURES = [
  'air_temperature_k',
  'process_temperature_k',
  'rotational_speed_rpm',
  'torque_nm',
  'tool_wear_min',
  'type_l',
  'type_m',
  'type_h',
] as const;

export type RawFeature = (typeof RAW_FEATURES)[number];

/** Product quality variant of the AI4I data: L (low, 50 %), M (medium, 30 %), H (high, 20 %). */
export type ProductType = 'L' | 'M' | 'H';

/**
 * Expression over raw features: a column, a difference, a product, a constant factor, a constant offset, a
 * weighted sum, the smaller / larger of two expressions, x clipped to [lo, hi], or `exactDiffBelow: [a, b, limit]`:
 * +1 when a - b < limit computed in float64 on the readings recovered to READING_RESOLUTION (see exactReading),
 * else -1. Everything else is computed in float32.
 */
export type FeatureExpr =
  | { col: RawFeature }
  | { sub: [FeatureExpr, FeatureExpr] }
  | { mul: [FeatureExpr, FeatureExpr] }
  | { scale: [FeatureExpr, number] }
  | { offset: [FeatureExpr, number] }
  | { dot: Partial<Record<RawFeature, number>> }
  | { min: [FeatureExpr, FeatureExpr] }
  | { max: [FeatureExpr, FeatureExpr] }
  | { clip: [FeatureExpr, number, number] }
  | { exactDiffBelow: [RawFeature, RawFeature, number] };

export interface DerivedFeature {
  name: string;
  unit: string;
  why: string;
  expr: FeatureExpr;
  /**
   * already scaled to [-1, 1]: the network takes it as it is (mean 0, std 1) instead of z-scoring it, which would
   * blow a rare +1 up to tens of standard deviations
   */
  bounded?: boolean;
}

/** Overstrain limit of AI4I's generator per product quality (tool wear x torque, min·Nm). */
export const OVERSTRAIN_LIMIT_MIN_NM: Record<ProductType, number> = { L: 11_000, M: 12_000, H: 13_000 };

/** Heat dissipation fails when process - air temperature is below this (K) and the spindle below HDF_MAX_RPM. */
export const HDF_MAX_TEMP_DIFF_K = 8.6;
export const HDF_MAX_RPM = 1380;
/** Power failures happen outside this band of mechanical power (W). */
export const PWF_BAND_W: readonly [number, number] = [3500, 9000];
/** Tool wear failures happen at a random wear time in roughly this window (min). */
export const TWF_WEAR_WINDOW_MIN: readonly [number, number] = [200, 240];

const TEMP_DIFF: FeatureExpr = { sub: [{ col: 'process_temperature_k' }, { col: 'air_temperature_k' }] };
const POWER: FeatureExpr = {
  scale: [{ mul: [{ col: 'torque_nm' }, { col: 'rotational_speed_rpm' }] }, (2 * Math.PI) / 60],
};
const OVERSTRAIN_RATIO: FeatureExpr = {
  mul: [
    { mul: [{ col: 'tool_wear_min' }, { col: 'torque_nm' }] },
    {
      dot: {
        type_l: 1 / OVERSTRAIN_LIMIT_MIN_NM.L,
        type_m: 1 / OVERSTRAIN_LIMIT_MIN_NM.M,
        type_h: 1 / OVERSTRAIN_LIMIT_MIN_NM.H,
      },
    },
  ],
};
/**
 * Readings are recovered from their float32 input to this resolution (1 mK, 0.001 rpm, ...) before a float64
 * comparison: a float32 near 300 K is within 1.5e-5 K of the reading it came from, far inside half a step, so
 * rounding to the grid gives back the decimal reading, and float64 arithmetic on it then decides exactly as the
 * dataset's generator did (which compares decimal readings in float64).
 */
export const READING_DECIMALS = 3;
const READING_SCALE = 10 ** READING_DECIMALS;

/** Round half to even (ONNX Round): Math.round rounds halves up. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The decimal reading (to READING_DECIMALS places) a float32 input came from, as a float64. */
export function exactReading(x: number): number {
  return roundHalfEven(Math.fround(x) * READING_SCALE) / READING_SCALE;
}

/**
 * HDF's temperature rule is strict (process - air < 8.6 K) and the generator evaluates it in float64 on the decimal
 * readings, so a difference of exactly 8.6 K in decimal fails or passes by how 8.6 rounds in binary
 * (308.6 - 300.0 = 8.600000000000023: safe; 306.7 - 298.1 = 8.599999999999966: failing). float32 cannot tell those
 * apart, so the side of the boundary is taken from that exact comparison (+1 inside, -1 outside).
 */
const HDF_TEMP_INSIDE: FeatureExpr = {
  exactDiffBelow: ['process_temperature_k', 'air_temperature_k', HDF_MAX_TEMP_DIFF_K],
};
/**
 * Temperature side of the HDF margin: (8.6 K - temp diff) + 0.05 K on the side the exact rule puts the row.
 * Readings come in steps of 0.1 K, so every row is at least 0.05 K from the boundary, on the correct side.
 */
const HDF_TEMP_SIDE: FeatureExpr = {
  sub: [{ offset: [{ scale: [TEMP_DIFF, -1] }, HDF_MAX_TEMP_DIFF_K] }, { scale: [HDF_TEMP_INSIDE, -0.05] }],
};
/** Speeds come in whole rpm and the rule is strict (< 1380 rpm): the boundary sits at 1379.5 rpm. */
const HDF_RPM_EDGE = HDF_MAX_RPM - 0.5;
/** Signed distance into the heat-dissipation failure region: min(temperature side, (1379.5 rpm - rpm) / 100 rpm). */
const HDF_MARGIN: FeatureExpr = {
  min: [HDF_TEMP_SIDE, { scale: [{ offset: [{ col: 'rotational_speed_rpm' }, -HDF_RPM_EDGE] }, -0.01] }],
};
/** Signed distance (kW) outside the power band: max(3500 W - power, power - 9000 W) / 1000; > 0 outside. */
const PWF_MARGIN: FeatureExpr = {
  max: [
    { scale: [{ offset: [POWER, -PWF_BAND_W[0]] }, -0.001] },
    { scale: [{ offset: [POWER, -PWF_BAND_W[1]] }, 0.001] },
  ],
};
const OSF_MARGIN: FeatureExpr = { offset: [OVERSTRAIN_RATIO, -1] };
/** Signed distance (in 10 min) into the tool wear failure window: min(wear - 200, 240 - wear) / 10. */
const TWF_MARGIN: FeatureExpr = {
  min: [
    { scale: [{ offset: [{ col: 'tool_wear_min' }, -TWF_WEAR_WINDOW_MIN[0]] }, 0.1] },
    { scale: [{ offset: [{ col: 'tool_wear_min' }, -TWF_WEAR_WINDOW_MIN[1]] }, -0.1] },
  ],
};

/**
 * A signed margin divided by the width of its boundary and clipped to [-1, 1]: bounded inputs that are -1 or +1 away
 * from the boundary, so the network sees the rule as one feature instead of extrapolating an unbounded one.
 */
function region(margin: FeatureExpr, width: number): FeatureExpr {
  return { clip: [{ scale: [margin, 1 / width] }, -1, 1] };
}

export const DERIVED_FEATURES: readonly DerivedFeature[] = [
  {
    name: 'temp_diff_k',
    unit: 'K',
    why: 'heat dissipation fails when process minus air temperature is small (and the spindle slow)',
    expr: TEMP_DIFF,
  },
  {
    name: 'power_w',
    unit: 'W',
    why: 'mechanical power = torque x angular speed (rpm x 2 pi / 60); power failures sit outside a band',
    expr: POWER,
  },
  {
    name: 'wear_torque_min_nm',
    unit: 'min·Nm',
    why: 'overstrain: the product of tool wear and torque',
    expr: { mul: [{ col: 'tool_wear_min' }, { col: 'torque_nm' }] },
  },
  {
    name: 'overstrain_ratio',
    unit: '1',
    why: 'wear x torque relative to the overstrain limit of the product quality (11000 L, 12000 M, 13000 H)',
    expr: OVERSTRAIN_RATIO,
  },
  {
    name: 'hdf_margin',
    unit: 'K',
    why: 'signed distance into the heat dissipation region: min(8.6 K - temp diff +/- 0.05 K by the exact float64 rule, (1379.5 rpm - rpm) / 100); > 0 inside',
    expr: HDF_MARGIN,
  },
  {
    name: 'hdf_region',
    unit: '1',
    why: 'hdf_margin / 0.005 K (0.5 rpm on the speed side) clipped to [-1, 1]: -1 clearly outside, +1 clearly inside, a ramp across the boundary',
    bounded: true,
    expr: region(HDF_MARGIN, 0.005),
  },
  {
    name: 'pwf_margin',
    unit: 'kW',
    why: 'signed distance outside the power band: max(3500 W - power, power - 9000 W) / 1000; > 0 outside',
    expr: PWF_MARGIN,
  },
  {
    name: 'pwf_region',
    unit: '1',
    why: 'pwf_margin / 10 W clipped to [-1, 1]: -1 inside the power band, +1 outside it',
    bounded: true,
    expr: region(PWF_MARGIN, 0.01),
  },
  {
    name: 'osf_margin',
    unit: '1',
    why: 'overstrain_ratio - 1: > 0 past the overstrain limit of the product quality',
    expr: OSF_MARGIN,
  },
  {
    name: 'osf_region',
    unit: '1',
    why: '(overstrain_ratio - 1) / 0.001 clipped to [-1, 1]: -1 below the limit, +1 past it',
    bounded: true,
    expr: region(OSF_MARGIN, 0.001),
  },
  {
    name: 'twf_margin',
    unit: '10 min',
    why: 'signed distance into the tool wear failure window: min(wear - 200, 240 - wear) / 10 min; > 0 inside',
    expr: TWF_MARGIN,
  },
  {
    name: 'twf_region',
    unit: '1',
    why: 'twf_margin clipped to [-1, 1]: -1 more than 10 min outside the tool wear window, +1 more than 10 min inside',
    bounded: true,
    expr: region(TWF_MARGIN, 1),
  },
];

/** Columns of the network's input (after feature engineering): raw, then derived. */
export const MODEL_FEATURES: readonly string[] = [...RAW_FEATURES, ...DERIVED_FEATURES.map((d) => d.name)];

const RAW_INDEX: Record<string, number> = Object.fromEntries(RAW_FEATURES.map((f, i) => [f, i]));

export function rawIndex(name: RawFeature): number {
  return RAW_INDEX[name]!;
}

/** One-hot columns (type_l, type_m, type_h) of a product type. */
export function typeOneHot(type: ProductType): [number, number, number] {
  return type === 'L' ? [1, 0, 0] : type === 'M' ? [0, 1, 0] : [0, 0, 1];
}

/**
 * Value of an expression for the raw row at `offset`, rounded to float32 after every operation, as the ONNX graph
 * computes it (so training and serving see the same engineered values, bit for bit where the ops are exact).
 */
export function evalExpr(e: FeatureExpr, raw: ArrayLike<number>, offset = 0): number {
  const f = Math.fround;
  if ('col' in e) return f(raw[offset + RAW_INDEX[e.col]!]!);
  if ('sub' in e) return f(evalExpr(e.sub[0], raw, offset) - evalExpr(e.sub[1], raw, offset));
  if ('mul' in e) return f(evalExpr(e.mul[0], raw, offset) * evalExpr(e.mul[1], raw, offset));
  if ('scale' in e) return f(evalExpr(e.scale[0], raw, offset) * f(e.scale[1]));
  if ('offset' in e) return f(evalExpr(e.offset[0], raw, offset) + f(e.offset[1]));
  if ('min' in e) return Math.min(evalExpr(e.min[0], raw, offset), evalExpr(e.min[1], raw, offset));
  if ('max' in e) return Math.max(evalExpr(e.max[0], raw, offset), evalExpr(e.max[1], raw, offset));
  if ('clip' in e) return Math.min(f(e.clip[2]), Math.max(f(e.clip[1]), evalExpr(e.clip[0], raw, offset)));
  if ('exactDiffBelow' in e) {
    const [a, b, limit] = e.exactDiffBelow;
    return exactReading(raw[offset + RAW_INDEX[a]!]!) - exactReading(raw[offset + RAW_INDEX[b]!]!) < limit ? 1 : -1;
  }
  let s = 0;
  for (const [k, w] of Object.entries(e.dot)) s = f(s + f(f(raw[offset + RAW_INDEX[k]!]!) * f(w ?? 0)));
  return s;
}

/**
 * Raw rows (row-major [rows, RAW_FEATURES.length]) to model rows ([rows, MODEL_FEATURES.length]): the raw columns
 * followed by the derived ones.
 */
export function engineerFeatures(raw: ArrayLike<number>, rows: number): Float32Array {
  const r = RAW_FEATURES.length;
  const m = MODEL_FEATURES.length;
  if (raw.length !== rows * r)
    throw new RangeError(`engineerFeatures: ${raw.length} values is not ${rows} rows of ${r}`);
  const out = new Float32Array(rows * m);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) out[i * m + j] = raw[i * r + j]!;
    for (let k = 0; k < DERIVED_FEATURES.length; k++)
      out[i * m + r + k] = evalExpr(DERIVED_FEATURES[k]!.expr, raw, i * r);
  }
  return out;
}
