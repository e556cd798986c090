import { describe, expect, it } from 'vitest';
import { binaryMetrics, confusion } from '../../../models/anomaly/binary-metrics.ts';
import { detectSeparator, parseCsv } from '../../../models/anomaly/csv-table.ts';
import { calibrateThreshold, describeRule, quantile, smoothScores } from '../../../models/anomaly/threshold.ts';
import { buildWindows, fitNormalization, normalizeWindows } from '../../../models/anomaly/windows.ts';
import { Prng } from '../../../lib/prng.ts';

describe('CSV reading', () => {
  it('detects the separator and parses quotes, CRLF and a BOM', () => {
    expect(detectSeparator('a;b;c')).toBe(';');
    expect(detectSeparator('a\tb\tc')).toBe('\t');
    expect(detectSeparator('"x,y";b;c')).toBe(';');
    expect(detectSeparator('single')).toBe(',');
    const t = parseCsv('\ufeffid,"name, full",v\r\n1,"say ""hi""",2.5\r\n\r\n2,"multi\nline",3\r\n');
    expect(t.separator).toBe(',');
    expect(t.header).toEqual(['id', 'name, full', 'v']);
    expect(t.rows).toEqual([
      ['1', 'say "hi"', '2.5'],
      ['2', 'multi\nline', '3'],
    ]);
    expect(t.lines).toEqual([2, 4]);
  });

  it('names the line of a ragged row, duplicate or empty header names and unterminated quotes', () => {
    expect(() => parseCsv('a,b\n1,2\n3\n', { source: 'f.csv' })).toThrow('f.csv line 3: 1 fields, the header has 2');
    expect(() => parseCsv('a,a\n1,2\n', { source: 'f.csv' })).toThrow('column "a" appears twice');
    expect(() => parseCsv('a,,c\n', { source: 'f.csv' })).toThrow('column 2 of the header has no name');
    expect(() => parseCsv('a,b\n"1,2\n', { source: 'f.csv' })).toThrow('unterminated quoted field starting on line 2');
    expect(() => parseCsv('', { source: 'f.csv' })).toThrow('the file is empty');
  });
});

describe('windows and normalisation', () => {
  it('builds row-major windows ending at each stride step', () => {
    // 5 rows x 2 sensors: value = row*10 + sensor
    const v = Float64Array.from({ length: 10 }, (_, i) => Math.floor(i / 2) * 10 + (i % 2));
    const w = buildWindows(v, 5, 2, 3, 1);
    expect(w.count).toBe(3);
    expect(Array.from(w.ends)).toEqual([2, 3, 4]);
    expect(Array.from(w.data.subarray(0, 6))).toEqual([0, 1, 10, 11, 20, 21]);
    const s2 = buildWindows(v, 5, 2, 2, 2);
    expect(Array.from(s2.ends)).toEqual([1, 3]);
    expect(() => buildWindows(v, 5, 2, 6, 1, 'x.csv')).toThrow('x.csv: 5 rows, fewer than one window of 6 rows');
  });

  it('fits per-sensor mean/std with the relative and absolute floors', () => {
    const values = [1, 100, 0, 3, 100, 0, 5, 100.5, 0];
    const n = fitNormalization([{ values, rows: 3 }], 3);
    expect(n.mean[0]).toBeCloseTo(3, 6);
    expect(n.std[0]).toBeCloseTo(Math.sqrt(8 / 3), 5);
    // std 0.236 is below 1 % of the level 100.17: floored to 1.0017
    expect(n.std[1]).toBeCloseTo(1.00167, 4);
    expect(n.std[2]).toBeCloseTo(1e-6, 12);
    const z = normalizeWindows(Float32Array.from([3, 100.1666666, 0, 5, 100, 0]), n);
    expect(z[0]).toBeCloseTo(0, 5);
    expect(z[3]).toBeCloseTo(2 / Math.sqrt(8 / 3), 4);
  });
});

describe('threshold and smoothing', () => {
  it('quantile interpolates like numpy and ignores NaN', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([4, NaN, 1, 3, 2], 1)).toBe(4);
    expect(quantile([0, 10], 0.99)).toBeCloseTo(9.9, 10);
    expect(calibrateThreshold([0, 10], { quantile: 0.99, margin: 1.5 })).toBeCloseTo(14.85, 10);
    expect(() => calibrateThreshold([1], { quantile: 0, margin: 1 })).toThrow('quantile must be in (0, 1]');
    expect(describeRule({ quantile: 1, margin: 1.5 }, 10)).toBe(
      'max of training window scores (trailing mean over 10 windows) x 1.5',
    );
  });

  it('smooths with a causal trailing mean that skips leading NaN', () => {
    const s = smoothScores([NaN, NaN, 1, 2, 3, 10], 2);
    expect(Number.isNaN(s[0]!)).toBe(true);
    expect(Array.from(s.subarray(2))).toEqual([1, 1.5, 2.5, 6.5]);
    // causal: changing a later value never changes an earlier output
    const a = smoothScores([1, 2, 3, 4, 5], 3);
    const b = smoothScores([1, 2, 3, 4, 500], 3);
    expect(Array.from(a.subarray(0, 4))).toEqual(Array.from(b.subarray(0, 4)));
  });
});

describe('metrics and PRNG', () => {
  it('computes F1, FAR and MAR as SKAB does', () => {
    const c = confusion([1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 1, 0]);
    expect(c).toEqual({ tp: 2, fp: 1, fn: 1, tn: 2 });
    const m = binaryMetrics(c);
    expect(m.f1).toBeCloseTo(4 / 6, 10);
    expect(m.far).toBeCloseTo(1 / 3, 10);
    expect(m.mar).toBeCloseTo(1 / 3, 10);
  });

  it('the seeded PRNG repeats for a seed and differs between seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
