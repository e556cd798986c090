/**
 * A virtual device: a source of samples (a synthetic signal with injected faults, or a replayed data set) and
 * the per-device sequence numbers of the wire contract. Pure: the caller passes the device time.
 */
import type { Reading, TelemetryMessage } from '../protocol/messages.ts';
import { FaultInjector, type InjectedFault } from './faults/data-faults.ts';
import type { ReplaySeries } from './replay/csv-replay.ts';
import type { RegimeShift } from './scenarios/regime-shift.ts';
import type { SignalModel } from './signal-model.ts';

export interface SampleSource {
  readonly sensors: readonly string[];
  /** Fill `values` for time `t`; set `present[i] = 0` for sensors that produce nothing at `t`. */
  sample(t: number, values: Float64Array, present: Uint8Array): void;
}

export class SyntheticSource implements SampleSource {
  readonly sensors: readonly string[];
  readonly #model: SignalModel;
  readonly #faults: FaultInjector;
  readonly #shift: RegimeShift | undefined;

  /** `shift`: the device's new regime from its onset on (simulator/scenarios/regime-shift.ts), applied before faults */
  constructor(model: SignalModel, faults: readonly InjectedFault[], shift?: RegimeShift) {
    this.#model = model;
    this.sensors = model.sensors.map((s) => s.name);
    this.#faults = new FaultInjector(model, faults);
    this.#shift = shift;
  }
  sample(t: number, values: Float64Array, present: Uint8Array): void {
    this.#model.sample(t, values);
    this.#shift?.apply(t, values);
    present.fill(1);
    this.#faults.apply(t, values, present);
    for (let i = 0; i < values.length; i++) values[i] = this.#model.finish(i, values[i]!);
  }
}

/** Plays a series row by row, one row per sample, looping at the end; starts at `offset`. */
export class ReplaySource implements SampleSource {
  readonly sensors: readonly string[];
  readonly #s: ReplaySeries;
  #row: number;

  constructor(series: ReplaySeries, offset = 0) {
    this.#s = series;
    this.sensors = series.sensors;
    this.#row = offset % series.rows;
  }
  /** row the next sample will play */
  get row(): number {
    return this.#row;
  }
  sample(_t: number, values: Float64Array, present: Uint8Array): void {
    const n = this.sensors.length;
    const base = this.#row * n;
    for (let i = 0; i < n; i++) values[i] = this.#s.values[base + i]!;
    present.fill(1);
    this.#row = (this.#row + 1) % this.#s.rows;
  }
}

export class VirtualDevice {
  readonly id: string;
  readonly #source: SampleSource;
  readonly #values: Float64Array;
  readonly #present: Uint8Array;
  #seq: number;
  #readings = 0;

  constructor(id: string, source: SampleSource, firstSeq = 1) {
    this.id = id;
    this.#source = source;
    this.#values = new Float64Array(source.sensors.length);
    this.#present = new Uint8Array(source.sensors.length);
    this.#seq = firstSeq - 1;
  }

  get sensors(): readonly string[] {
    return this.#source.sensors;
  }
  /** last seq assigned (0 before the first reading) */
  get lastSeq(): number {
    return this.#seq;
  }
  /** readings produced so far */
  get produced(): number {
    return this.#readings;
  }

  /** Sample at each of `times` and return the readings, seqs assigned in order. */
  sample(times: readonly number[], out: Reading[] = []): Reading[] {
    const sensors = this.#source.sensors;
    for (const t of times) {
      this.#source.sample(t, this.#values, this.#present);
      for (let i = 0; i < sensors.length; i++) {
        if (this.#present[i] === 0) continue;
        out.push({ seq: ++this.#seq, sensor: sensors[i]!, ts: t, value: this.#values[i]! });
      }
    }
    this.#readings += out.length;
    return out;
  }

  /** Wrap readings into a telemetry message (undefined when there are none: a dropout). */
  static telemetry(deviceId: string, readings: Reading[], sentAt: number): TelemetryMessage | undefined {
    if (readings.length === 0) return undefined;
    return { v: 1, type: 'telemetry', deviceId, seq: readings[0]!.seq, sentAt, readings };
  }
}
