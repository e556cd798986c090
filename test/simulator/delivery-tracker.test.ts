import { describe, expect, it } from 'vitest';
import { DeliveryTracker, SeqTracker } from '../../simulator/delivery-tracker.ts';

describe('SeqTracker', () => {
  it('finds gaps and duplicates with out-of-order arrival', () => {
    const t = new SeqTracker(1);
    for (const s of [1, 2, 3, 7, 5, 5, 2, 9]) t.add(s);
    expect(t.hw).toBe(3);
    expect(t.duplicates).toBe(2);
    expect(t.received).toBe(6);
    expect(t.missing(10)).toBe(4); // 4, 6, 8, 10
    expect(t.gaps(10)).toEqual([
      [4, 4],
      [6, 6],
      [8, 8],
      [10, 10],
    ]);
    t.add(4);
    t.add(6);
    expect(t.hw).toBe(7);
    expect(t.missing(9)).toBe(1);
  });
});

describe('DeliveryTracker', () => {
  it('reports completeness per device against what each produced', () => {
    const d = new DeliveryTracker();
    for (let s = 1; s <= 10; s++) d.record('a', s);
    for (const s of [1, 2, 4]) d.record('b', s);
    d.record('b', 4);
    const exp = new Map([
      ['a', 10],
      ['b', 5],
      ['c', 2],
    ]);
    const r = d.report(exp);
    expect(r).toEqual([
      { deviceId: 'a', expected: 10, received: 10, missing: 0, duplicates: 0, gaps: [] },
      {
        deviceId: 'b',
        expected: 5,
        received: 3,
        missing: 2,
        duplicates: 1,
        gaps: [
          [3, 3],
          [5, 5],
        ],
      },
      { deviceId: 'c', expected: 2, received: 0, missing: 2, duplicates: 0, gaps: [[1, 2]] },
    ]);
    expect(d.missingTotal(exp)).toBe(4);
    expect(d.duplicates).toBe(1);
  });
});
