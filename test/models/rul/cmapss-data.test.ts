import { describe, expect, it } from 'vitest';
import {
  FD001_SENSORS,
  intervalCoverage,
  lastWindows,
  nasaScore,
  parseCmapss,
  parseRulFile,
  piecewiseRul,
  rmse,
  sensorIndexes,
  trainingWindows,
  truncateUnits,
  unitFolds,
} from '../../../models/rul/cmapss-data.ts';
import type { CmapssUnit } from '../../../models/rul/cmapss-data.ts';
import { scorePredictions } from '../../../models/rul/evaluate-rul.ts';
import { syntheticCmapss } from './synthetic-cmapss.ts';

/** a unit whose sensor j at cycle c (1-based) is 1000 * j + c, so windows can be read back exactly */
function countingUnit(unit: number, length: number): CmapssUnit {
  const sensors = new Float64Array(length * 21);
  for (let r = 0; r < length; r++) for (let j = 0; j < 21; j++) sensors[r * 21 + j] = 1000 * j + r + 1;
  return { unit, length, sensors };
}

describe('piecewise-linear target', () => {
  it('is the cap while healthy, then remaining cycles down to 0 at failure (hand-computed)', () => {
    // unit of 200 cycles, cap 125: RUL = min(125, 200 - cycle)
    expect(piecewiseRul(1, 200, 125)).toBe(125);
    expect(piecewiseRul(75, 200, 125)).toBe(125);
    expect(piecewiseRul(76, 200, 125)).toBe(124);
    expect(piecewiseRul(150, 200, 125)).toBe(50);
    expect(piecewiseRul(199, 200, 125)).toBe(1);
    expect(piecewiseRul(200, 200, 125)).toBe(0);
    // a unit shorter than the cap never reaches it
    expect(piecewiseRul(1, 100, 125)).toBe(99);
  });

  it('labels every training window with the target at its last cycle', () => {
    const u = countingUnit(1, 40);
    const cols = sensorIndexes(['s2', 's3']);
    const w = trainingWindows([u], 30, cols, 5);
    expect(w.rows).toBe(11); // windows ending at cycles 30..40
    // remaining cycles 10, 9, …, 0, capped at 5
    expect(Array.from(w.y)).toEqual([5, 5, 5, 5, 5, 5, 4, 3, 2, 1, 0]);
    // first window: cycles 1..30 of s2 (index 1) and s3 (index 2), row-major cycle then sensor
    expect(w.x[0]).toBe(1001);
    expect(w.x[1]).toBe(2001);
    expect(w.x[58]).toBe(1030);
    expect(w.x[59]).toBe(2030);
  });

  it('leaves out windows with more than maxRul cycles left', () => {
    const u = countingUnit(1, 40);
    const w = trainingWindows([u], 30, sensorIndexes(['s2']), 5, 4);
    // windows ending at cycles 36..40 (4..0 cycles left)
    expect(w.rows).toBe(5);
    expect(Array.from(w.y)).toEqual([4, 3, 2, 1, 0]);
    expect(w.x[29]).toBe(1036);
    // a short unit still gives its one (padded) window
    expect(trainingWindows([countingUnit(2, 20)], 30, sensorIndexes(['s2']), 125, 4).rows).toBe(1);
  });
});

describe('scores (hand-computed)', () => {
  it('RMSE', () => {
    // errors 0, 0, -2: sqrt(4 / 3)
    expect(rmse([1, 2, 3], [1, 2, 5])).toBeCloseTo(Math.sqrt(4 / 3), 12);
    expect(rmse([10], [10])).toBe(0);
  });

  it('NASA score: late predictions cost exp(d/10) - 1, early ones exp(-d/13) - 1', () => {
    // d = +10 (late by 10 cycles): e - 1 = 1.718281828...
    expect(nasaScore([30], [20])).toBeCloseTo(1.718281828459045, 12);
    // d = -13 (early by 13 cycles): e - 1 as well
    expect(nasaScore([7], [20])).toBeCloseTo(1.718281828459045, 12);
    // d = -10: exp(10/13) - 1 = 1.1581055...
    expect(nasaScore([10], [20])).toBeCloseTo(1.1581055, 6);
    // exact prediction costs nothing; the score sums over units
    expect(nasaScore([20, 30, 10], [20, 20, 20])).toBeCloseTo(1.718281828459045 + 1.1581055, 6);
    // asymmetry: 20 cycles late (e^2 - 1 = 6.389) costs more than 20 early (e^(20/13) - 1 = 3.657)
    expect(nasaScore([40], [20])).toBeCloseTo(6.38905609893065, 10);
    expect(nasaScore([0], [20])).toBeCloseTo(3.6574195, 6);
  });

  it('coverage counts the true RUL inside [p10, p90], bounds included', () => {
    expect(intervalCoverage([0, 10, 10, 30], [20, 20, 20, 40], [20, 9, 15, 50])).toBe(0.5);
  });

  it('refuses series of different lengths', () => {
    expect(() => rmse([1, 2], [1])).toThrow(/same length/);
    expect(() => nasaScore([], [])).toThrow(/non-empty/);
  });

  it('scorePredictions puts them together', () => {
    const s = scorePredictions([
      { unit: 1, fold: 0, cycles: 50, trueRul: 20, rul: 30, p10: 10, p90: 25 },
      { unit: 2, fold: 0, cycles: 50, trueRul: 20, rul: 7, p10: 0, p90: 40 },
    ]);
    expect(s.rmse).toBeCloseTo(Math.sqrt((100 + 169) / 2), 12);
    expect(s.nasaScore).toBeCloseTo(2 * 1.718281828459045, 12);
    expect(s.coverage).toBe(1);
    expect(s.meanIntervalWidth).toBe(27.5);
  });
});

