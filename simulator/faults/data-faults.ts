/**
 * Data faults: what goes wrong in the readings themselves. Pure; each device's FaultInjector changes the clean
 * signal of its SignalModel at sample time. Every injected fault is a ground-truth record (simulator/ground-truth.ts).
 *
 * Generic sensor faults: spike, drift, stuck sensor, dropout. Machine faults with a known maintenance action follow
 * the five failure modes of the AI4I 2020 predictive-maintenance data set and their natural action:
 *   TWF tool wear            → replace tool
 *   HDF heat dissipation     → restore cooling
 *   PWF power                → correct the speed/torque set-point
 *   OSF overstrain           → reduce load or change the tool early
 *   RNF random failure       → inspect
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Prng } from '../prng.ts';
import type { SignalModel } from '../signal-model.ts';

export const SENSOR_FAULT_KINDS = ['spike', 'drift', 'stuck', 'dropout'] as const;
export const MACHINE_FAULT_KINDS = ['tool-wear', 'heat-dissipation', 'power', 'overstrain', 'random-failure'] as const;
export const DATA_FAULT_KINDS = [...SENSOR_FAULT_KINDS, ...MACHINE_FAULT_KINDS] as const;
export type DataFaultKind = (typeof DATA_FAULT_KINDS)[number];

export const MAINTENANCE: Readonly<
  Record<(typeof MACHINE_FAULT_KINDS)[number], { failureMode: string; action: string; sensors: readonly string[] }>
> = Object.freeze({
  'tool-wear': { failureMode: 'TWF', action: 'replace tool', sensors: ['tool_wear', 'torque'] },
  'heat-dissipation': { failureMode: 'HDF', action: 'restore cooling', sensors: ['process_temp', 'rpm'] },
  power: { failureMode: 'PWF', action: 'correct the speed/torque set-point', sensors: ['torque', 'rpm'] },
  overstrain: { failureMode: 'OSF', action: 'reduce load or change the tool early', sensors: ['torque', 'tool_wear'] },
  'random-failure': { failureMode: 'RNF', action: 'inspect', sensors: ['air_temp', 'process_temp', 'rpm', 'torque'] },
});

/** One injected fault = one ground-truth record. Times are device time, ms since the epoch. */
export interface InjectedFault {
  id: string;
  deviceId: string;
  kind: DataFaultKind | 'labelled';
  /** sensors the fault changes */
  sensors: string[];
  start: number;
  end: number;
  /** size in standard deviations of the sensor (spike, drift) */
  magnitude: number;
  /** maintenance action a technician should take, for machine faults (null for sensor faults) */
  action: string | null;
  /** AI4I failure mode code (TWF, HDF, PWF, OSF, RNF) for machine faults */
  failureMode: string | null;
}

/** Default duration (seconds) and magnitude (standard deviations) per kind. */
export const FAULT_DEFAULTS: Readonly<Record<DataFaultKind, { durationSec: number; magnitude: number }>> =
  Object.freeze({
    spike: { durationSec: 2, magnitude: 10 },
    drift: { durationSec: 60, magnitude: 8 },
    stuck: { durationSec: 60, magnitude: 0 },
    dropout: { durationSec: 30, magnitude: 0 },
    'tool-wear': { durationSec: 60, magnitude: 0 },
    'heat-dissipation': { durationSec: 60, magnitude: 0 },
    power: { durationSec: 60, magnitude: 0 },
    overstrain: { durationSec: 60, magnitude: 0 },
    'random-failure': { durationSec: 30, magnitude: 4 },
  });

export function isDataFaultKind(k: string): k is DataFaultKind {
  return (DATA_FAULT_KINDS as readonly string[]).includes(k);
}

export function describeFault(
  kind: DataFaultKind,
  o: {
    id: string;
    deviceId: string;
    start: number;
    durationMs?: number;
    sensor?: string;
    magnitude?: number;
    sensorNames: readonly string[];
  },
): InjectedFault {
  const d = FAULT_DEFAULTS[kind];
  const durationMs = o.durationMs ?? d.durationSec * 1000;
  let sensors: string[];
  let action: string | null = null;
  let failureMode: string | null = null;
  if (kind in MAINTENANCE) {
    const m = MAINTENANCE[kind as keyof typeof MAINTENANCE];
    const missing = m.sensors.filter((s) => !o.sensorNames.includes(s));
    if (missing.length > 0) {
      throw new EdgeloopError(
        'EL_ERR_SIM_OPTIONS',
        `fault "${kind}" needs sensor(s) ${missing.join(', ')}, which the fleet does not have (it has ${o.sensorNames.join(', ')})`,
      );
    }
    sensors = [...m.sensors];
    action = m.action;
    failureMode = m.failureMode;
  } else if (o.sensor === '*' || (kind === 'dropout' && o.sensor === undefined)) {
    sensors = [...o.sensorNames];
  } else {
    const s = o.sensor ?? o.sensorNames[0]!;
    if (!o.sensorNames.includes(s)) {
      throw new EdgeloopError(
        'EL_ERR_SIM_OPTIONS',
        `fault "${kind}" names sensor "${s}", which the fleet does not have (it has ${o.sensorNames.join(', ')})`,
      );
    }
    sensors = [s];
  }
  return {
    id: o.id,
    deviceId: o.deviceId,
    kind,
    sensors,
    start: o.start,
    end: o.start + durationMs,
    magnitude: o.magnitude ?? d.magnitude,
    action,
    failureMode,
  };
}

