/**
 * The degradation scenario: devices that wear toward failure like the engines of NASA's C-MAPSS FD001. Each
 * device has a seeded life (cycles from new to failure) and starts with seeded initial wear (a share of that life
 * already used); every sample is one operating cycle with the 3 settings and 21 sensors of the C-MAPSS layout.
 * A sensor's value is its healthy level plus a per-device offset (manufacturing variation), plus the shift it shows
 * at failure times a health index that stays near 0 for most of the life and rises steeply toward its end
 * (h(x) = (e^{kx} - 1) / (e^k - 1), x = cycle / life), plus white noise. Levels, shifts, noise and offsets are the
 * ones measured on FD001's training file (below). At the end of life the device fails and **stops**: it sends
 * nothing more (no replacement), so its last reading is the one before failure, as in C-MAPSS.
 * Pure: randomness from the injected seeded Prng; time is not used (a sample is a cycle, whenever it is taken).
 */
import { z } from 'zod';
import { VirtualDevice, type SampleSource } from '../virtual-device.ts';
import { Prng } from '../prng.ts';

export interface DegradingSensor {
  name: string;
  /** mean of the first 20 cycles of every FD001 training unit */
  healthy: number;
  /** mean of the last 5 cycles (failure) */
  failed: number;
  /** white noise sd: residual around a 9-cycle moving mean */
  noise: number;
  /** sd of the units' healthy means (manufacturing variation) */
  unitSd: number;
  decimals: number;
}

/**
 * Measured on train_FD001.txt (100 units run to failure): healthy level, level at failure, noise, per-unit spread,
 * and the decimals of the file. Settings first, then s1..s21 (the file's column order after unit and cycle).
 */
export const FD001_LIKE_SENSORS: readonly DegradingSensor[] = Object.freeze([
  { name: 'setting1', healthy: 0.00004, failed: -0.00009, noise: 0.00219, unitSd: 0.0005, decimals: 4 },
  { name: 'setting2', healthy: 0, failed: 0, noise: 0.00029, unitSd: 0.00008, decimals: 4 },
  { name: 'setting3', healthy: 100, failed: 100, noise: 0, unitSd: 0, decimals: 0 },
  { name: 's1', healthy: 518.67, failed: 518.67, noise: 0, unitSd: 0, decimals: 2 },
  { name: 's2', healthy: 642.3808, failed: 643.67, noise: 0.303, unitSd: 0.242, decimals: 2 },
  { name: 's3', healthy: 1586.84, failed: 1602.289, noise: 4, unitSd: 2.46, decimals: 2 },
  { name: 's4', healthy: 1402.758, failed: 1428.927, noise: 4.01, unitSd: 4.48, decimals: 2 },
  { name: 's5', healthy: 14.62, failed: 14.62, noise: 0, unitSd: 0, decimals: 2 },
  { name: 's6', healthy: 21.60952, failed: 21.61, noise: 0.00133, unitSd: 0.0008, decimals: 2 },
  { name: 's7', healthy: 553.9506, failed: 551.4948, noise: 0.406, unitSd: 0.481, decimals: 2 },
  { name: 's8', healthy: 2388.058, failed: 2388.232, noise: 0.0302, unitSd: 0.0462, decimals: 2 },
  { name: 's9', healthy: 9056.007, failed: 9097.992, noise: 4.15, unitSd: 7.29, decimals: 2 },
  { name: 's10', healthy: 1.3, failed: 1.3, noise: 0, unitSd: 0, decimals: 1 },
  { name: 's11', healthy: 47.35247, failed: 48.1422, noise: 0.101, unitSd: 0.149, decimals: 2 },
  { name: 's12', healthy: 521.9099, failed: 519.8092, noise: 0.3, unitSd: 0.412, decimals: 2 },
  { name: 's13', healthy: 2388.056, failed: 2388.233, noise: 0.0304, unitSd: 0.0467, decimals: 2 },
  { name: 's14', healthy: 8137.373, failed: 8166.866, noise: 3.16, unitSd: 7.27, decimals: 2 },
  { name: 's15', healthy: 8.418291, failed: 8.520405, noise: 0.0201, unitSd: 0.0176, decimals: 4 },
  { name: 's16', healthy: 0.03, failed: 0.03, noise: 0, unitSd: 0, decimals: 2 },
  { name: 's17', healthy: 392.2605, failed: 396.24, noise: 0.95, unitSd: 0.707, decimals: 0 },
  { name: 's18', healthy: 2388, failed: 2388, noise: 0, unitSd: 0, decimals: 0 },
  { name: 's19', healthy: 100, failed: 100, noise: 0, unitSd: 0, decimals: 0 },
  { name: 's20', healthy: 38.93281, failed: 38.446, noise: 0.101, unitSd: 0.0868, decimals: 2 },
  { name: 's21', healthy: 23.36008, failed: 23.06999, noise: 0.0603, unitSd: 0.0519, decimals: 4 },
]);

