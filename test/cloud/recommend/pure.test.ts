import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../../protocol/manifest.ts';
import { buildInput } from '../../../cloud/recommend/model-input.ts';
import { rankActions } from '../../../cloud/recommend/ranking.ts';
import { VariantRouter } from '../../../cloud/recommend/variant-router.ts';

function recommenderManifest(over: Partial<Record<string, unknown>> = {}): Manifest {
  return parseManifest({
    schema: 'edgeloop.model/v1',
    name: 'recommender',
    version: '1.0.0',
    kind: 'recommender',
    createdAt: '2026-11-25T00:00:00Z',
    artifact: { file: 'model.onnx', sha256: 'a'.repeat(64), bytes: 10 },
    inputs: {
      kind: 'features',
      name: 'features',
      features: ['torque_nm', 'tool_wear_min', 'air_temperature_k'],
      normalization: { mean: [0, 0, 0], std: [1, 1, 1], folded: true },
      defaults: [{ feature: 'air_temperature_k', value: 300 }],
      maxFeatureAgeMs: 60_000,
    },
    output: { name: 'probs', kind: 'multilabel-probabilities', labels: ['TWF', 'HDF', 'OSF'] },
    threshold: 0.5,
    actions: [
      { id: 'none', label: 'No action', modes: [] },
      { id: 'replace-tool', label: 'Replace the tool', modes: ['TWF'] },
      { id: 'restore-cooling', label: 'Restore cooling', modes: ['HDF'] },
      { id: 'reduce-load', label: 'Reduce load', modes: ['OSF'] },
    ],
    testVector: { input: [[1, 2, 3]], expected: [[0, 0, 0]], tolerance: 1e-4 },
    ...over,
  });
}

describe('buildInput', () => {
  const m = recommenderManifest();
  it('follows the manifest order, reads <f>_last, fills only declared defaults', () => {
    const r = buildInput(m, { tool_wear_min: 200, torque_nm_last: 40 }, 1000, 2000, 'm1');
    expect([...r.row]).toEqual([40, 200, 300]);
    expect(r.defaulted).toEqual(['air_temperature_k']);
    expect(r.featureAgeMs).toBe(1000);
  });
  it('names every missing feature that has no default', () => {
    expect(() => buildInput(m, { air_temperature_k: 300 }, 0, 0, 'm1')).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_RECOMMEND_FEATURES_MISSING',
        message: expect.stringMatching(/lack torque_nm, tool_wear_min/),
      }),
    );
  });
  it('refuses stale features saying how old they are', () => {
    expect(() => buildInput(m, { torque_nm: 1, tool_wear_min: 1 }, 0, 90_000, 'm1')).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_RECOMMEND_FEATURES_STALE',
        message: expect.stringMatching(/90\.0 s old.*at most 60\.0 s/),
      }),
    );
  });
  it('reads mapped store features first', () => {
    const r = buildInput(m, { torque: 41, tool_wear_min: 7 }, 0, 0, 'm1', undefined, { torque_nm: 'torque' });
    expect([...r.row]).toEqual([41, 7, 300]);
    expect(() => buildInput(m, { tool_wear_min: 7 }, 0, 0, 'm1', undefined, { torque_nm: 'torque' })).toThrow(
      /torque_nm \(mapped to torque\)/,
    );
  });
  it('refuses non-numeric values', () => {
    expect(() => buildInput(m, { torque_nm: 'high', tool_wear_min: 1 }, 0, 0, 'm1')).toThrow(/torque_nm="high"/);
  });
});

describe('rankActions', () => {
  const m = recommenderManifest();
  it('scores actions by their modes and "no action" by prod(1-p)', () => {
    const r = rankActions(m, new Float32Array([0.9, 0.1, 0.0]), 0, 2);
    expect(r.actions.map((a) => a.id)).toEqual(['replace-tool', 'restore-cooling']);
    expect(r.predicted).toEqual(['TWF']);
    const quiet = rankActions(m, new Float32Array([0.01, 0.02, 0.0]), 0, 1);
    expect(quiet.actions[0]!.id).toBe('none');
    expect(quiet.actions[0]!.score).toBeCloseTo(0.99 * 0.98, 5);
  });
});

describe('VariantRouter', () => {
  it('splits by weight within tolerance and is sticky', () => {
    const r = new VariantRouter([
      { name: 'a', weight: 80 },
      { name: 'b', weight: 20 },
      { name: 's', weight: 0, shadow: true },
    ]);
    const counts: Record<string, number> = { a: 0, b: 0, s: 0 };
    for (let i = 0; i < 20_000; i++) counts[r.route(`machine-${i}`).name]!++;
    expect(counts.s).toBe(0);
    expect(counts.b! / 20_000).toBeGreaterThan(0.18);
    expect(counts.b! / 20_000).toBeLessThan(0.22);
    for (let i = 0; i < 100; i++) expect(r.route(`machine-${i}`).name).toBe(r.route(`machine-${i}`).name);
  });
  it('rejects bad configurations naming the problem', () => {
    expect(() => new VariantRouter([{ name: 'a', weight: 0 }])).toThrow(/weight > 0/);
    expect(
      () =>
        new VariantRouter([
          { name: 'a', weight: 1 },
          { name: 'a', weight: 1 },
        ]),
    ).toThrow(/twice/);
    expect(() => new VariantRouter([{ name: 'a', weight: -1 }])).toThrow(/>= 0/);
  });
});
