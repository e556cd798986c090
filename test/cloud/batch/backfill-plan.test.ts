import { describe, expect, it } from 'vitest';
import { planBackfill, type DeviceHourCount } from '../../../cloud/batch/backfill-plan.ts';

const DAY = 86_400_000;
const H = 3_600_000;
const D = Date.parse('2026-11-30T00:00:00Z');

function counts(perDevice: Record<string, number>, hours = 24): DeviceHourCount[] {
  return Object.entries(perDevice).flatMap(([device, total]) =>
    Array.from({ length: hours }, (_, h) => ({ device, hour: D + h * H, rows: total / hours })),
  );
}

describe('planBackfill', () => {
  it('packs devices in id order into units of about targetRows, one day at a time', () => {
    const c = [
      ...counts({ a: 240, b: 240, c: 240, d: 240 }),
      ...counts({ a: 48 }).map((x) => ({ ...x, hour: x.hour + DAY })),
    ];
    const p = planBackfill(c, { from: D, to: D + 2 * DAY }, { targetRows: 500 });
    expect(p.units.map((u) => [u.id, u.first, u.last, u.rows, u.split])).toEqual([
      ['2026-11-30/0000', 'a', 'b', 480, false],
      ['2026-11-30/0001', 'c', 'd', 480, false],
      ['2026-12-01/0000', 'a', 'a', 48, false],
    ]);
    expect(p.units.every((u) => u.to - u.from === DAY)).toBe(true);
    expect(p.skewed).toEqual([]);
  });

  it('splits a device with 100x the median into sub-ranges of its day, by its hourly counts', () => {
    const fleet: Record<string, number> = { heavy: 24 * 1000 };
    for (let i = 0; i < 9; i++) fleet[`d${i}`] = 240;
    const p = planBackfill(counts(fleet), { from: D, to: D + DAY }, { targetRows: 6000 });
    const heavy = p.units.filter((u) => u.first === 'heavy');
    expect(heavy.map((u) => [u.from - D, u.to - D, u.rows])).toEqual([
      [0, 6 * H, 6000],
      [6 * H, 12 * H, 6000],
      [12 * H, 18 * H, 6000],
      [18 * H, 24 * H, 6000],
    ]);
    expect(heavy.every((u) => u.split && u.last === 'heavy')).toBe(true);
    expect(p.skewed).toEqual([{ date: '2026-11-30', device: 'heavy', rows: 24_000, medianRows: 240, units: 4 }]);
    // the light devices (they sort before 'heavy') stay one unit
    expect(p.units.filter((u) => !u.split).map((u) => [u.first, u.last, u.rows])).toEqual([['d0', 'd8', 2160]]);
  });

  it('cuts an hour that alone exceeds the target evenly in time, on the alignment', () => {
    const c: DeviceHourCount[] = [
      { device: 'x', hour: D, rows: 10 },
      { device: 'hot', hour: D + 5 * H, rows: 4000 },
      { device: 'y', hour: D, rows: 10 },
    ];
    const p = planBackfill(c, { from: D, to: D + DAY }, { targetRows: 1000, alignMs: 300_000 });
    const hot = p.units.filter((u) => u.first === 'hot');
    // hours 0-4 (no readings) form one range, hour 5 is cut in 4 (12 slots of 5 min: 3 each), then the rest of the day
    expect(hot.map((u) => [(u.from - D) / 60_000, (u.to - D) / 60_000, u.rows])).toEqual([
      [0, 300, 0],
      [300, 315, 1000],
      [315, 330, 1000],
      [330, 345, 1000],
      [345, 360, 1000],
      [360, 1440, 0],
    ]);
    // every instant of the day is in exactly one range
    for (let i = 1; i < hot.length; i++) expect(hot[i]!.from).toBe(hot[i - 1]!.to);
    // 'hot' sorts before them: x and y stay one contiguous id range
    expect(p.units.filter((u) => !u.split).map((u) => [u.first, u.last])).toEqual([['x', 'y']]);
  });

  it('refuses a range that is not whole UTC days', () => {
    expect(() => planBackfill([], { from: D + H, to: D + DAY })).toThrow(/whole UTC days/);
    expect(() => planBackfill([], { from: D, to: D })).toThrow(/from < to/);
    expect(() => planBackfill([], { from: D, to: D + DAY }, { alignMs: 7 * 60_000 })).toThrow(/alignMs/);
  });
});
