import { describe, expect, it } from 'vitest';
import { FeatureWindows, ValueWindow } from '../../../cloud/drift/windows.ts';

describe('tumbling windows', () => {
  it('keep the newest `cap` finite values, count missing ones, and start over when consumed', () => {
    const w = new ValueWindow(1000);
    for (let i = 0; i < 2500; i++) w.push(i);
    w.push(null);
    w.push(Number.NaN);
    w.push('text');
    expect(w.size).toBe(1000);
    const s = w.sorted();
    expect([s.length, s[0], s[999]]).toEqual([1000, 1500, 2499]);
    expect([w.total, w.missing]).toEqual([2503, 3]);
    w.consume();
    expect([w.size, w.total, w.missing]).toEqual([0, 0, 0]);
  });

  it('per feature, with the record count and the time the window opened', () => {
    const f = new FeatureWindows(10, 5);
    f.push({ a: 1, b: 2 }, ['a', 'b', 'c']);
    f.push({ a: 3 }, ['a', 'b', 'c']);
    expect(f.records).toBe(2);
    expect(Object.fromEntries(Object.entries(f.sortedAll()).map(([k, v]) => [k, Array.from(v)]))).toEqual({
      a: [1, 3],
      b: [2],
      c: [],
    });
    expect(f.byFeature.get('c')!.missing).toBe(2);
    f.consume(99);
    expect([f.records, f.openedAt, f.byFeature.get('a')!.size]).toEqual([0, 99, 0]);
  });
});
