/**
 * The AI4I rule oracle: the dataset's published generating rules (Matzka 2020, UCI 601) applied to the raw columns.
 * Not a model — a reference for what any model can reach on the same rows. HDF, PWF and OSF are exact rules of the
 * inputs; TWF happens at a random tool wear between 200 and 240 min, so the best a rule can do is flag that
 * window; RNF is a 0.1 % coin flip independent of the inputs, so the oracle cannot predict it. Pure.
 */
import { FAILURE_MODES } from './ai4i-data.ts';
import { exactReading, rawIndex, RAW_FEATURES } from './features.ts';

/** OSF limit of tool wear × torque (min·Nm) per product type */
const OSF_LIMIT = { L: 11_000, M: 12_000, H: 13_000 } as const;

/**
 * Machine failure by the rules: 1 where HDF, PWF or OSF holds (`modes` from ruleOracle). TWF's wear window is left
 * out: a failure falls somewhere in it, so flagging all of it costs far more false alarms than it finds failures.
 */
export function ruleOracleFailure(modes: ArrayLike<number>, rows: number): Float32Array {
  const k = FAILURE_MODES.length;
  return Float32Array.from({ length: rows }, (_, i) =>
    modes[i * k + 1]! || modes[i * k + 2]! || modes[i * k + 3]! ? 1 : 0,
  );
}

/** 0/1 per row and mode (row-major [rows, 5], the model's output layout) from the generating rules. */
export function ruleOracle(raw: ArrayLike<number>, rows: number): Float32Array {
  const w = RAW_FEATURES.length;
  const k = FAILURE_MODES.length;
  const [air, proc, rpm, torque, wear, typeL, typeM] = (
    [
      'air_temperature_k',
      'process_temperature_k',
      'rotational_speed_rpm',
      'torque_nm',
      'tool_wear_min',
      'type_l',
      'type_m',
    ] as const
  ).map(rawIndex);
  const out = new Float32Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const r = (j: number): number => raw[i * w + j]!;
    const watts = (r(torque!) * r(rpm!) * 2 * Math.PI) / 60;
    const limit = r(typeL!) >= 0.5 ? OSF_LIMIT.L : r(typeM!) >= 0.5 ? OSF_LIMIT.M : OSF_LIMIT.H;
    out[i * k + 0] = r(wear!) >= 200 && r(wear!) <= 240 ? 1 : 0; // TWF: the window the failure falls in
    // HDF: in float64 on the decimal readings, as the generator computed it (features.ts exactReading)
    out[i * k + 1] = exactReading(r(proc!)) - exactReading(r(air!)) < 8.6 && r(rpm!) < 1380 ? 1 : 0;
    out[i * k + 2] = watts < 3500 || watts > 9000 ? 1 : 0; // PWF
    out[i * k + 3] = r(wear!) * r(torque!) > limit ? 1 : 0; // OSF
    out[i * k + 4] = 0; // RNF: random, independent of the inputs
  }
  return out;
}
