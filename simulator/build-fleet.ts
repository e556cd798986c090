/**
 * Builds the virtual devices of a run and the ground truth of every data fault, from resolved options and a start
 * time. Pure and reproducible: the same seed gives the same signals, the same fault schedule and ground truth.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import { describeFault, planRandomFaults, type InjectedFault } from './faults/data-faults.ts';
import { Prng } from './prng.ts';
import type { ReplaySeries } from './replay/csv-replay.ts';
import { DEFAULT_SENSORS, SignalModel, type SensorSpec } from './signal-model.ts';
import type { DataFaultSpec, ResolvedSimulationOptions } from './simulation-options.ts';
import { isInfraFault } from './simulation-options.ts';
import { ReplaySource, SyntheticSource, VirtualDevice } from './virtual-device.ts';

export interface BuiltFleet {
  devices: VirtualDevice[];
  groundTruth: InjectedFault[];
  sensors: string[];
}

export function deviceIds(prefix: string, n: number): string[] {
  const width = Math.max(4, String(n).length);
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

export function buildFleet(
  o: ResolvedSimulationOptions,
  startMs: number,
  replay?: readonly ReplaySeries[],
): BuiltFleet {
  const root = new Prng(o.seed);
  const ids = deviceIds(o.deviceIdPrefix, o.devices);
  const periodMs = 1000 / o.messageRate / o.samplesPerMessage;
  if (replay && replay.length > 0) {
    // device i plays series i % n; devices sharing a series start at different rows
    const groundTruth: InjectedFault[] = [];
    const endMs = startMs + o.durationSec * 1000;
    const devices = ids.map((id, i) => {
      const s = replay[i % replay.length]!;
      const offset = (Math.floor(i / replay.length) * 97) % s.rows;
      // rows played at startMs + k * period; a label on rows [a, b] becomes a fault at the times they play
      for (let loop = 0; ; loop++) {
        const loopStart = startMs + (loop * s.rows - offset) * periodMs;
        if (loopStart > endMs) break;
        for (const l of s.labels) {
          const a = loopStart + l.fromRow * periodMs;
          const b = loopStart + (l.toRow + 1) * periodMs;
          if (b < startMs || a > endMs) continue;
          groundTruth.push({
            id: `${id}/${s.name}/${l.fromRow}/${loop}`,
            deviceId: id,
            kind: l.kind as InjectedFault['kind'],
            sensors: [...s.sensors],
            start: Math.round(Math.max(a, startMs)),
            end: Math.round(b),
            magnitude: 0,
            action: l.action,
            failureMode: l.failureMode,
          });
        }
      }
      return new VirtualDevice(id, new ReplaySource(s, offset));
    });
    return { devices, groundTruth: groundTruth.sort((a, b) => a.start - b.start), sensors: [...replay[0]!.sensors] };
  }
  const sensors: readonly SensorSpec[] = o.sensors
    ? o.sensors.map((s) => ({ ...s, min: s.min, max: s.max }))
    : DEFAULT_SENSORS;
  const names = sensors.map((s) => s.name);
  const faultPrng = root.fork('faults');
  const truth: InjectedFault[] = [];
  let n = 0;
  for (const f of o.faults) {
    if (isInfraFault(f)) continue;
    const d = f as DataFaultSpec;
    let deviceId: string;
    if (d.device === undefined) deviceId = faultPrng.pick(ids);
    else if (typeof d.device === 'number') {
      if (d.device >= ids.length)
        throw new EdgeloopError(
          'EL_ERR_SIM_OPTIONS',
          `fault ${d.kind}: device index ${d.device} is out of range (devices=${ids.length})`,
        );
      deviceId = ids[d.device]!;
    } else {
      if (!ids.includes(d.device))
        throw new EdgeloopError(
          'EL_ERR_SIM_OPTIONS',
          `fault ${d.kind}: no device "${d.device}" (ids are ${ids[0]} .. ${ids.at(-1)})`,
        );
      deviceId = d.device;
    }
    truth.push(
      describeFault(d.kind, {
        id: `f${++n}`,
        deviceId,
        start: Math.round(startMs + d.atSec * 1000),
        durationMs: d.durationSec === undefined ? undefined : d.durationSec * 1000,
        sensor: d.sensor,
        magnitude: d.magnitude,
        sensorNames: names,
      } as Parameters<typeof describeFault>[1]),
    );
  }
  if (o.randomFaults && o.randomFaults.count > 0) {
    truth.push(
      ...planRandomFaults({
        prng: faultPrng,
        deviceIds: ids,
        sensorNames: names,
        kinds: o.randomFaults.kinds,
        count: o.randomFaults.count,
        // leave the first 10 % (warm-up of windowed models) and the last 10 % free
        from: startMs + o.durationSec * 100,
        to: startMs + o.durationSec * 900,
        durationSec: o.randomFaults.durationSec,
        idPrefix: 'r',
      }),
    );
  }
  const byDevice = new Map<string, InjectedFault[]>();
  for (const f of truth) {
    const l = byDevice.get(f.deviceId) ?? [];
    l.push(f);
    byDevice.set(f.deviceId, l);
  }
  const devices = ids.map((id) => {
    const model = new SignalModel(sensors, root.fork(id), startMs);
    return new VirtualDevice(id, new SyntheticSource(model, byDevice.get(id) ?? []));
  });
  return { devices, groundTruth: truth.sort((a, b) => a.start - b.start), sensors: names };
}
