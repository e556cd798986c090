import { describe, expect, it } from 'vitest';
import { WindowAssembler } from '../../../agent/inference/window-assembler.ts';

describe('WindowAssembler', () => {
  it('completes a step when every sensor reported, yields windows by length and stride, row-major time then sensor', () => {
    const w = new WindowAssembler({ sensors: ['a', 'b'], length: 3, stride: 2 });
    const out = new Float32Array(6);
    const metas = [];
    for (let t = 1; t <= 7; t++) {
      // b before a, and a second 'b' value that replaces the first one of the step
      expect(w.push('b', t * 10, -t, out, 0)).toBeUndefined();
      w.push('ignored', t * 10, 1e9, out, 0);
      const m = w.push('a', t * 10 + 1, t, out, 0);
      if (m) metas.push({ m, data: [...out] });
    }
    // steps 3, 5, 7 give windows
    expect(metas.map((x) => x.m)).toEqual([
      { start: 11, end: 31 },
      { start: 31, end: 51 },
      { start: 51, end: 71 },
    ]);
    expect(metas[1]!.data).toEqual([3, -3, 4, -4, 5, -5]);
    expect(w.steps).toBe(7);
  });

  it('keeps the newest value when a sensor reports twice within a step, and normalises when asked', () => {
    const w = new WindowAssembler({
      sensors: ['a', 'b'],
      length: 1,
      stride: 1,
      normalization: { mean: [10, 0], std: [2, 4] },
    });
    const out = new Float32Array(2);
    w.push('a', 1, 0, out, 0);
    w.push('a', 2, 14, out, 0);
    expect(w.push('b', 3, 8, out, 0)).toEqual({ start: 3, end: 3 });
    expect([...out]).toEqual([2, 2]);
  });

  it('rejects bad specs', () => {
    expect(() => new WindowAssembler({ sensors: [], length: 1, stride: 1 })).toThrow(RangeError);
    expect(() => new WindowAssembler({ sensors: ['a'], length: 0, stride: 1 })).toThrow(RangeError);
  });
});
