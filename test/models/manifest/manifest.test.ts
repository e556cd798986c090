import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  describeArtifact,
  generateSigningKey,
  keyIdOf,
  readPrivateKey,
  readPublicKey,
  signManifest,
  verifyManifest,
  verifyModelDir,
  writeModelDir,
  writeSigningKey,
} from '../../../models/manifest/index.ts';
import { exportTfjsToOnnx } from '../../../models/onnx/export-tfjs.ts';
import { checkTestVector, OrtModelRunner } from '../../../models/runtime/ort-model-runner.ts';
import { loadTf } from '../../../models/training/load-tf.ts';
import type { ManifestInput } from '../../../protocol/manifest.ts';
import { signUnchecked } from '../../helpers/sign-unchecked.ts';

let onnx: Uint8Array;
let expected: number[][];
const input = [
  [1, 2, 3, 4, 5, 6],
  [0, -1, 0.5, 2, 2, 1],
];

beforeAll(async () => {
  const tf = await loadTf();
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [6],
        units: 3,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({ units: 6, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  const normalization = { mean: [1, 2], std: [2, 3] };
  onnx = exportTfjsToOnnx(model, { head: 'reconstruction-mse', normalization });
  const runner = await OrtModelRunner.create({ model: onnx });
  const out = await runner.run(Float32Array.from(input.flat()), 2);
  await runner.close();
  expected = [[out.data[0]!], [out.data[1]!]];
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-manifest-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function manifest(): ManifestInput {
  return {
    schema: 'edgeloop.model/v1',
    name: 'pump-anomaly',
    version: '1.0.0',
    kind: 'anomaly',
    createdAt: '2026-01-01T00:00:00.000Z',
    artifact: describeArtifact(onnx),
    inputs: {
      kind: 'window',
      name: 'input',
      sensors: ['temperature', 'pressure'],
      window: { length: 3, stride: 1 },
      normalization: { mean: [1, 2], std: [2, 3], folded: true },
    },
    output: { name: 'score', kind: 'reconstruction-error' },
    threshold: 0.5,
    thresholdRule: 'test',
    testVector: { input, expected, tolerance: 1e-4 },
  };
}

describe('signManifest / verifyManifest', () => {
  it('signs and verifies; key order and formatting of the JSON do not matter', () => {
    const key = generateSigningKey();
    const signed = signManifest(manifest(), key.privateKey);
    expect(signed.signature.alg).toBe('ed25519');
    expect(signed.signature.keyId).toBe(key.keyId);
    expect(key.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(key.publicKeyPem)).toBe(key.keyId);
    expect(keyIdOf(key.privateKey)).toBe(key.keyId);
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(signed).reverse()), null, 4));
    const v = verifyManifest(reordered, [key.publicKeyPem]);
    expect(v.keyId).toBe(key.keyId);
    expect(v.manifest.name).toBe('pump-anomaly');
  });

  it('refuses a tampered manifest, naming the trusted key that failed', () => {
    const key = generateSigningKey();
    const signed = signManifest(manifest(), key.privateKey);
    const tampered = { ...signed, threshold: 5 };
    const err = catchErr(() => verifyManifest(tampered, [key.publicKey]));
    expect(err.code).toBe('EL_ERR_MODEL_SIGNATURE');
    expect(err.details?.reason).toBe('tampered');
    expect(err.message).toMatch(/modified after signing/);
  });

  it('refuses a manifest signed by a key that is not trusted (wrong key)', () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const signed = signManifest(manifest(), key.privateKey);
    const err = catchErr(() => verifyManifest(signed, [other.publicKeyPem]));
    expect(err.code).toBe('EL_ERR_MODEL_UNTRUSTED_KEY');
    expect(err.details?.reason).toBe('untrusted-key');
    expect(err.message).toContain(`signed with key ${key.keyId}, which is not among the trusted keys (${other.keyId})`);
    // a forged keyId (the trusted one) with a signature by another key reads as tampering
    const forged = { ...signed, signature: { ...signed.signature, keyId: other.keyId } };
    expect(catchErr(() => verifyManifest(forged, [other.publicKeyPem])).details?.reason).toBe('tampered');
  });

  it('refuses an unsigned manifest and an invalid one', () => {
    const key = generateSigningKey();
    expect(catchErr(() => verifyManifest(manifest(), [key.publicKey])).code).toBe('EL_ERR_MODEL_UNSIGNED');
    const bad = { ...manifest(), threshold: 'high' };
    const err = catchErr(() => signManifest(bad as never, key.privateKey));
    expect(err.code).toBe('EL_ERR_MODEL_MANIFEST_INVALID');
    expect(err.message).toMatch(/threshold/);
  });

  it('validates decision.smoothing: a positive integer, on anomaly models only', () => {
    const key = generateSigningKey();
    const ok = signManifest({ ...manifest(), decision: { smoothing: 10 } }, key.privateKey);
    expect(verifyManifest(ok, [key.publicKey]).manifest.decision).toEqual({ smoothing: 10 });
    // the signature covers it: a device cannot be talked into another decision rule
    expect(catchErr(() => verifyManifest({ ...ok, decision: { smoothing: 1 } }, [key.publicKey])).code).toBe(
      'EL_ERR_MODEL_SIGNATURE',
    );
    expect(catchErr(() => signManifest({ ...manifest(), decision: { smoothing: 0 } }, key.privateKey)).message).toMatch(
      /decision\.smoothing/,
    );
    expect(
      catchErr(() =>
        signManifest({ ...manifest(), kind: 'recommender', decision: { smoothing: 2 } } as never, key.privateKey),
      ).message,
    ).toMatch(/decision: only anomaly models have a decision rule/);
  });

  it('reads and writes key files; refuses the wrong key type and overwriting', () => {
    const dir = tmp();
    const { privatePath, publicPath, keyId } = writeSigningKey(dir, 'ops');
    expect(statSync(privatePath).mode & 0o777).toBe(0o600);
    expect(keyIdOf(readPublicKey(publicPath))).toBe(keyId);
    expect(keyIdOf(readPrivateKey(privatePath))).toBe(keyId);
    expect(() => writeSigningKey(dir, 'ops')).toThrow(/not overwriting a signing key/);
    expect(catchErr(() => readPrivateKey(publicPath)).code).toBe('EL_ERR_MODEL_KEY');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(join(dir, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => readPrivateKey(join(dir, 'rsa.pem'))).toThrow(/rsa key, manifests are signed with ed25519/);
    expect(catchErr(() => readPublicKey(join(dir, 'missing.pub'))).code).toBe('EL_ERR_MODEL_KEY');
  });
});

describe('writeModelDir / verifyModelDir', () => {
  it('writes a directory that verifies, loads in ONNX Runtime and passes its test vector', async () => {
    const dir = tmp();
    const key = generateSigningKey();
    const { modelPath } = writeModelDir(dir, { onnx, manifest: signManifest(manifest(), key.privateKey) });
    const v = verifyModelDir(dir, { trustedKeys: [key.publicKeyPem] });
    expect(v.modelPath).toBe(modelPath);
    expect(v.keyId).toBe(key.keyId);
    const runner = await OrtModelRunner.forManifest(v.onnx, v.manifest);
    onTestFinished(() => runner.close());
    const { maxError } = await checkTestVector(runner, v.manifest);
    expect(maxError).toBeLessThanOrEqual(1e-4);
  });

  it('refuses a tampered model file (EL_ERR_MODEL_HASH)', () => {
    const dir = tmp();
    const key = generateSigningKey();
    const { modelPath } = writeModelDir(dir, { onnx, manifest: signManifest(manifest(), key.privateKey) });
    const bytes = readFileSync(modelPath);
    bytes[bytes.length - 10]! ^= 0xff;
    writeFileSync(modelPath, bytes);
    const err = catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] }));
    expect(err.code).toBe('EL_ERR_MODEL_HASH');
    expect(err.message).toMatch(/does not match its manifest/);
  });

  it('refuses a tampered manifest.json, a wrong key and an unsigned manifest', () => {
    const dir = tmp();
    const key = generateSigningKey();
    writeModelDir(dir, { onnx, manifest: signManifest(manifest(), key.privateKey) });
    const path = join(dir, 'manifest.json');
    const original = readFileSync(path, 'utf8');

    writeFileSync(path, original.replace('"threshold": 0.5', '"threshold": 50'));
    expect(catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] })).details?.reason).toBe('tampered');

    writeFileSync(path, original);
    const err = catchErr(() => verifyModelDir(dir, { trustedKeys: [generateSigningKey().publicKey] }));
    expect(err.code).toBe('EL_ERR_MODEL_UNTRUSTED_KEY');
    expect(err.details?.reason).toBe('untrusted-key');

    const unsignedDir = tmp();
    writeModelDir(unsignedDir, { onnx, manifest: manifest() });
    expect(catchErr(() => verifyModelDir(unsignedDir, { trustedKeys: [key.publicKey] })).code).toBe(
      'EL_ERR_MODEL_UNSIGNED',
    );
    expect(verifyModelDir(unsignedDir, { trustedKeys: [], requireSignature: false }).keyId).toBeUndefined();
  });

  it('refuses bad manifests: not JSON, schema errors, artifact outside the directory, bytes that do not match', () => {
    const dir = tmp();
    const key = generateSigningKey();
    expect(catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] })).message).toMatch(
      /cannot read .*manifest\.json/,
    );
    writeFileSync(join(dir, 'manifest.json'), '{ not json');
    expect(catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] })).code).toBe(
      'EL_ERR_MODEL_MANIFEST_INVALID',
    );
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest(), version: '' }));
    expect(catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] })).message).toMatch(/version/);
    const outside = { ...manifest(), artifact: { ...describeArtifact(onnx), file: '../model.onnx' } };
    expect(catchErr(() => signManifest(outside, key.privateKey)).code).toBe('EL_ERR_MODEL_PATH');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(signUnchecked(outside, key.privateKey)));
    expect(catchErr(() => verifyModelDir(dir, { trustedKeys: [key.publicKey] }))).toMatchObject({
      code: 'EL_ERR_MODEL_PATH',
      message: expect.stringMatching(/"\.\.\/model\.onnx" is not a file name inside the model directory/),
    });
    expect(catchErr(() => writeModelDir(dir, { onnx: onnx.subarray(1), manifest: manifest() })).code).toBe(
      'EL_ERR_MODEL_HASH',
    );
  });
});

function catchErr(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}