describe('C-MAPSS files', () => {
  it('parses the NASA layout (trailing spaces, units in order) and the RUL file', () => {
    const d = syntheticCmapss({ trainUnits: 3, testUnits: 2, seed: 5 });
    const train = parseCmapss(d.train, 'train.txt');
    expect(train.map((u) => u.unit)).toEqual([1, 2, 3]);
    const test = parseCmapss(d.test, 'test.txt');
    expect(test).toHaveLength(2);
    expect(parseRulFile(d.rul, 'rul.txt')).toEqual(d.trueRul);
    expect(train[0]!.sensors.length).toBe(train[0]!.length * 21);
  });

  it('names the line and the problem', () => {
    const good = '1 1 0 0 100 ' + Array.from({ length: 21 }, () => '1.0').join(' ');
    expect(() => parseCmapss(`${good}\n1 2 0 0 100 1 2 3`, 'x.txt')).toThrow(/x\.txt:2: expected 26 .* got 8/);
    expect(() => parseCmapss(`${good}\n${good.replace(/^1 1/, '1 3')}`, 'x.txt')).toThrow(
      /x\.txt:2: unit 1 cycle 3 follows cycle 1/,
    );
    expect(() => parseCmapss(good.replace('1.0', 'abc'), 'x.txt')).toThrow(
      /x\.txt:1: column 6 is not a number \("abc"\)/,
    );
    expect(() => parseCmapss(`${good}\n${good.replace(/^1/, '2')}\n${good}`, 'x.txt')).toThrow(/unit 1 appears again/);
    expect(() => parseCmapss('\n', 'x.txt')).toThrow(expect.objectContaining({ code: 'EL_ERR_RUL_DATA' }));
    expect(() => parseRulFile('12\n-3\n', 'r.txt')).toThrow(/r\.txt:2: expected one integer/);
  });
});

describe('windows, folds and cuts', () => {
  it('scores the window ending at the last cycle, front-padding short units with their first cycle', () => {
    const cols = sensorIndexes(['s2']);
    const x = lastWindows([countingUnit(1, 5), countingUnit(2, 40)], 8, cols);
    expect(Array.from(x.subarray(0, 8))).toEqual([1001, 1001, 1001, 1001, 1002, 1003, 1004, 1005]);
    expect(Array.from(x.subarray(8, 16))).toEqual([1033, 1034, 1035, 1036, 1037, 1038, 1039, 1040]);
  });

  it('folds hold out whole units, each unit exactly once, balanced, seeded', () => {
    const f = unitFolds(100, 5, 1);
    expect(f).toHaveLength(100);
    for (let k = 0; k < 5; k++) expect(f.filter((x) => x === k)).toHaveLength(20);
    expect(unitFolds(100, 5, 1)).toEqual(f);
    expect(unitFolds(100, 5, 2)).not.toEqual(f);
    expect(() => unitFolds(3, 5, 1)).toThrow(/folds must be an integer in 2\.\.3/);
  });

  it('cuts keep the first cycles, leave at least the window, and the cut-off cycles are the true RUL', () => {
    const units = [countingUnit(1, 200), countingUnit(2, 60), countingUnit(3, 31)];
    const { units: cut, rul } = truncateUnits(units, { seed: 3, minCycles: 30 });
    cut.forEach((c, i) => {
      expect(c.length + rul[i]!).toBe(units[i]!.length);
      expect(c.length).toBeGreaterThanOrEqual(30);
      expect(rul[i]).toBeGreaterThanOrEqual(1);
      expect(rul[i]).toBeLessThanOrEqual(145);
      expect(c.sensors[0]).toBe(units[i]!.sensors[0]);
    });
    expect(rul[2]).toBe(1);
    expect(truncateUnits(units, { seed: 3 }).rul).toEqual(rul);
  });

  it('the FD001 sensor set drops the seven constant sensors', () => {
    expect(FD001_SENSORS).toHaveLength(14);
    for (const s of ['s1', 's5', 's6', 's10', 's16', 's18', 's19']) expect(FD001_SENSORS).not.toContain(s);
    expect(() => sensorIndexes(['s22'])).toThrow(/unknown C-MAPSS sensor "s22"/);
  });
});