export const DegradationOptionsSchema = z.strictObject({
  /** a device's life (cycles from new to failure) is drawn uniformly from this range (FD001: 128-362) */
  minLifeCycles: z.number().int().min(2).default(128),
  maxLifeCycles: z.number().int().min(2).default(362),
  /** share of its life a device has used when the run starts, drawn uniformly from [0, initialWear] */
  initialWear: z.number().min(0).max(0.95).default(0),
  /** steepness k of the health index h(x) = (e^{kx} - 1) / (e^k - 1) */
  steepness: z.number().positive().max(50).default(4.5),
});
export type DegradationOptions = z.output<typeof DegradationOptionsSchema>;

/** What the report scores a device against: cycles it will send, and its true RUL after the last one. */
export interface DeviceLife {
  deviceId: string;
  /** cycles the device sends in all (until failure, or the end of its trajectory) */
  cycles: number;
  /** true remaining cycles after its last cycle: 0 when that cycle is the failure */
  rulAfterLast: number;
  /** the last cycle is a failure (run to failure) */
  failsAtEnd: boolean;
}

/** One device's wear: samples its cycles until failure, then produces nothing (the device has stopped). */
export class DegradationSource implements SampleSource {
  readonly sensors: readonly string[];
  readonly life: number;
  readonly startCycle: number;
  readonly #spec: readonly DegradingSensor[];
  readonly #offsets: Float64Array;
  readonly #prng: Prng;
  readonly #k: number;
  /** cycles sampled so far */
  sent = 0;

  constructor(prng: Prng, o: DegradationOptions, spec: readonly DegradingSensor[] = FD001_LIKE_SENSORS) {
    if (o.maxLifeCycles < o.minLifeCycles)
      throw new RangeError(`maxLifeCycles (${o.maxLifeCycles}) is below minLifeCycles (${o.minLifeCycles})`);
    this.#spec = spec;
    this.sensors = spec.map((s) => s.name);
    this.#prng = prng;
    this.#k = o.steepness;
    this.life = prng.int(o.minLifeCycles, o.maxLifeCycles);
    this.startCycle = Math.min(this.life - 1, Math.floor(prng.range(0, o.initialWear) * this.life));
    this.#offsets = Float64Array.from(spec, (s) => s.unitSd * prng.gaussian());
  }

  /** cycles this device sends before it fails */
  get cycles(): number {
    return this.life - this.startCycle;
  }

  sample(_t: number, values: Float64Array, present: Uint8Array): void {
    if (this.sent >= this.cycles) {
      present.fill(0);
      return;
    }
    this.sent++;
    const cycle = this.startCycle + this.sent; // 1-based cycle of the device's life; cycle == life is the failure
    const x = cycle / this.life;
    const h = Math.expm1(this.#k * x) / Math.expm1(this.#k);
    present.fill(1);
    for (let i = 0; i < this.#spec.length; i++) {
      const s = this.#spec[i]!;
      const v = s.healthy + this.#offsets[i]! + (s.failed - s.healthy) * h + s.noise * this.#prng.gaussian();
      const f = 10 ** s.decimals;
      values[i] = Math.round(v * f) / f;
    }
  }
}

/** A fleet that wears out: one DegradationSource per device, each its own life, and the lives the report scores. */
export interface DegradationFleet {
  sources: DegradationSource[];
  devices: VirtualDevice[];
  lives: DeviceLife[];
}

/**
 * The degradation scenario's fleet for `ids` (`edgeloop sim --scenario degradation`, `edgeloop up --scenario
 * degradation`): device i wears by the seeded stream `seed` → `degradation` → its id, so the same seed and ids give
 * the same lives whoever runs them. Each device runs to failure (true RUL 0 after its last cycle).
 */
export function degradationFleet(
  seed: number | string,
  ids: readonly string[],
  options: z.input<typeof DegradationOptionsSchema> = {},
): DegradationFleet {
  const d = DegradationOptionsSchema.parse(options);
  const root = new Prng(seed).fork('degradation');
  const sources = ids.map((id) => new DegradationSource(root.fork(id), d));
  return {
    sources,
    devices: sources.map((s, i) => new VirtualDevice(ids[i]!, s)),
    lives: sources.map((s, i) => ({ deviceId: ids[i]!, cycles: s.cycles, rulAfterLast: 0, failsAtEnd: true })),
  };
}
