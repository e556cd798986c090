import { describe, expect, it } from 'vitest';
import { Prng, hashString } from '../../simulator/prng.ts';

describe('Prng', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
    expect(new Prng('fleet').next()).toBe(new Prng(hashString('fleet')).next());
  });

  it('draws uniform and normal numbers with the right moments', () => {
    const p = new Prng(7);
    let s = 0;
    let s2 = 0;
    let u = 0;
    let lo = 1;
    let hi = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const g = p.gaussian();
      s += g;
      s2 += g * g;
      const x = p.next();
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      u += x;
    }
    expect(s / n).toBeCloseTo(0, 1);
    expect(s2 / n).toBeCloseTo(1, 1);
    expect(u / n).toBeCloseTo(0.5, 1);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    const ks = new Set(Array.from({ length: 1000 }, () => p.int(3, 5)));
    expect([...ks].sort()).toEqual([3, 4, 5]);
  });

  it('forks independent generators', () => {
    const root = new Prng(1);
    const a = root.fork('a');
    const b = root.fork('b');
    expect(a.nextUint32()).not.toBe(b.nextUint32());
  });
});
