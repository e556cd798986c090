import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertParity,
  buildCreatedAt,
  manifestHead,
  roundTo,
  testVectorOf,
} from '../../../models/manifest/export-steps.ts';

const defaultDir = join(import.meta.dirname, '..', '..', '..', 'models', 'default');
const shipped = readdirSync(defaultDir).filter((d) => existsSync(join(defaultDir, d, 'manifest.json')));

describe('shared exporter steps', () => {
  // what the builder would write for the fields it can compute without the signing key: the same values, in the
  // same order, as every shipped manifest.json (the default models are not rebuilt here)
  it.each(shipped)('%s: manifestHead reproduces the first six fields of the shipped manifest, in order', (name) => {
    const text = readFileSync(join(defaultDir, name, 'manifest.json'), 'utf8');
    const m = JSON.parse(text) as Record<string, unknown> & {
      name: string;
      version: string;
      kind: 'anomaly' | 'rul' | 'recommender';
      createdAt: string;
      artifact: { file: string };
    };
    const onnx = readFileSync(join(defaultDir, name, m.artifact.file));
    const head = manifestHead(m, { name: 'unused', kind: m.kind }, onnx);
    expect(Object.entries(m).slice(0, 6)).toEqual(Object.entries(head));
  });

  it('cuts the test vector from the first rows (at most 4)', () => {
    const input = Float32Array.from({ length: 12 }, (_, i) => i);
    const output = Float32Array.from({ length: 6 }, (_, i) => 10 * i);
    expect(testVectorOf(input, 2, output, 1, 6, 1e-4)).toEqual({
      input: [
        [0, 1],
        [2, 3],
        [4, 5],
        [6, 7],
      ],
      expected: [[0], [10], [20], [30]],
      tolerance: 1e-4,
    });
    expect(testVectorOf(input, 3, output, 2, 1, 1e-3).input).toEqual([[0, 1, 2]]);
  });

  it('refuses a parity error over the tolerance (and NaN) with the exporter code', () => {
    expect(() => assertParity(1e-6, 1e-5, 'EL_ERR_RECOMMENDER_PARITY', 'ONNX model')).not.toThrow();
    expect(() => assertParity(2e-4, 1e-4, 'EL_ERR_RUL_PARITY', 'ONNX RUL model', 'relative; ')).toThrow(
      'ONNX RUL model disagrees with TensorFlow.js by 2.00e-4 (relative; tolerance 0.0001)',
    );
    expect(() => assertParity(Number.NaN, 1, 'EL_ERR_RUL_PARITY', 'x')).toThrow(/disagrees/);
  });

  it('dates a build from the flag, else SOURCE_DATE_EPOCH, else the fallback; rounds recorded figures', () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    try {
      delete process.env.SOURCE_DATE_EPOCH;
      expect(buildCreatedAt(undefined, '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:00.000Z');
      process.env.SOURCE_DATE_EPOCH = '86400';
      expect(buildCreatedAt(undefined, 'x')).toBe('1970-01-02T00:00:00.000Z');
      expect(buildCreatedAt('2020-01-01T00:00:00.000Z', 'x')).toBe('2020-01-01T00:00:00.000Z');
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    expect(roundTo(0.123456789, 4)).toBe(0.1235);
    expect(roundTo(0.123456789, 6)).toBe(0.123457);
  });
});
