/**
 * AI4I 2020 predictive-maintenance data (UCI 601, CC BY 4.0, S. Matzka): parsing and the deterministic split by
 * UDI. Pure (the caller reads the file).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { RAW_FEATURES, typeOneHot } from './features.ts';
import type { ProductType } from './features.ts';

/** Failure modes, in the model's output column order. */
export const FAILURE_MODES = ['TWF', 'HDF', 'PWF', 'OSF', 'RNF'] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

/** CSV column → raw feature. */
export const AI4I_COLUMNS = {
  udi: 'UDI',
  type: 'Type',
  air_temperature_k: 'Air temperature [K]',
  process_temperature_k: 'Process temperature [K]',
  rotational_speed_rpm: 'Rotational speed [rpm]',
  torque_nm: 'Torque [Nm]',
  tool_wear_min: 'Tool wear [min]',
  machineFailure: 'Machine failure',
} as const;

export interface Ai4iData {
  /** UDI per row */
  udi: Int32Array;
  /** raw features, row-major [rows, RAW_FEATURES.length] */
  raw: Float32Array;
  /** labels, row-major [rows, FAILURE_MODES.length], 0/1 */
  labels: Float32Array;
  /** Machine failure column (0/1) */
  machineFailure: Uint8Array;
  rows: number;
}

/**
 * Parse the AI4I CSV text (UTF-8 BOM and CRLF accepted). Throws EL_ERR_DATA_INVALID naming the source, line and
 * column of the first bad value, or the missing columns.
 */
export function parseAi4iCsv(text: string, source = 'AI4I CSV'): Ai4iData {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length < 2) throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source}: no data rows`);
  const header = lines[0]!.split(',').map((h) => h.trim());
  const need = [...Object.values(AI4I_COLUMNS), ...FAILURE_MODES];
  const missing = need.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new EdgeloopError(
      'EL_ERR_DATA_INVALID',
      `${source}: missing column(s) ${missing.map((m) => `"${m}"`).join(', ')} (has ${header.join(', ')})`,
    );
  }
  const col = (name: string): number => header.indexOf(name);
  const numericCols: Array<[string, number, number]> = [
    ['air_temperature_k', col(AI4I_COLUMNS.air_temperature_k), RAW_FEATURES.indexOf('air_temperature_k')],
    ['process_temperature_k', col(AI4I_COLUMNS.process_temperature_k), RAW_FEATURES.indexOf('process_temperature_k')],
    ['rotational_speed_rpm', col(AI4I_COLUMNS.rotational_speed_rpm), RAW_FEATURES.indexOf('rotational_speed_rpm')],
    ['torque_nm', col(AI4I_COLUMNS.torque_nm), RAW_FEATURES.indexOf('torque_nm')],
    ['tool_wear_min', col(AI4I_COLUMNS.tool_wear_min), RAW_FEATURES.indexOf('tool_wear_min')],
  ];
  const iUdi = col(AI4I_COLUMNS.udi);
  const iType = col(AI4I_COLUMNS.type);
  const iMf = col(AI4I_COLUMNS.machineFailure);
  const iModes = FAILURE_MODES.map((m) => col(m));
  const iTypeL = RAW_FEATURES.indexOf('type_l');

  const n = lines.length - 1;
  const r = RAW_FEATURES.length;
  const data: Ai4iData = {
    udi: new Int32Array(n),
    raw: new Float32Array(n * r),
    labels: new Float32Array(n * FAILURE_MODES.length),
    machineFailure: new Uint8Array(n),
    rows: n,
  };
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const lineNo = i + 2;
    const cells = lines[i + 1]!.split(',');
    if (cells.length !== header.length) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${source} line ${lineNo}: ${cells.length} fields, the header has ${header.length}`,
      );
    }
    const num = (c: number, name: string): number => {
      const s = cells[c]!.trim();
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v))
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `${source} line ${lineNo}: column "${name}" is not a finite number ("${s}")`,
        );
      return v;
    };
    const udi = num(iUdi, AI4I_COLUMNS.udi);
    if (!Number.isInteger(udi))
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${source} line ${lineNo}: UDI must be an integer ("${cells[iUdi]}")`,
      );
    if (seen.has(udi)) throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source} line ${lineNo}: duplicate UDI ${udi}`);
    seen.add(udi);
    data.udi[i] = udi;
    for (const [name, c, j] of numericCols)
      data.raw[i * r + j] = num(c, AI4I_COLUMNS[name as keyof typeof AI4I_COLUMNS]);
    const type = cells[iType]!.trim();
    if (type !== 'L' && type !== 'M' && type !== 'H') {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${source} line ${lineNo}: column "Type" must be L, M or H ("${type}")`,
      );
    }
    data.raw.set(typeOneHot(type as ProductType), i * r + iTypeL);
    const flag = (c: number, name: string): number => {
      const v = num(c, name);
      if (v !== 0 && v !== 1)
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `${source} line ${lineNo}: column "${name}" must be 0 or 1 ("${cells[c]}")`,
        );
      return v;
    };
    data.machineFailure[i] = flag(iMf, AI4I_COLUMNS.machineFailure);
    iModes.forEach((c, k) => (data.labels[i * FAILURE_MODES.length + k] = flag(c, FAILURE_MODES[k]!)));
  }
  return data;
}

/** Rows `idx` of `d` as a new data set. */
export function selectRows(d: Ai4iData, idx: ArrayLike<number>): Ai4iData {
  const r = RAW_FEATURES.length;
  const k = FAILURE_MODES.length;
  const out: Ai4iData = {
    udi: new Int32Array(idx.length),
    raw: new Float32Array(idx.length * r),
    labels: new Float32Array(idx.length * k),
    machineFailure: new Uint8Array(idx.length),
    rows: idx.length,
  };
  for (let i = 0; i < idx.length; i++) {
    const s = idx[i]!;
    out.udi[i] = d.udi[s]!;
    out.raw.set(d.raw.subarray(s * r, (s + 1) * r), i * r);
    out.labels.set(d.labels.subarray(s * k, (s + 1) * k), i * k);
    out.machineFailure[i] = d.machineFailure[s]!;
  }
  return out;
}

/**
 * Deterministic pseudo-random position in [0, 1) of a UDI (an integer hash, salted so the test and validation
 * splits are independent). The same UDI always lands in the same part, whatever the file's row order.
 */
export function udiFraction(udi: number, salt: number): number {
  let h = (Math.imul(udi ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export const TEST_SALT = 1;
export const VALIDATION_SALT = 2;

/** Split rows by UDI: rows whose `udiFraction(udi, salt)` < fraction go to `held`, the others to `kept`. */
export function splitByUdi(d: Ai4iData, fraction: number, salt: number): { kept: Ai4iData; held: Ai4iData } {
  if (!(fraction >= 0 && fraction < 1))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `split fraction must be in [0, 1), got ${fraction}`);
  const kept: number[] = [];
  const held: number[] = [];
  for (let i = 0; i < d.rows; i++) (udiFraction(d.udi[i]!, salt) < fraction ? held : kept).push(i);
  return { kept: selectRows(d, kept), held: selectRows(d, held) };
}
