import { describe, expect, it } from 'vitest';
import {
  buildReference,
  parseReference,
  REFERENCE_SCHEMA,
  referenceFromModelVersion,
  withManifestBaseline,
} from '../../../cloud/drift/reference.ts';
import {
  binomialTwoSided,
  binomialUpper,
  isStuck,
  normalSf,
  poissonTwoSided,
} from '../../../cloud/drift/rate-tests.ts';

describe('reference sets', () => {
  it('keep a sorted sample, its moments and missing rate; reduce a large column to evenly spaced order statistics', () => {
    const column = Array.from({ length: 100_000 }, (_, i) => (i % 10 === 0 ? null : i));
    const ref = buildReference(
      { x: column, y: [3, 1, 2, Number.NaN] },
      { maxSample: 1000, createdAt: 't', model: { name: 'm', version: '2' } },
    );
    const x = ref.features['x']!;
    expect(x.count).toBe(100_000);
    expect(x.values).toHaveLength(1000);
    expect(x.missingRate).toBeCloseTo(0.1, 12);
    expect(x.values[0]).toBeLessThan(200); // the sketch keeps the tails
    expect(x.values[999]).toBeGreaterThan(99_800);
    expect(ref.features['y']).toEqual({
      count: 4,
      values: [1, 2, 3],
      mean: 2,
      std: Math.sqrt(2 / 3),
      missingRate: 0.25,
    });
    // JSON round trip: what the registry stores is what a tester reads
    expect(parseReference(JSON.parse(JSON.stringify(ref)))).toEqual(ref);
    expect(ref.schema).toBe(REFERENCE_SCHEMA);
  });

  it('take the anomaly rate and the model from the manifest', () => {
    const ref = buildReference({ x: [1, 2] });
    const out = withManifestBaseline(ref, { name: 'anomaly', version: '3', metrics: { trainingFlagRate: 0.02 } });
    expect(out.model).toEqual({ name: 'anomaly', version: '3' });
    expect(out.output).toEqual({ anomalyRate: 0.02 });
    expect(
      withManifestBaseline(ref, {
        name: 'a',
        version: '1',
        metrics: { validationFlagRate: 0.05, trainingFlagRate: 0.02 },
      }).output!.anomalyRate,
    ).toBe(0.05);
  });

  it('come from a registered model version (training.driftReference)', () => {
    const ref = buildReference({ x: [1, 2, 3] });
    const v = {
      name: 'anomaly',
      version: '4',
      metrics: { trainingFlagRate: 0.03 },
      training: { driftReference: JSON.parse(JSON.stringify(ref)) },
    };
    expect(referenceFromModelVersion(v)).toMatchObject({
      model: { name: 'anomaly', version: '4' },
      output: { anomalyRate: 0.03 },
      features: { x: { values: [1, 2, 3] } },
    });
    expect(referenceFromModelVersion({ name: 'a', version: '1', training: {} })).toBeUndefined();
    expect(() =>
      referenceFromModelVersion({ name: 'a', version: '1', training: { driftReference: { schema: 'x' } } }),
    ).toThrow(/model a@1 training.driftReference: schema/);
  });

  it('refuse malformed input, naming the field', () => {
    expect(() => buildReference({ x: [null, Number.NaN] })).toThrow(/feature "x" has no finite values/);
    expect(() =>
      parseReference({
        schema: REFERENCE_SCHEMA,
        createdAt: 't',
        features: { x: { count: 1, values: [], mean: 0, std: 0, missingRate: 0 } },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_DRIFT_REFERENCE',
        message: expect.stringContaining('features.x.values'),
      }),
    );
    expect(() => parseReference({ schema: 'other' })).toThrow(/schema/);
  });
});

describe('count tests', () => {
  it('binomial tails by hand', () => {
    // P(X ≥ 3), X ~ Bin(4, 0.5) = (4 + 1) / 16
    expect(binomialUpper(3, 4, 0.5)).toBeCloseTo(5 / 16, 14);
    expect(binomialUpper(0, 4, 0.5)).toBe(1);
    expect(binomialUpper(5, 4, 0.5)).toBe(0);
    // two-sided: 2 · min(P(X ≤ 1), P(X ≥ 1)) for Bin(4, 0.5) = 2 · 5/16
    expect(binomialTwoSided(1, 4, 0.5)).toBeCloseTo(10 / 16, 14);
    expect(binomialTwoSided(50, 500, 0.01)).toBeLessThan(1e-10);
    expect(binomialTwoSided(5, 500, 0.01)).toBe(1);
    // above 20 000 trials, the normal approximation agrees with the exact sum at the boundary
    expect(binomialUpper(260, 25_000, 0.01) / normalSf((260 - 0.5 - 250) / Math.sqrt(250 * 0.99))).toBeCloseTo(1, 12);
  });

  it('Poisson two-sided and the normal tail', () => {
    // P(X ≤ 0) for λ = 3 is e^-3; twice that
    expect(poissonTwoSided(0, 3)).toBeCloseTo(2 * Math.exp(-3), 12);
    expect(poissonTwoSided(100, 100)).toBe(1);
    expect(poissonTwoSided(40, 100)).toBeLessThan(1e-8);
    expect(normalSf(1.959963985)).toBeCloseTo(0.025, 6);
    expect(normalSf(-1.959963985)).toBeCloseTo(0.975, 6);
  });

  it('stuck: constant recent values where the reference varies', () => {
    expect(isStuck(Float64Array.from(Array(60).fill(2)), 1, 50)).toBe(true);
    expect(isStuck(Float64Array.from(Array(40).fill(2)), 1, 50)).toBe(false);
    expect(isStuck(Float64Array.from(Array(60).fill(2)), 0, 50)).toBe(false);
  });
});
