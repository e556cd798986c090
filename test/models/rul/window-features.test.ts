import { describe, expect, it } from 'vitest';
import { applyFeatureMatrix, featureMatrix, featureNames } from '../../../models/rul/window-features.ts';

describe('summary features of a window (one linear map)', () => {
  // window of 4 cycles x 2 sensors, row-major (cycle, then sensor): sensor a = 1, 2, 4, 7; sensor b = 10, 10, 10, 10
  const x = Float32Array.from([1, 10, 2, 10, 4, 10, 7, 10]);
  const spec = { means: [2, 4], slopes: [4, 2] };

  it('names the columns mean{k}:{sensor} then slope{k}:{sensor}', () => {
    expect(featureNames(spec, ['a', 'b'])).toEqual([
      'mean2:a',
      'mean2:b',
      'mean4:a',
      'mean4:b',
      'slope4:a',
      'slope4:b',
      'slope2:a',
      'slope2:b',
    ]);
  });

  it('gives last-k means and least-squares slopes (hand-computed)', () => {
    const m = featureMatrix(spec, 4, 2);
    const f = applyFeatureMatrix(x, 1, m, 8);
    // mean of the last 2 of a: (4 + 7) / 2; of all 4: 14 / 4
    expect(f[0]).toBeCloseTo(5.5, 6);
    expect(f[1]).toBeCloseTo(10, 6);
    expect(f[2]).toBeCloseTo(3.5, 6);
    expect(f[3]).toBeCloseTo(10, 6);
    // slope over 4: t - tbar = -1.5, -0.5, 0.5, 1.5; sum of squares 5; (-1.5 - 1 + 2 + 10.5) / 5 = 2
    expect(f[4]).toBeCloseTo(2, 6);
    expect(f[5]).toBeCloseTo(0, 6);
    // slope over the last 2: 7 - 4
    expect(f[6]).toBeCloseTo(3, 6);
    expect(f[7]).toBeCloseTo(0, 6);
    // 0 = the whole window
    const whole = applyFeatureMatrix(x, 1, featureMatrix({ means: [0], slopes: [0] }, 4, 2), 4);
    expect(Array.from(whole).map((v) => Number(v.toFixed(6)))).toEqual([3.5, 10, 2, 0]);
  });

  it('gives block means: the window cut into equal parts (hand-computed)', () => {
    const f = applyFeatureMatrix(x, 1, featureMatrix({ means: [], slopes: [], blocks: 2 }, 4, 2), 4);
    expect(Array.from(f)).toEqual([1.5, 10, 5.5, 10]);
    expect(featureNames({ means: [], slopes: [], blocks: 2 }, ['a', 'b'])).toEqual([
      'block0:a',
      'block0:b',
      'block1:a',
      'block1:b',
    ]);
    expect(() => featureMatrix({ means: [], slopes: [], blocks: 3 }, 4, 2)).toThrow(/divides the window \(4\), got 3/);
  });

  it('applies to many rows at once', () => {
    const two = new Float32Array(16);
    two.set(x, 0);
    two.set(
      x.map((v) => 2 * v),
      8,
    );
    const f = applyFeatureMatrix(two, 2, featureMatrix(spec, 4, 2), 8);
    expect(f[8 + 4]).toBeCloseTo(4, 6);
    expect(f[8 + 0]).toBeCloseTo(11, 6);
  });

  it('rejects lengths outside the window and a wrong row width, naming them', () => {
    expect(() => featureMatrix({ means: [5], slopes: [] }, 4, 2)).toThrow(/mean length .* 1\.\.4 .* got 5/);
    expect(() => featureMatrix({ means: [-1], slopes: [] }, 4, 2)).toThrow(/mean length .* got -1/);
    expect(() => featureMatrix({ means: [], slopes: [1] }, 4, 2)).toThrow(/slope length .* 2\.\.4 .* got 1/);
    expect(() => featureMatrix({ means: [], slopes: [] }, 4, 2)).toThrow(/at least one/);
    expect(() => applyFeatureMatrix(new Float32Array(7), 1, featureMatrix(spec, 4, 2), 8)).toThrow(
      /1 rows of 8 values, got 7/,
    );
  });
});
