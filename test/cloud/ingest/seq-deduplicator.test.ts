import { describe, expect, it } from 'vitest';
import { SeqDeduplicator } from '../../../cloud/ingest/seq-deduplicator.ts';

describe('SeqDeduplicator', () => {
  it('marks ranges and answers seen() across gaps', () => {
    const d = new SeqDeduplicator();
    d.addRange('a', 1, 100);
    d.addRange('a', 201, 300);
    expect(d.seen('a', 1)).toBe(true);
    expect(d.seen('a', 100)).toBe(true);
    expect(d.seen('a', 101)).toBe(false);
    expect(d.seen('a', 200)).toBe(false);
    expect(d.seen('a', 250)).toBe(true);
    expect(d.seen('a', 301)).toBe(false);
    expect(d.seen('b', 1)).toBe(false);
    expect(d.export('a')).toEqual({ intervals: [1, 100, 201, 300] });
  });

  it.each([
    {
      name: 'append adjacent',
      adds: [
        [1, 5],
        [6, 9],
      ],
      want: [1, 9],
    },
    {
      name: 'fill a gap exactly',
      adds: [
        [1, 5],
        [10, 12],
        [6, 9],
      ],
      want: [1, 12],
    },
    {
      name: 'out of order singles',
      adds: [
        [5, 5],
        [3, 3],
        [4, 4],
        [1, 2],
      ],
      want: [1, 5],
    },
    {
      name: 'overlap spanning several',
      adds: [
        [1, 2],
        [5, 6],
        [9, 10],
        [2, 9],
      ],
      want: [1, 10],
    },
    {
      name: 'contained range',
      adds: [
        [1, 10],
        [3, 4],
      ],
      want: [1, 10],
    },
    {
      name: 'before all',
      adds: [
        [10, 12],
        [1, 3],
      ],
      want: [1, 3, 10, 12],
    },
    {
      name: 'seq 0',
      adds: [
        [0, 0],
        [1, 1],
      ],
      want: [0, 1],
    },
  ])('interval merge: $name', ({ adds, want }) => {
    const d = new SeqDeduplicator();
    for (const [lo, hi] of adds) d.addRange('x', lo!, hi!);
    expect(d.export('x')!.intervals).toEqual(want);
  });

  it('removeRange splits and deletes (rollback of a failed put)', () => {
    const d = new SeqDeduplicator();
    d.addRange('x', 1, 10);
    d.removeRange('x', 4, 6);
    expect(d.export('x')!.intervals).toEqual([1, 3, 7, 10]);
    d.removeRange('x', 1, 3);
    expect(d.export('x')!.intervals).toEqual([7, 10]);
    d.removeRange('x', 7, 10);
    expect(d.has('x')).toBe(false);
  });

  it('bounds memory per device by collapsing the oldest gap', () => {
    const d = new SeqDeduplicator({ maxIntervals: 3 });
    for (const s of [1, 3, 5, 7, 9]) d.addRange('x', s, s);
    expect(d.export('x')!.intervals.length / 2).toBe(3);
    expect(d.collapsedGaps).toBe(2);
    // the collapsed gaps (2, 4) now count as seen; the newest gaps stay open
    expect(d.seen('x', 2)).toBe(true);
    expect(d.seen('x', 4)).toBe(true);
    expect(d.seen('x', 6)).toBe(false);
    expect(d.seen('x', 8)).toBe(false);
  });

  it('import validates the persisted shape', () => {
    const d = new SeqDeduplicator();
    d.import('x', { intervals: [1, 5, 8, 9] });
    expect(d.seen('x', 8)).toBe(true);
    expect(() => d.import('y', { intervals: [1] })).toThrow(RangeError);
    expect(() => d.import('y', { intervals: [5, 1] })).toThrow(RangeError);
    expect(() => d.import('y', { intervals: [1, 5, 6, 8] })).toThrow(RangeError); // adjacent must be merged
    expect(() => new SeqDeduplicator({ maxIntervals: 0 })).toThrow(RangeError);
  });

  it('agrees with a Set on random operations', () => {
    let x = 12345;
    const rnd = (n: number): number => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x % n;
    };
    const d = new SeqDeduplicator({ maxIntervals: 10_000 });
    const truth = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      const lo = rnd(2000);
      const hi = lo + rnd(5);
      if (rnd(5) === 0) {
        d.removeRange('r', lo, hi);
        for (let s = lo; s <= hi; s++) truth.delete(s);
      } else {
        d.addRange('r', lo, hi);
        for (let s = lo; s <= hi; s++) truth.add(s);
      }
    }
    for (let s = 0; s < 2010; s++) expect(d.seen('r', s)).toBe(truth.has(s));
  });
});
