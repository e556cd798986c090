/**
 * A tiny real ONNX anomaly model for tests: score = scale * max(|x|) over the window (opset 13), built with the
 * models' GraphBuilder, written as a model directory with a (signed) manifest.
 */
import type { KeyObject } from 'node:crypto';
import { GraphBuilder, floatTensorInfo } from '../../../models/onnx/graph-builder.ts';
import { describeArtifact, signManifest, writeModelDir } from '../../../models/manifest/index.ts';
import type { Manifest, ManifestInput } from '../../../protocol/manifest.ts';

export interface TestModelOptions {
  name?: string;
  version?: string;
  sensors?: string[];
  length?: number;
  stride?: number;
  threshold?: number;
  scale?: number;
  /** sign with this private key */
  signWith?: KeyObject;
  /** make the test vector's expected output wrong */
  badTestVector?: boolean;
  /** manifest decision.smoothing */
  smoothing?: number;
}

export function buildMaxAbsModel(width: number, scale = 1): Uint8Array {
  const g = new GraphBuilder();
  const x = g.reserve('window');
  const abs = g.op('Abs', [x]);
  const max = g.op('ReduceMax', [abs], { axes: [1], keepdims: 1 });
  const k = g.floatConst('scale', [scale], []);
  const out = g.op('Mul', [max, k]);
  g.bindOutput(out, 'score');
  return g.encode({
    opset: 13,
    graphName: 'max_abs',
    inputs: [floatTensorInfo('window', ['batch', width])],
    outputs: [floatTensorInfo('score', ['batch', 1])],
    producerVersion: 'test',
  });
}

export function testManifest(onnx: Uint8Array, o: TestModelOptions = {}): Manifest {
  const sensors = o.sensors ?? ['temperature', 'vibration'];
  const length = o.length ?? 4;
  const width = sensors.length * length;
  const scale = o.scale ?? 1;
  const input = [Array.from({ length: width }, (_, i) => (i % 3) - 1.5), Array.from({ length: width }, () => 0.25)];
  const expected = input.map((row) => [scale * Math.max(...row.map(Math.abs)) + (o.badTestVector ? 1 : 0)]);
  const m: ManifestInput = {
    schema: 'edgeloop.model/v1',
    name: o.name ?? 'anomaly',
    version: o.version ?? '1.0.0',
    kind: 'anomaly',
    createdAt: '2026-11-25T00:00:00Z',
    artifact: describeArtifact(onnx),
    inputs: {
      kind: 'window',
      name: 'window',
      sensors,
      window: { length, stride: o.stride ?? 1 },
      normalization: { mean: sensors.map(() => 0), std: sensors.map(() => 1), folded: true },
    },
    output: { name: 'score', kind: 'score' },
    threshold: o.threshold ?? 10,
    ...(o.smoothing !== undefined ? { decision: { smoothing: o.smoothing } } : {}),
    testVector: { input, expected, tolerance: 1e-5 },
  };
  return (o.signWith ? signManifest(m, o.signWith) : m) as Manifest;
}

/** Write a model directory; returns its paths and manifest. */
export function writeTestModel(
  dir: string,
  o: TestModelOptions = {},
): { dir: string; modelPath: string; manifest: Manifest } {
  const sensors = o.sensors ?? ['temperature', 'vibration'];
  const onnx = buildMaxAbsModel(sensors.length * (o.length ?? 4), o.scale ?? 1);
  const manifest = testManifest(onnx, o);
  const { modelPath } = writeModelDir(dir, { onnx, manifest });
  return { dir, modelPath, manifest };
}
