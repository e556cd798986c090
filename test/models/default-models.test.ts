import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readPublicKey, verifyModelDir } from '../../models/manifest/index.ts';
import { OrtModelRunner, checkTestVector } from '../../models/runtime/ort-model-runner.ts';
import { buildWindows } from '../../models/anomaly/windows.ts';

const root = join(import.meta.dirname, '..', '..');
const defaultDir = join(root, 'models', 'default');
const publicKey = join(defaultDir, 'keys', 'edgeloop-default.pub');
const modelDirs = existsSync(defaultDir)
  ? readdirSync(defaultDir).filter((d) => existsSync(join(defaultDir, d, 'manifest.json')))
  : [];

describe('default models shipped in models/default', () => {
  it('include the anomaly model and the public key', () => {
    expect(modelDirs).toContain('anomaly');
    expect(existsSync(publicKey)).toBe(true);
    // only the public key is in the repository
    expect(readFileSync(publicKey, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(readdirSync(join(defaultDir, 'keys')).filter((f) => !f.endsWith('.pub'))).toEqual([]);
  });

  it.each(modelDirs)(
    '%s: verifies against the committed key, loads in ONNX Runtime and passes its test vector',
    async (name) => {
      const v = verifyModelDir(join(defaultDir, name), { trustedKeys: [readPublicKey(publicKey)] });
      // the RUL model's budget is the 1 MiB (its frozen window-feature layer alone is ~190 KiB)
      expect(v.manifest.artifact.bytes).toBeLessThan((name === 'rul' ? 1024 : 200) * 1024);
      const runner = await OrtModelRunner.forManifest(v.modelPath, v.manifest);
      onTestFinished(() => runner.close());
      const { maxError } = await checkTestVector(runner, v.manifest);
      expect(maxError).toBeLessThanOrEqual(v.manifest.testVector.tolerance);
    },
  );

  it('anomaly: scores the windows the manifest describes; a clear fault scores above the threshold', async () => {
    const v = verifyModelDir(join(defaultDir, 'anomaly'), { trustedKeys: [readPublicKey(publicKey)] });
    const m = v.manifest;
    if (m.inputs.kind !== 'window') throw new Error('not a window model');
    const { sensors, window, normalization } = m.inputs;
    // rows at the normalisation mean (a typical reading) and the same rows with every sensor 8 std higher
    const rows = window.length + 1;
    const normal = Float64Array.from(
      { length: rows * sensors.length },
      (_, i) => normalization.mean[i % sensors.length]!,
    );
    const faulty = normal.map((x, i) => x + 8 * normalization.std[i % sensors.length]!);
    const w = buildWindows(Float64Array.from([...normal, ...faulty]), rows * 2, sensors.length, window.length, 1);
    const runner = await OrtModelRunner.forManifest(v.onnx, m);
    onTestFinished(() => runner.close());
    const out = await runner.run(w.data, w.count);
    expect(out.width).toBe(1);
    expect(out.data[0]!).toBeLessThan(m.threshold);
    expect(out.data[w.count - 1]!).toBeGreaterThan(m.threshold);
  });
});

describe('default anomaly model and the fleet simulator', () => {
  it("reads only sensors that the simulator's default devices send", async () => {
    const { DEFAULT_SENSORS } = await import('../../simulator/signal-model.ts');
    const m = JSON.parse(readFileSync(join(defaultDir, 'anomaly', 'manifest.json'), 'utf8')) as {
      inputs: { sensors: string[] };
    };
    const simulated = DEFAULT_SENSORS.map((s) => s.name);
    expect(m.inputs.sensors.filter((s) => !simulated.includes(s))).toEqual([]);
  });
});
