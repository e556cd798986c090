import { describe, expect, it } from 'vitest';
import { Prng } from '../../../simulator/prng.ts';
import { parseRegimeShift, RegimeShift, shiftCohort } from '../../../simulator/scenarios/regime-shift.ts';
import { DEFAULT_SENSORS, SignalModel } from '../../../simulator/signal-model.ts';
import { SyntheticSource } from '../../../simulator/virtual-device.ts';

const T0 = 1_700_000_000_000;

function pair(spec: ReturnType<typeof parseRegimeShift>) {
  const clean = new SignalModel(DEFAULT_SENSORS, new Prng(3), T0);
  const model = new SignalModel(DEFAULT_SENSORS, new Prng(3), T0);
  return {
    clean: new SyntheticSource(clean, []),
    shifted: new SyntheticSource(model, [], new RegimeShift(spec, model, T0)),
    model,
  };
}

describe('regime shift', () => {
  it('leaves the signal alone before onset and moves it by offset·σ and gain after the ramp', () => {
    const spec = parseRegimeShift({
      onsetSec: 60,
      rampSec: 10,
      sensors: { process_temp: { offset: 4 }, torque: { offset: -2, gain: 1.5 } },
    });
    const { clean, shifted, model } = pair(spec);
    const n = DEFAULT_SENSORS.length;
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    const present = new Uint8Array(n);
    const pt = DEFAULT_SENSORS.findIndex((s) => s.name === 'process_temp');
    const tq = DEFAULT_SENSORS.findIndex((s) => s.name === 'torque');
    for (let s = 0; s < 120; s++) {
      const t = T0 + s * 1000;
      clean.sample(t, a, present);
      shifted.sample(t, b, present);
      if (s < 60) {
        expect([...b]).toEqual([...a]);
        continue;
      }
      // the other sensors never change
      for (let i = 0; i < n; i++) if (i !== pt && i !== tq) expect(b[i]).toBe(a[i]);
      if (s >= 70) {
        // rounding to the sensor's decimals: within half a unit of the last decimal
        expect(Math.abs(b[pt]! - (a[pt]! + 4 * model.scale(pt)))).toBeLessThanOrEqual(0.006);
        const base = DEFAULT_SENSORS[tq]!.base;
        expect(Math.abs(b[tq]! - (base + 1.5 * (a[tq]! - base) - 2 * model.scale(tq)))).toBeLessThanOrEqual(0.011);
      }
    }
  });

  it('ramps in linearly', () => {
    const spec = parseRegimeShift({ onsetSec: 10, rampSec: 20, sensors: { rpm: { offset: 1 } } });
    const r = new RegimeShift(spec, new SignalModel(DEFAULT_SENSORS, new Prng(1), T0), T0);
    expect(r.level(T0 + 9_999)).toBe(0);
    expect(r.level(T0 + 10_000)).toBe(0);
    expect(r.level(T0 + 20_000)).toBeCloseTo(0.5, 12);
    expect(r.level(T0 + 40_000)).toBe(1);
  });

  it('chooses the cohort by share or by name, and refuses what the fleet does not have', () => {
    const fleet = Array.from({ length: 10 }, (_, i) => `dev-${i}`);
    expect(shiftCohort(parseRegimeShift({ share: 0.25 }), fleet)).toEqual(['dev-0', 'dev-1', 'dev-2']);
    expect(shiftCohort(parseRegimeShift({ devices: ['dev-7', 'dev-2'] }), fleet)).toEqual(['dev-2', 'dev-7']);
    expect(() => shiftCohort(parseRegimeShift({ devices: ['dev-7', 'x'] }), fleet)).toThrow(/shift.devices: x not in/);
    expect(
      () =>
        new RegimeShift(
          parseRegimeShift({ sensors: { humidity: { offset: 1 } } }),
          new SignalModel(DEFAULT_SENSORS, new Prng(1), T0),
          T0,
        ),
    ).toThrow(/shift.sensors.humidity: the fleet has no sensor "humidity"/);
    expect(() => parseRegimeShift({ share: 0 })).toThrow(/shift\.share: /);
    expect(() => parseRegimeShift({ sensors: { rpm: { gain: -1 } } })).toThrow(/shift\.sensors\.rpm\.gain: /);
  });
});
