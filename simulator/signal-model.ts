/**
 * Signal models of simulated sensors: a level, daily-style seasonality, slow drift, Gaussian noise, and a shared
 * per-device latent "load" (an AR(1) process) that makes sensors of one device move together (correlated
 * sensors). Pure: all randomness comes from an injected seeded Prng, time is passed in.
 */
import { Prng } from './prng.ts';

export interface SensorSpec {
  /** sensor id as sent on the wire */
  name: string;
  /** mean level */
  base: number;
  /** standard deviation of the white noise */
  noise: number;
  /** seasonal amplitude (same unit as base) */
  amplitude: number;
  /** seasonal period, seconds */
  periodSec: number;
  /** linear drift per hour (same unit as base) */
  driftPerHour: number;
  /** response to the device's shared load factor (unit per standard deviation of load); 0 = independent */
  loadGain: number;
  /** optional clamp */
  min?: number | undefined;
  max?: number | undefined;
  /** decimals kept on the wire */
  decimals: number;
}

/**
 * The default sensors: a milling machine like the AI4I 2020 data set (air and process temperature in K,
 * rotational speed in rpm, torque in Nm, tool wear in minutes), with the correlations of that machine: process
 * temperature follows air temperature, torque rises when speed falls under load.
 */
export const DEFAULT_SENSORS: readonly SensorSpec[] = Object.freeze([
  {
    name: 'air_temp',
    base: 300,
    noise: 0.2,
    amplitude: 2,
    periodSec: 3600,
    driftPerHour: 0,
    loadGain: 0.3,
    decimals: 2,
    min: undefined,
    max: undefined,
  },
  {
    name: 'process_temp',
    base: 310,
    noise: 0.15,
    amplitude: 1.5,
    periodSec: 3600,
    driftPerHour: 0,
    loadGain: 0.5,
    decimals: 2,
    min: undefined,
    max: undefined,
  },
  {
    name: 'rpm',
    base: 1540,
    noise: 25,
    amplitude: 40,
    periodSec: 900,
    driftPerHour: 0,
    loadGain: -60,
    decimals: 0,
    min: 0,
    max: undefined,
  },
  {
    name: 'torque',
    base: 40,
    noise: 1.5,
    amplitude: 2,
    periodSec: 900,
    driftPerHour: 0,
    loadGain: 4,
    decimals: 2,
    min: 0,
    max: undefined,
  },
  {
    name: 'tool_wear',
    base: 20,
    noise: 0,
    amplitude: 0,
    periodSec: 3600,
    driftPerHour: 30,
    loadGain: 0,
    decimals: 1,
    min: 0,
    max: undefined,
  },
]);

export interface SignalState {
  /** AR(1) load factor, unit variance in steady state */
  load: number;
  /** per-sensor phase offsets, radians */
  phases: Float64Array;
  /** device-specific offsets of each sensor's base (fleet heterogeneity) */
  offsets: Float64Array;
  startMs: number;
  lastMs: number;
}

/** AR(1) coefficient per second of the load process (correlation time ~ 20 s). */
const LOAD_PHI_PER_SEC = Math.exp(-1 / 20);

export class SignalModel {
  readonly sensors: readonly SensorSpec[];
  readonly #prng: Prng;
  readonly #state: SignalState;

  constructor(sensors: readonly SensorSpec[], prng: Prng, startMs: number) {
    this.sensors = sensors;
    this.#prng = prng;
    const n = sensors.length;
    const phases = new Float64Array(n);
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      phases[i] = prng.range(0, 2 * Math.PI);
      // each device sits a little off the fleet's nominal level: half a noise sd, or 0.5 % of the level
      const s = sensors[i]!;
      offsets[i] =
        prng.gaussian() *
        Math.max(s.noise * 0.5, Math.abs(s.base) * 0.005) *
        (s.noise === 0 && s.amplitude === 0 ? 0 : 1);
    }
    this.#state = { load: prng.gaussian(), phases, offsets, startMs, lastMs: startMs };
  }

  /** Advance to `tMs` and return the clean value of every sensor (no faults), in `sensors` order. */
  sample(tMs: number, out: Float64Array = new Float64Array(this.sensors.length)): Float64Array {
    const st = this.#state;
    const dtSec = Math.max(0, (tMs - st.lastMs) / 1000);
    st.lastMs = tMs;
    if (dtSec > 0) {
      const phi = LOAD_PHI_PER_SEC ** dtSec;
      st.load = phi * st.load + Math.sqrt(1 - phi * phi) * this.#prng.gaussian();
    }
    const elapsedSec = (tMs - st.startMs) / 1000;
    for (let i = 0; i < this.sensors.length; i++) {
      const s = this.sensors[i]!;
      let v = s.base + st.offsets[i]!;
      if (s.amplitude !== 0) v += s.amplitude * Math.sin((2 * Math.PI * elapsedSec) / s.periodSec + st.phases[i]!);
      if (s.driftPerHour !== 0) v += (s.driftPerHour * elapsedSec) / 3600;
      if (s.loadGain !== 0) v += s.loadGain * st.load;
      if (s.noise !== 0) v += s.noise * this.#prng.gaussian();
      out[i] = v;
    }
    return out;
  }

  /** Clamp and round a value for the wire. */
  finish(i: number, v: number): number {
    const s = this.sensors[i]!;
    if (s.min !== undefined && v < s.min) v = s.min;
    if (s.max !== undefined && v > s.max) v = s.max;
    const f = 10 ** s.decimals;
    return Math.round(v * f) / f;
  }

  /** standard deviation used to scale faults: noise and load response combined */
  scale(i: number): number {
    const s = this.sensors[i]!;
    return Math.max(Math.sqrt(s.noise * s.noise + s.loadGain * s.loadGain), Math.abs(s.base) * 0.01, 1e-6);
  }
}