interface ActiveFault {
  f: InjectedFault;
  idx: number[];
  /** frozen values of a stuck sensor */
  frozen: number[] | undefined;
}

/** Applies one device's faults to its samples. */
export class FaultInjector {
  readonly #faults: ActiveFault[];
  readonly #model: SignalModel;

  constructor(model: SignalModel, faults: readonly InjectedFault[]) {
    this.#model = model;
    const names = model.sensors.map((s) => s.name);
    this.#faults = faults
      .filter((f) => f.kind !== 'labelled')
      .map((f) => ({ f, idx: f.sensors.map((s) => names.indexOf(s)).filter((i) => i >= 0), frozen: undefined }))
      .sort((a, b) => a.f.start - b.f.start);
  }

  /** Change `values` in place for time `t`; clear `present[i]` for dropped sensors. */
  apply(t: number, values: Float64Array, present: Uint8Array): void {
    for (const a of this.#faults) {
      const f = a.f;
      if (t < f.start) break;
      if (t >= f.end) continue;
      const progress = (t - f.start) / Math.max(1, f.end - f.start);
      const names = this.#model.sensors;
      switch (f.kind) {
        case 'spike':
          for (const i of a.idx) values[i] = values[i]! + f.magnitude * this.#model.scale(i);
          break;
        case 'drift':
          for (const i of a.idx) values[i] = values[i]! + f.magnitude * this.#model.scale(i) * progress;
          break;
        case 'stuck':
          if (!a.frozen) a.frozen = a.idx.map((i) => values[i]!);
          a.idx.forEach((i, k) => (values[i] = a.frozen![k]!));
          break;
        case 'dropout':
          for (const i of a.idx) present[i] = 0;
          break;
        case 'random-failure':
          for (const i of a.idx) values[i] = values[i]! + f.magnitude * this.#model.scale(i);
          break;
        default:
          for (const i of a.idx) values[i] = machineFault(f.kind, names[i]!.name, values[i]!, progress);
      }
    }
  }
}

/** Signatures of AI4I failure modes (see the data set's rules: HDF when the temperature difference is under
 * 8.6 K and speed under 1380 rpm; PWF when power is outside 3500–9000 W; OSF when wear × torque exceeds
 * 11,000 minNm for L products; TWF when the tool wears out at 200–240 min). */
function machineFault(kind: string, sensor: string, v: number, p: number): number {
  switch (kind) {
    case 'tool-wear':
      if (sensor === 'tool_wear') return 205 + 35 * p;
      if (sensor === 'torque') return v + 6 + 6 * p;
      return v;
    case 'heat-dissipation':
      if (sensor === 'process_temp') return v - (3 + 4 * p);
      if (sensor === 'rpm') return Math.min(v, 1330 - 30 * p);
      return v;
    case 'power':
      if (sensor === 'torque') return 62 + 8 * p;
      if (sensor === 'rpm') return v + 150;
      return v;
    case 'overstrain':
      if (sensor === 'torque') return 58 + 6 * p;
      if (sensor === 'tool_wear') return Math.max(v, 190 + 20 * p);
      return v;
    default:
      return v;
  }
}

/**
 * Make `count` random faults over the fleet. Reproducible for one Prng seed. Every fault starts and ends inside
 * [from, to): a fault longer than half the window is shortened to half of it, so that short runs still see their
 * faults end (and recover) before the run does. Starts are spread over the window: fault k starts at a random
 * point of the k-th of `count` equal slots of the possible start times, never all at one moment.
 */
export function planRandomFaults(o: {
  prng: Prng;
  deviceIds: readonly string[];
  sensorNames: readonly string[];
  kinds: readonly DataFaultKind[];
  count: number;
  /** window in which faults start: [from, to) device time, ms */
  from: number;
  to: number;
  durationSec?: number | undefined;
  idPrefix?: string;
}): InjectedFault[] {
  const out: InjectedFault[] = [];
  const machine = new Set<string>(MACHINE_FAULT_KINDS);
  const kinds = o.kinds.filter(
    (k) =>
      !machine.has(k) || MAINTENANCE[k as keyof typeof MAINTENANCE].sensors.every((s) => o.sensorNames.includes(s)),
  );
  if (kinds.length === 0 || o.count <= 0 || o.deviceIds.length === 0) return out;
  const window = Math.max(0, o.to - o.from);
  for (let n = 0; n < o.count; n++) {
    const kind = o.prng.pick(kinds);
    const deviceId = o.prng.pick(o.deviceIds);
    const wanted = (o.durationSec ?? FAULT_DEFAULTS[kind].durationSec) * 1000;
    const durationMs = Math.max(1, Math.min(wanted, Math.floor(window / 2)));
    // possible starts: [from, to - duration]; this fault's slot of them
    const span = Math.max(0, window - durationMs);
    const slot = span / o.count;
    const start = Math.min(o.from + span, Math.floor(o.from + n * slot + o.prng.range(0, slot)));
    out.push(
      describeFault(kind, {
        id: `${o.idPrefix ?? 'f'}${n + 1}`,
        deviceId,
        start,
        durationMs,
        sensor:
          kind === 'dropout'
            ? '*'
            : o.prng.pick(
                o.sensorNames.filter((s) => s !== 'tool_wear').length
                  ? o.sensorNames.filter((s) => s !== 'tool_wear')
                  : o.sensorNames,
              ),
        sensorNames: o.sensorNames,
      }),
    );
  }
  return out.sort((a, b) => a.start - b.start);
}
