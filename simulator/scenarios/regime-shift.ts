/**
 * Regime shift: the new normal of a cohort of devices after a sensor recalibration or a change of operating regime.
 * From `onsetMs` on (ramped linearly over `rampMs`), each named sensor of a shifted device reads
 *
 *   base + gain · (clean − base) + offset · σ
 *
 * where `base` is the sensor's nominal level and σ its fault scale (SignalModel.scale: noise and load response
 * combined), so `offset: 3` moves the sensor by three of its own standard deviations whatever its unit.
 *
 * A shift is not a fault: the readings it changes are normal data of the new regime and never ground truth of an
 * anomaly. An anomaly model trained before the shift raises false alarms on them; that is what the drift loop
 * detects and repairs (docs/keep-models-fresh.md). Pure: the caller passes the device time.
 */
import { z } from 'zod';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseOptions } from '../../lib/options.ts';
import type { SignalModel } from '../signal-model.ts';

export const SensorShiftSchema = z.strictObject({
  /** added after onset, in standard deviations of the sensor */
  offset: z.number().finite().default(0),
  /** scales the deviation from the nominal level (1 = unchanged) */
  gain: z.number().finite().positive().default(1),
});

export const RegimeShiftSchema = z.strictObject({
  /** seconds after the start of the run */
  onsetSec: z.number().min(0).default(180),
  /** the change is ramped in over this many seconds (0 = a step) */
  rampSec: z.number().min(0).default(10),
  /** share of the fleet that shifts: the first ⌈share · devices⌉ device ids in fleet order */
  share: z.number().gt(0).max(1).default(0.4),
  /** explicit cohort instead of `share` */
  devices: z.array(z.string().min(1)).min(1).optional(),
  sensors: z
    .record(z.string().min(1), SensorShiftSchema)
    .refine((r) => Object.keys(r).length > 0, 'at least one sensor')
    // a recalibrated process-temperature sensor reading 2.5 σ (≈ 7.8 K) high: the shipped anomaly model flags ~40 % of
    // the cohort's windows (normal data of the new regime), and the input drift monitor sees it within minutes
    .default({ process_temp: { offset: 2.5, gain: 1 } }),
});
export type RegimeShiftOptions = z.input<typeof RegimeShiftSchema>;
export type RegimeShiftSpec = z.output<typeof RegimeShiftSchema>;

export function parseRegimeShift(input: unknown, field = 'shift'): RegimeShiftSpec {
  return parseOptions(RegimeShiftSchema, input ?? {}, {
    where: 'regime shift',
    code: 'EL_ERR_SIM_OPTIONS',
    prefix: [field],
  });
}

/** The devices a shift applies to, in fleet order. */
export function shiftCohort(spec: RegimeShiftSpec, fleet: readonly string[]): string[] {
  if (spec.devices) {
    const known = new Set(fleet);
    const unknown = spec.devices.filter((d) => !known.has(d));
    if (unknown.length > 0)
      throw new EdgeloopError(
        'EL_ERR_SIM_OPTIONS',
        `shift.devices: ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` (+${unknown.length - 3})` : ''} not in the fleet`,
      );
    return fleet.filter((d) => spec.devices!.includes(d));
  }
  return fleet.slice(0, Math.max(1, Math.ceil(spec.share * fleet.length)));
}

/** The shift of one device, compiled against its signal model's sensors. */
export class RegimeShift {
  readonly onsetMs: number;
  readonly #rampMs: number;
  readonly #idx: number[];
  readonly #base: number[];
  readonly #gain: number[];
  readonly #offset: number[];

  /** `startMs`: the run's start (device time); sensors the model does not have are refused by name. */
  constructor(spec: RegimeShiftSpec, model: SignalModel, startMs: number) {
    this.onsetMs = startMs + spec.onsetSec * 1000;
    this.#rampMs = spec.rampSec * 1000;
    const names = model.sensors.map((s) => s.name);
    this.#idx = [];
    this.#base = [];
    this.#gain = [];
    this.#offset = [];
    for (const [name, s] of Object.entries(spec.sensors)) {
      const i = names.indexOf(name);
      if (i < 0)
        throw new EdgeloopError(
          'EL_ERR_SIM_OPTIONS',
          `shift.sensors.${name}: the fleet has no sensor "${name}" (it has ${names.join(', ')})`,
        );
      this.#idx.push(i);
      this.#base.push(model.sensors[i]!.base);
      this.#gain.push(s.gain);
      this.#offset.push(s.offset * model.scale(i));
    }
  }

  /** 0 before onset, rising to 1 over the ramp. */
  level(t: number): number {
    if (t < this.onsetMs) return 0;
    if (this.#rampMs === 0) return 1;
    return Math.min(1, (t - this.onsetMs) / this.#rampMs);
  }

  /** Shift the clean values of time `t` in place (before faults and rounding). */
  apply(t: number, values: Float64Array): void {
    const k = this.level(t);
    if (k === 0) return;
    for (let j = 0; j < this.#idx.length; j++) {
      const i = this.#idx[j]!;
      const v = values[i]!;
      const base = this.#base[j]!;
      const shifted = base + this.#gain[j]! * (v - base) + this.#offset[j]!;
      values[i] = v + k * (shifted - v);
    }
  }
}
