/**
 * Small real ONNX models and signed manifests for the registry, rollout and updater tests.
 * The model scores a window of 4 readings of one sensor: score = scale * mean(x^2) (a ReduceMean graph built
 * with models/onnx/graph-builder.ts), output [batch, 1]. With x ~ N(0, 1) and threshold 2.37 about 5 % of windows
 * are anomalies at scale 1; at scale 1.5 about 17 % (more than 3x).
 */
import { GraphBuilder, floatTensorInfo } from '../../../models/onnx/graph-builder.ts';
import { describeArtifact, generateSigningKey, signManifest } from '../../../models/manifest/index.ts';
import type { SigningKeyPair } from '../../../models/manifest/index.ts';
import type { Manifest } from '../../../protocol/manifest.ts';

export const WINDOW = 4;
export const BASE_THRESHOLD = 2.37;

export function scoreModelOnnx(scale: number): Uint8Array {
  const g = new GraphBuilder();
  const x = g.reserve('x');
  const sq = g.op('Mul', [x, x]);
  const scaled = g.op('Mul', [sq, g.floatConst('scale', [scale], [])]);
  const mean = g.op('ReduceMean', [scaled], { axes: [1], keepdims: 1 });
  g.bindOutput(mean, 'score');
  return g.encode({
    opset: 13,
    graphName: `score_x${scale}`,
    inputs: [floatTensorInfo('x', ['batch', WINDOW])],
    outputs: [floatTensorInfo('score', ['batch', 1])],
    producerVersion: 'test',
  });
}

export interface TestModel {
  onnx: Uint8Array;
  manifest: Manifest;
}

export interface TestModelOptions {
  name?: string;
  version: string;
  scale?: number;
  threshold?: number;
  /** make the manifest's expected output wrong so the test vector fails on the device */
  badTestVector?: boolean;
  latencyBudgetMs?: number;
  parentVersion?: string;
  key: SigningKeyPair;
}

export function makeTestModel(o: TestModelOptions): TestModel {
  const scale = o.scale ?? 1;
  const onnx = scoreModelOnnx(scale);
  const input = [
    [1, 2, 3, 4],
    [0.5, -0.5, 0.25, 0],
  ];
  const expected = input.map((row) => [(scale * row.reduce((a, v) => a + v * v, 0)) / row.length]);
  if (o.badTestVector) expected[0]![0]! += 10;
  const manifest = {
    schema: 'edgeloop.model/v1' as const,
    name: o.name ?? 'pump-ae',
    version: o.version,
    kind: 'anomaly' as const,
    createdAt: '2026-11-25T00:00:00.000Z',
    artifact: describeArtifact(onnx),
    inputs: {
      kind: 'window' as const,
      name: 'x',
      sensors: ['vibration'],
      window: { length: WINDOW, stride: WINDOW },
      normalization: { mean: [0], std: [1], folded: true },
    },
    output: { name: 'score', kind: 'score' as const },
    threshold: o.threshold ?? BASE_THRESHOLD,
    testVector: { input, expected, tolerance: 1e-4 },
    ...(o.latencyBudgetMs !== undefined ? { latencyBudgetMs: o.latencyBudgetMs } : {}),
    training: {
      rows: 1000,
      dataHash: 'sha256:' + 'ab'.repeat(32),
      ...(o.parentVersion ? { parentVersion: o.parentVersion } : {}),
      features: { vibration: { mean: 0, std: 1, p05: -1.64, p95: 1.64 } },
    },
    metrics: { auc: 0.93, f1: 0.71 },
  };
  return { onnx, manifest: signManifest(manifest, o.key.privateKey) as unknown as Manifest };
}

export function testKeys(): SigningKeyPair {
  return generateSigningKey();
}
