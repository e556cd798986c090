/** The maintenance scenarios' pure parts: degradation wear, C-MAPSS replay parsing, and the live-path score. */
import { describe, expect, it } from 'vitest';
import { CmapssSource, parseCmapssEngines } from '../../simulator/cmapss-replay.ts';
import { Prng } from '../../simulator/prng.ts';
import { DegradationOptionsSchema, DegradationSource } from '../../simulator/scenarios/degradation.ts';
import { scoreMaintenance } from '../../simulator/scenarios/maintenance-score.ts';
import { resolveSimulationOptions } from '../../simulator/simulation-options.ts';

/** A C-MAPSS row: unit, cycle, 3 settings, 21 sensors (sensor k = 100 * k + cycle). */
function row(unit: number, cycle: number): string {
  const sensors = Array.from({ length: 21 }, (_, k) => 100 * (k + 1) + cycle);
  return [unit, cycle, 0.001 * cycle, -0.0002, 100, ...sensors].join(' ');
}

describe('DegradationSource', () => {
  it('wears toward failure at a seeded life, then stops', () => {
    const o = DegradationOptionsSchema.parse({ minLifeCycles: 150, maxLifeCycles: 200, initialWear: 0.5 });
    const a = new DegradationSource(new Prng(3), o);
    const b = new DegradationSource(new Prng(3), o);
    expect(a.life).toBe(b.life);
    expect(a.life).toBeGreaterThanOrEqual(150);
    expect(a.life).toBeLessThanOrEqual(200);
    expect(a.startCycle).toBeLessThanOrEqual(a.life / 2);
    expect(a.cycles).toBe(a.life - a.startCycle);
    const v = new Float64Array(24);
    const p = new Uint8Array(24);
    const s4 = a.sensors.indexOf('s4');
    const series: number[] = [];
    for (let i = 0; i < a.cycles; i++) {
      a.sample(0, v, p);
      expect(p.every((x) => x === 1)).toBe(true);
      series.push(v[s4]!);
    }
    // s4 (HPC outlet temperature) rises about 26 K toward failure in FD001
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(series.slice(-10)) - mean(series.slice(0, 10))).toBeGreaterThan(10);
    a.sample(0, v, p);
    expect(p.every((x) => x === 0)).toBe(true);
    expect(a.sent).toBe(a.cycles);
  });
});

describe('C-MAPSS replay', () => {
  const text = [row(1, 1), row(1, 2), row(1, 3), row(2, 1), row(2, 2)].join('\n');

  it('plays each engine once with its settings and 21 sensors, then stops', () => {
    const [e1, e2] = parseCmapssEngines(text, 'tiny.txt', { text: '7\n12\n', source: 'rul.txt' });
    expect(e1).toMatchObject({ unit: 1, cycles: 3, rulAfterLast: 7, failsAtEnd: false });
    expect(e2).toMatchObject({ unit: 2, cycles: 2, rulAfterLast: 12 });
    const src = new CmapssSource(e1!);
    const v = new Float64Array(24);
    const p = new Uint8Array(24);
    src.sample(0, v, p);
    src.sample(0, v, p);
    expect(src.sensors.slice(0, 4)).toEqual(['setting1', 'setting2', 'setting3', 's1']);
    expect([...v.slice(0, 5)]).toEqual([0.002, -0.0002, 100, 102, 202]);
    expect(v[23]).toBe(2102);
    src.sample(0, v, p);
    src.sample(0, v, p);
    expect(p.every((x) => x === 0)).toBe(true);
    expect(parseCmapssEngines(text, 'tiny.txt')[0]).toMatchObject({ rulAfterLast: 0, failsAtEnd: true });
  });

  it('names the file and line of bad input', () => {
    expect(() => parseCmapssEngines(`${row(1, 1)}\n1 3 0 0`, 'bad.txt')).toThrow(/bad.txt:2: expected 26/);
    expect(() => parseCmapssEngines(text, 't.txt', { text: '5\n', source: 'r.txt' })).toThrow(
      /2 units but r.txt has 1 RUL values/,
    );
  });
});

describe('scoreMaintenance', () => {
  it('scores the served RUL at the last reading and the alert lead times (hand-computed)', () => {
    const truth = [
      // failed: sent all 100 cycles, true RUL 0 at the last one
      { deviceId: 'a', cycles: 100, rulAfterLast: 0, failsAtEnd: true, sent: 100 },
      { deviceId: 'b', cycles: 80, rulAfterLast: 0, failsAtEnd: true, sent: 80 },
      // still running at the end of the run: 50 of 120 cycles sent, true RUL 70 after the 50th
      { deviceId: 'c', cycles: 120, rulAfterLast: 0, failsAtEnd: true, sent: 50 },
    ];
    const served = [
      { deviceId: 'a', status: 'ok' as const, rul: 3, p10: -2, p90: 8, cycles: 100 },
      { deviceId: 'b', status: 'ok' as const, rul: -4, p10: -9, p90: -1, cycles: 80 },
      { deviceId: 'c', status: 'ok' as const, rul: 66, p10: 50, p90: 90, cycles: 50 },
    ];
    const alerts = [
      { deviceId: 'a', state: 'firing' as const, cycles: 75 },
      { deviceId: 'a', state: 'firing' as const, cycles: 90 },
      { deviceId: 'c', state: 'firing' as const, cycles: 40 },
    ];
    const s = scoreMaintenance(truth, served, alerts, { horizon: 20, cyclesPerSec: 5 });
    // errors 3, -4, -4: RMSE sqrt(41/3); at failure sqrt(25/2)
    expect(s.rmseAtLastReading).toBeCloseTo(Math.sqrt(41 / 3), 12);
    expect(s.rmseAtFailure).toBeCloseTo(Math.sqrt(12.5), 12);
    // a: 0 in [-2, 8]; b: 0 not in [-9, -1]; c: 70 in [50, 90]
    expect(s.coverage).toBeCloseTo(2 / 3, 12);
    // a alerted first at cycle 75: 25 cycles before failure, early (> 20); b missed; c did not fail
    expect(s.alerts).toMatchObject({
      failed: 2,
      alerted: 1,
      missed: 1,
      early: 1,
      leadCycles: { mean: 25, min: 25, max: 25 },
      leadSecondsMean: 5,
      alertedWithoutFailure: 1,
    });
    expect(s.perDevice.find((d) => d.deviceId === 'c')).toMatchObject({
      failed: false,
      trueRul: 70,
      alertLeadCycles: 80,
    });
  });
});

describe('scenario options', () => {
  it('refuses two sources of data and degradation options without the scenario', () => {
    expect(() => resolveSimulationOptions({ scenario: 'degradation', replay: { path: 'x.csv' } })).toThrow(
      /replay and scenario cannot be combined/,
    );
    expect(() => resolveSimulationOptions({ degradation: { initialWear: 0.2 } })).toThrow(
      /need scenario "degradation"/,
    );
    expect(() =>
      resolveSimulationOptions({ scenario: 'degradation', degradation: { minLifeCycles: 50, maxLifeCycles: 40 } }),
    ).toThrow(/below minLifeCycles/);
    expect(() => resolveSimulationOptions({ scenario: 'degradation', maintenanceUrl: 'ftp://x' })).toThrow(/http/);
  });
});
