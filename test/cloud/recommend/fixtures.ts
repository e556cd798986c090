/**
 * A small real recommender for the service tests: a tfjs Dense(3→3, sigmoid) with hand-set weights (TWF rises
 * with tool wear, OSF with torque × wear, HDF with air temperature), exported through our ONNX exporter, signed,
 * and written as a model directory whose test vector comes from ONNX Runtime itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportTfjsToOnnx } from '../../../models/onnx/export-tfjs.ts';
import { describeArtifact, generateSigningKey, signManifest, writeModelDir } from '../../../models/manifest/index.ts';
import type { SigningKeyPair } from '../../../models/manifest/index.ts';
import { loadTf } from '../../../models/training/load-tf.ts';
import { parseManifest, type Manifest } from '../../../protocol/manifest.ts';

export const FEATURES = ['torque_nm', 'tool_wear_min', 'air_temperature_k'];
export const LABELS = ['TWF', 'HDF', 'OSF'];
export const MEAN = [40, 100, 300];
export const STD = [10, 60, 2];

export function tempDir(prefix = 'edgeloop-rec-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function makeRecommender(
  dir: string,
  opts: {
    version: string;
    key: SigningKeyPair;
    twfBias?: number;
    maxFeatureAgeMs?: number;
    defaults?: Array<{ feature: string; value: number }>;
    corruptTestVector?: boolean;
  },
): Promise<Manifest> {
  const tf = await loadTf();
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [3], units: 3, activation: 'sigmoid' }));
  // normalised inputs: z_torque, z_wear, z_air
  const w = tf.tensor2d(
    [
      [0.2, 0.0, 2.0], // torque → OSF
      [3.0, 0.0, 2.0], // wear → TWF, OSF
      [0.0, 3.0, 0.0], // air temperature → HDF
    ],
    [3, 3],
  );
  const b = tf.tensor1d([opts.twfBias ?? -4, -5, -6]);
  model.layers[0]!.setWeights([w, b]);
  const onnx = exportTfjsToOnnx(model, {
    inputName: 'features',
    outputName: 'probs',
    normalization: { mean: MEAN, std: STD },
  });
  model.dispose();
  w.dispose();
  b.dispose();
  const tvInput = [
    [40, 230, 300],
    [45, 20, 306],
  ];
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 });
  const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(tvInput.flat()), [2, 3]) });
  const probs = Array.from(out.probs!.data as Float32Array);
  await session.release();
  const manifest = signManifest(
    {
      schema: 'edgeloop.model/v1',
      name: 'recommender',
      version: opts.version,
      kind: 'recommender',
      createdAt: '2026-11-25T00:00:00.000Z',
      artifact: describeArtifact(onnx),
      inputs: {
        kind: 'features',
        name: 'features',
        features: FEATURES,
        normalization: { mean: MEAN, std: STD, folded: true },
        defaults: opts.defaults ?? [{ feature: 'air_temperature_k', value: 300 }],
        maxFeatureAgeMs: opts.maxFeatureAgeMs ?? 3_600_000,
      },
      output: { name: 'probs', kind: 'multilabel-probabilities', labels: LABELS },
      threshold: 0.5,
      actions: [
        { id: 'none', label: 'No action', modes: [] },
        { id: 'replace-tool', label: 'Replace the tool', modes: ['TWF'] },
        { id: 'restore-cooling', label: 'Restore cooling', modes: ['HDF'] },
        { id: 'reduce-load', label: 'Reduce load or change the tool early', modes: ['OSF'] },
      ],
      testVector: {
        input: tvInput,
        expected: opts.corruptTestVector
          ? [
              [0.5, 0.5, 0.5],
              [0.5, 0.5, 0.5],
            ]
          : [probs.slice(0, 3), probs.slice(3, 6)],
        tolerance: 1e-4,
      },
    },
    opts.key.privateKey,
  );
  writeModelDir(dir, { onnx, manifest });
  return parseManifest(manifest);
}

export { generateSigningKey };
