import { describe, expect, it } from 'vitest';
import { describeFault, FaultInjector, MAINTENANCE, planRandomFaults } from '../../../simulator/faults/data-faults.ts';
import { Prng } from '../../../simulator/prng.ts';
import { DEFAULT_SENSORS, SignalModel } from '../../../simulator/signal-model.ts';
import { SyntheticSource } from '../../../simulator/virtual-device.ts';

const names = DEFAULT_SENSORS.map((s) => s.name);

function series(
  faults: ReturnType<typeof describeFault>[],
  seconds = 100,
): { values: number[][]; present: number[][] } {
  const src = new SyntheticSource(new SignalModel(DEFAULT_SENSORS, new Prng(9), 0), faults);
  const v = new Float64Array(names.length);
  const p = new Uint8Array(names.length);
  const values: number[][] = [];
  const present: number[][] = [];
  for (let t = 0; t < seconds; t++) {
    src.sample(t * 1000, v, p);
    values.push(Array.from(v));
    present.push(Array.from(p));
  }
  return { values, present };
}

describe('data faults', () => {
  it('spike, drift, stuck and dropout change exactly their window', () => {
    const clean = series([]);
    const mk = (kind: 'spike' | 'drift' | 'stuck' | 'dropout', sensor: string) =>
      describeFault(kind, { id: kind, deviceId: 'd', start: 40_000, durationMs: 10_000, sensor, sensorNames: names });
    const spiked = series([mk('spike', 'torque')]);
    expect(spiked.values[39]).toEqual(clean.values[39]);
    expect(spiked.values[45]![3]! - clean.values[45]![3]!).toBeGreaterThan(20);
    expect(spiked.values[50]).toEqual(clean.values[50]);

    const drifted = series([mk('drift', 'air_temp')]);
    const d1 = drifted.values[41]![0]! - clean.values[41]![0]!;
    const d9 = drifted.values[49]![0]! - clean.values[49]![0]!;
    expect(d9).toBeGreaterThan(d1);

    const stuck = series([mk('stuck', 'rpm')]);
    const frozen = new Set(stuck.values.slice(40, 50).map((r) => r[2]));
    expect(frozen.size).toBe(1);
    expect(new Set(clean.values.slice(40, 50).map((r) => r[2])).size).toBeGreaterThan(1);

    const dropped = series([
      describeFault('dropout', { id: 'x', deviceId: 'd', start: 40_000, durationMs: 10_000, sensorNames: names }),
    ]);
    expect(dropped.present[45]).toEqual([0, 0, 0, 0, 0]);
    expect(dropped.present[50]).toEqual([1, 1, 1, 1, 1]);
  });

  it('machine faults carry the AI4I failure mode and its maintenance action', () => {
    const f = describeFault('heat-dissipation', { id: 'h', deviceId: 'd', start: 10_000, sensorNames: names });
    expect(f.failureMode).toBe('HDF');
    expect(f.action).toBe('restore cooling');
    expect(f.sensors).toEqual(['process_temp', 'rpm']);
    const { values } = series([f], 80);
    // HDF signature: speed under 1380 rpm and a smaller temperature difference
    expect(values[30]![2]!).toBeLessThan(1380);
    expect(MAINTENANCE['tool-wear'].action).toBe('replace tool');
    const tw = series([describeFault('tool-wear', { id: 't', deviceId: 'd', start: 10_000, sensorNames: names })], 80);
    expect(tw.values[30]![4]!).toBeGreaterThanOrEqual(200);
  });

  it('names the missing sensor when a fault does not fit the fleet', () => {
    expect(() => describeFault('power', { id: 'p', deviceId: 'd', start: 0, sensorNames: ['temp'] })).toThrow(
      /needs sensor\(s\) torque, rpm/,
    );
    expect(() =>
      describeFault('spike', { id: 'p', deviceId: 'd', start: 0, sensor: 'nope', sensorNames: ['temp'] }),
    ).toThrow(/sensor "nope"/);
  });

  it('plans random faults reproducibly inside the window', () => {
    const mk = () =>
      planRandomFaults({
        prng: new Prng(4),
        deviceIds: ['a', 'b', 'c'],
        sensorNames: names,
        kinds: ['spike', 'drift', 'power'],
        count: 20,
        from: 1000,
        to: 600_000,
      });
    const a = mk();
    expect(a).toEqual(mk());
    expect(a).toHaveLength(20);
    for (const f of a) {
      expect(f.start).toBeGreaterThanOrEqual(1000);
      expect(f.end).toBeLessThanOrEqual(600_000);
      expect(['a', 'b', 'c']).toContain(f.deviceId);
    }
  });

  it('random faults in a short run are spread over it and all end before it does', () => {
    // a 30-second run: faults may start in [3 s, 27 s); the kinds' default durations (30-60 s) are longer than that
    const from = 3000;
    const to = 27_000;
    const faults = planRandomFaults({
      prng: new Prng(7),
      deviceIds: ['a', 'b'],
      sensorNames: names,
      kinds: ['spike', 'drift', 'stuck', 'power'],
      count: 6,
      from,
      to,
    });
    expect(faults).toHaveLength(6);
    for (const f of faults) {
      expect(f.start).toBeGreaterThanOrEqual(from);
      expect(f.end).toBeLessThanOrEqual(to);
      expect(f.end).toBeGreaterThan(f.start);
    }
    // not one shared moment: six distinct starts, spread over most of the possible range
    const starts = faults.map((f) => f.start);
    expect(new Set(starts).size).toBe(6);
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThan((to - from) / 4);
  });

  it('FaultInjector ignores faults that have not started', () => {
    const m = new SignalModel(DEFAULT_SENSORS, new Prng(1), 0);
    const inj = new FaultInjector(m, [
      describeFault('spike', { id: 's', deviceId: 'd', start: 5000, sensor: 'rpm', sensorNames: names }),
    ]);
    const v = new Float64Array([1, 2, 3, 4, 5]);
    const p = new Uint8Array(5).fill(1);
    inj.apply(1000, v, p);
    expect(Array.from(v)).toEqual([1, 2, 3, 4, 5]);
  });
});
