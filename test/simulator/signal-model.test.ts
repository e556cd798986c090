import { describe, expect, it } from 'vitest';
import { Prng } from '../../simulator/prng.ts';
import { DEFAULT_SENSORS, SignalModel } from '../../simulator/signal-model.ts';

function run(seed: number, seconds: number): number[][] {
  const m = new SignalModel(DEFAULT_SENSORS, new Prng(seed), 0);
  const rows: number[][] = [];
  for (let t = 1; t <= seconds; t++) rows.push(Array.from(m.sample(t * 1000)));
  return rows;
}

function corr(a: number[], b: number[]): number {
  const ma = a.reduce((x, y) => x + y) / a.length;
  const mb = b.reduce((x, y) => x + y) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('SignalModel', () => {
  it('is deterministic per seed', () => {
    expect(run(5, 50)).toEqual(run(5, 50));
    expect(run(5, 50)).not.toEqual(run(6, 50));
  });

  it('stays near the sensor levels and drifts where configured', () => {
    const rows = run(3, 3600);
    const col = (i: number): number[] => rows.map((r) => r[i]!);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b) / xs.length;
    expect(mean(col(0))).toBeGreaterThan(295);
    expect(mean(col(0))).toBeLessThan(305);
    expect(mean(col(2))).toBeGreaterThan(1400);
    expect(mean(col(2))).toBeLessThan(1700);
    // tool wear: +30 per hour
    expect(rows[3599]![4]! - rows[0]![4]!).toBeCloseTo(30, 0);
  });

  it('correlates sensors through the shared load: torque up when speed down', () => {
    const rows = run(11, 2000);
    const rpm = rows.map((r) => r[2]!);
    const torque = rows.map((r) => r[3]!);
    expect(corr(rpm, torque)).toBeLessThan(-0.5);
  });

  it('rounds and clamps on finish', () => {
    const m = new SignalModel(
      [
        {
          name: 'x',
          base: 0,
          noise: 1,
          amplitude: 0,
          periodSec: 60,
          driftPerHour: 0,
          loadGain: 0,
          decimals: 1,
          min: -0.5,
          max: 0.5,
        },
      ],
      new Prng(1),
      0,
    );
    expect(m.finish(0, 3.14159)).toBe(0.5);
    expect(m.finish(0, -9)).toBe(-0.5);
    expect(m.finish(0, 0.123)).toBe(0.1);
  });
});
