/** The pure parts of the maintenance part: per-device sequences, alert hysteresis, cycle rate and service time. */
import { describe, expect, it } from 'vitest';
import { AlertTracker, cycleRate, suggestedServiceAt } from '../../../cloud/maintenance/alert-tracker.ts';
import { SequenceBuffer } from '../../../cloud/maintenance/sequence-buffer.ts';
import type { Reading } from '../../../protocol/messages.ts';

let seq = 0;
function cycle(ts: number, values: Record<string, number>): Reading[] {
  return Object.entries(values).map(([sensor, value]) => ({ seq: ++seq, sensor, ts, value }));
}

describe('SequenceBuffer', () => {
  it('keeps the last N complete cycles of the named sensors, oldest first', () => {
    const b = new SequenceBuffer({ sensors: ['a', 'b'], window: 3 });
    for (let t = 1; t <= 2; t++) expect(b.observe('d1', cycle(t * 1000, { b: t * 10, a: t, other: 99 }))).toBe(1);
    expect(b.ready('d1')).toBe(false);
    const out = new Float32Array(6);
    expect(b.writeWindow('d1', out)).toBe(false);
    for (let t = 3; t <= 5; t++) b.observe('d1', cycle(t * 1000, { a: t, b: t * 10 }));
    expect(b.ready('d1')).toBe(true);
    expect(b.writeWindow('d1', out)).toBe(true);
    expect([...out]).toEqual([3, 30, 4, 40, 5, 50]);
    expect(b.get('d1')).toEqual({ deviceId: 'd1', cycles: 5, firstCycleAt: 1000, lastCycleAt: 5000 });
  });

  it('ignores repeated and late readings, drops incomplete cycles', () => {
    const b = new SequenceBuffer({ sensors: ['a', 'b'], window: 2 });
    const first = cycle(1000, { a: 1, b: 10 });
    b.observe('d', first);
    // the same message again (at-least-once into the processor): nothing changes
    expect(b.observe('d', first)).toBe(0);
    // a cycle missing b, then a newer complete one
    b.observe('d', cycle(2000, { a: 2 }));
    b.observe('d', cycle(3000, { a: 3, b: 30 }));
    const out = new Float32Array(4);
    b.writeWindow('d', out);
    expect([...out]).toEqual([1, 10, 3, 30]);
    // two cycles stamped with the same millisecond stay two cycles
    b.observe('d', cycle(4000, { a: 4, b: 40 }));
    b.observe('d', cycle(4000, { b: 50, a: 5 }));
    b.writeWindow('d', out);
    expect([...out]).toEqual([4, 40, 5, 50]);
    // a cycle with a sensor twice before it is complete is dropped
    b.observe('d', [...cycle(5000, { a: 6 }), ...cycle(5000, { a: 7, b: 70 })]);
    b.writeWindow('d', out);
    expect([...out]).toEqual([5, 50, 7, 70]);
    expect(b.stats()).toMatchObject({ cycles: 5, stale: 2, incomplete: 2 });
  });

  it('evicts the least recently updated device beyond maxDevices', () => {
    const b = new SequenceBuffer({ sensors: ['a'], window: 1, maxDevices: 2 });
    b.observe('x', cycle(1, { a: 1 }));
    b.observe('y', cycle(1, { a: 1 }));
    b.observe('x', cycle(2, { a: 2 }));
    b.observe('z', cycle(1, { a: 1 }));
    expect([...b.deviceIds()]).toEqual(['x', 'z']);
    expect(b.stats().evicted).toBe(1);
  });

  it('refuses bad options', () => {
    expect(() => new SequenceBuffer({ sensors: [], window: 3 })).toThrow(/sensors/);
    expect(() => new SequenceBuffer({ sensors: ['a', 'a'], window: 3 })).toThrow(/distinct/);
    expect(() => new SequenceBuffer({ sensors: ['a'], window: 0 })).toThrow(/window/);
    expect(() => new SequenceBuffer({ sensors: ['a'], window: 2, maxDevices: 0 })).toThrow(/maxDevices/);
  });
});

describe('AlertTracker', () => {
  it('fires once at p10 <= horizon and resolves only above horizon + hysteresis', () => {
    const t = new AlertTracker({ horizon: 30, hysteresis: 10 });
    const p = (p10: number) => ({ rul: p10 + 10, p10, p90: p10 + 20 });
    expect(t.update('d', p(31), 1, 40)).toBeUndefined();
    expect(t.update('d', p(30), 2, 41)).toMatchObject({ state: 'firing', at: 2, cycles: 41, p10: 30, horizon: 30 });
    // dedup: no second alert while open, also when p10 wobbles above the horizon within the hysteresis band
    expect(t.update('d', p(25), 3, 42)).toBeUndefined();
    expect(t.update('d', p(40), 4, 43)).toBeUndefined();
    expect(t.isOpen('d')).toBe(true);
    expect(t.update('d', p(40.5), 5, 44)).toMatchObject({ state: 'resolved', at: 5 });
    expect(t.openCount).toBe(0);
    expect(t.update('d', p(29), 6, 45)?.state).toBe('firing');
  });

  it('restores open alerts (dedup across restarts)', () => {
    const t = new AlertTracker({ horizon: 30 });
    t.restore(['d']);
    expect(t.update('d', { rul: 5, p10: 1, p90: 9 }, 1, 1)).toBeUndefined();
    expect(() => new AlertTracker({ horizon: -1 })).toThrow(/horizon/);
  });

  it('computes the cycle rate and the suggested service time', () => {
    // 11 cycles over 10 s: 1 cycle per second
    const rate = cycleRate(11, 0, 10_000)!;
    expect(rate).toBeCloseTo(0.001, 12);
    expect(suggestedServiceAt(10_000, 25, rate)).toBe(35_000);
    expect(suggestedServiceAt(10_000, -3, rate)).toBe(10_000);
    expect(cycleRate(1, 0, 0)).toBeUndefined();
    expect(suggestedServiceAt(10_000, 25, undefined)).toBeUndefined();
  });
});
