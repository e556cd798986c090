import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { run as modelsCli } from '../../../cli/commands/models.ts';
import { OrtModelRunner, checkTestVector } from '../../../models/runtime/ort-model-runner.ts';
import { lastWindows, parseCmapss, parseRulFile, rmse, sensorIndexes } from '../../../models/rul/cmapss-data.ts';
import { predictUnits, scorePredictions } from '../../../models/rul/evaluate-rul.ts';
import { exportRul, relativeParity } from '../../../models/rul/export-rul.ts';
import { mergeMembers } from '../../../models/rul/ensemble-layers.ts';
import { trainRul } from '../../../models/rul/train-rul.ts';
import { loadTf } from '../../../models/training/load-tf.ts';
import type { TrainedRul } from '../../../models/rul/train-rul.ts';
import { parseManifest } from '../../../protocol/manifest.ts';
import { syntheticCmapss } from './synthetic-cmapss.ts';
import { memoryCliContext } from '../../helpers/cli-context.ts';

const data = syntheticCmapss({ trainUnits: 24, testUnits: 12, seed: 11 });
const FAST = { window: 20, hidden: [16], members: 2, epochs: 15, batchSize: 128, learningRate: 0.01, seed: 3 };

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-rul-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ctx = memoryCliContext;

describe('RUL model on synthetic run-to-failure data', () => {
  let model: TrainedRul;
  const train = parseCmapss(data.train, 'train');
  const test = parseCmapss(data.test, 'test');

  beforeAll(async () => {
    model = await trainRul(train, FAST);
  }, 120_000);
  afterAll(() => model?.dispose());

  it('learns the remaining life: far better than always predicting the mean, interval ordered', () => {
    const p = predictUnits(model, test, data.trueRul);
    const s = scorePredictions(p);
    const mean = data.trueRul.reduce((a, b) => a + b, 0) / data.trueRul.length;
    const baseline = rmse(
      data.trueRul.map(() => mean),
      data.trueRul,
    );
    expect(s.rmse).toBeLessThan(baseline * 0.6);
    for (const x of p) expect(x.p10).toBeLessThanOrEqual(x.p90);
    expect(s.meanIntervalWidth).toBeGreaterThan(0);
  });

  it('is deterministic for a seed', async () => {
    const again = await trainRul(train, FAST);
    try {
      const x = lastWindows(test, FAST.window, sensorIndexes(model.options.sensors));
      expect(Array.from(again.predict(x, test.length))).toEqual(Array.from(model.predict(x, test.length)));
    } finally {
      again.dispose();
    }
  }, 120_000);

  it('exports to ONNX that reproduces TensorFlow.js in ONNX Runtime (1e-4 relative), with a valid manifest and test vector', async () => {
    const x = lastWindows(test, FAST.window, sensorIndexes(model.options.sensors));
    const exported = await exportRul(model, {
      sample: x,
      sampleRows: test.length,
      createdAt: '2026-12-01T00:00:00.000Z',
    });
    expect(exported.parityMaxError).toBeLessThanOrEqual(1e-4);
    const manifest = parseManifest(exported.manifest);
    expect(manifest.kind).toBe('rul');
    expect(manifest.output).toMatchObject({
      kind: 'remaining-useful-life',
      labels: ['rul', 'p10', 'p90'],
      quantiles: { p10: 0.1, p90: 0.9 },
    });
    expect(manifest.inputs).toMatchObject({
      kind: 'window',
      window: { length: 20, stride: 1 },
      normalization: { folded: true },
    });
    const runner = await OrtModelRunner.forManifest(exported.onnx, manifest);
    try {
      await checkTestVector(runner, manifest);
      const ort = (await runner.run(x, test.length)).data;
      const tf = model.predict(x, test.length);
      expect(relativeParity(tf, ort)).toBeLessThanOrEqual(1e-4);
    } finally {
      await runner.close();
    }
  });

  it('the manifest refuses a quantile level for a column that does not exist', async () => {
    const x = lastWindows(test, FAST.window, sensorIndexes(model.options.sensors));
    const { manifest } = await exportRul(model, { sample: x.subarray(0, x.length / test.length), sampleRows: 1 });
    const bad = { ...manifest, output: { ...manifest.output, quantiles: { p50: 0.5 } } };
    expect(() => parseManifest(bad)).toThrow(/output\.quantiles\.p50: "p50" is not one of output\.labels/);
  });
});

describe('edgeloop models eval cmapss', () => {
  it('scores NASA-format test + RUL files and writes one row per test unit', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.txt'), data.train);
    writeFileSync(join(dir, 'test.txt'), data.test);
    writeFileSync(join(dir, 'rul.txt'), data.rul);
    const c = ctx(dir);
    const code = await modelsCli(
      [
        'eval',
        'cmapss',
        '--train',
        'train.txt',
        '--test',
        'test.txt',
        '--rul',
        'rul.txt',
        '--out',
        'out/pred.csv',
        '--epochs',
        '15',
        '--window',
        '20',
        '--seed',
        '3',
        '--quiet',
      ],
      c.ctx,
    );
    expect(code).toBe(0);
    expect(c.out()).toMatch(/RMSE\s+\d+\.\d\d cycles/);
    expect(c.out()).toMatch(/NASA score\s+\d+\.\d/);
    expect(c.out()).toMatch(/p10-p90 coverage\s+\d+\.\d %/);
    const lines = readFileSync(join(dir, 'out', 'pred.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(lines[0]).toBe('unit,predicted_rul,p10,p90,true_rul,cycles,fold');
    expect(lines).toHaveLength(13);
    const rows = lines.slice(1).map((l) => l.split(',').map(Number));
    expect(rows.map((r) => r[0])).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(rows.map((r) => r[4])).toEqual(parseRulFile(data.rul, 'rul'));
    // an outside scorer gets the printed RMSE back from the CSV
    const printed = Number(/RMSE\s+([\d.]+)/.exec(c.out())![1]);
    expect(
      rmse(
        rows.map((r) => r[1]!),
        rows.map((r) => r[4]!),
      ),
    ).toBeCloseTo(printed, 1);
  }, 120_000);

  it('k-fold by unit on the training file: every unit scored once, out of fold', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.txt'), data.train);
    const c = ctx(dir);
    await modelsCli(
      [
        'eval',
        'cmapss',
        '--train',
        'train.txt',
        '--folds',
        '3',
        '--epochs',
        '8',
        '--window',
        '20',
        '--out',
        'cv.csv',
        '--json',
        '--quiet',
      ],
      c.ctx,
    );
    const s = JSON.parse(c.out()) as { protocol: string; units: number; rmse: number; coverage: number };
    expect(s).toMatchObject({ protocol: '3-fold', units: 24 });
    const rows = readFileSync(join(dir, 'cv.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.map((r) => Number(r[0]))).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r[6]))).toEqual(new Set(['0', '1', '2']));
    // the cut leaves at least one window and the true RUL is what was cut off
    for (const r of rows) expect(Number(r[5])).toBeGreaterThanOrEqual(20);
  }, 120_000);

  it('bad flags and files fail before training, naming what was wrong', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.txt'), data.train);
    writeFileSync(join(dir, 'rul.txt'), '12\n');
    writeFileSync(join(dir, 'bad.txt'), '1 1 0 0\n');
    const c = ctx(dir);
    await expect(modelsCli(['eval', 'cmapss'], c.ctx)).rejects.toThrow(/--train FILE is required/);
    await expect(modelsCli(['eval', 'cmapss', '--train', 'train.txt', '--test', 'train.txt'], c.ctx)).rejects.toThrow(
      /--test and --rul go together/,
    );
    await expect(modelsCli(['eval', 'cmapss', '--train', 'train.txt', '--epochs', '0'], c.ctx)).rejects.toThrow(
      /--epochs must be an integer >= 1, got "0"/,
    );
    await expect(modelsCli(['eval', 'cmapss', '--train', 'missing.txt'], c.ctx)).rejects.toThrow(
      /--train missing\.txt: ENOENT/,
    );
    await expect(modelsCli(['eval', 'cmapss', '--train', 'bad.txt'], c.ctx)).rejects.toThrow(
      expect.objectContaining({ code: 'EL_ERR_RUL_DATA', message: expect.stringMatching(/bad\.txt:1: expected 26/) }),
    );
    await expect(modelsCli(['eval', 'cmapss', '--train', 'train.txt', '--sensors', 's2,s99'], c.ctx)).rejects.toThrow(
      /unknown C-MAPSS sensor "s99"/,
    );
    await expect(
      modelsCli(
        ['eval', 'cmapss', '--train', 'train.txt', '--test', 'train.txt', '--rul', 'rul.txt', '--epochs', '1'],
        c.ctx,
      ),
    ).rejects.toThrow(/24 test units but 1 RUL values/);
  }, 60_000);
});

describe('ensemble merge', () => {
  it('one Dense chain computes the mean of the members, times the cap', async () => {
    const tf = await loadTf('cpu');
    const hidden = [5, 4];
    const member = (seed: number): TF.Sequential => {
      const m = tf.sequential();
      hidden.forEach((units, i) =>
        m.add(
          tf.layers.dense({
            units,
            activation: 'relu',
            biasInitializer: tf.initializers.randomNormal({ seed: seed + 50 + i }),
            kernelInitializer: tf.initializers.glorotNormal({ seed: seed + i }),
            ...(i === 0 ? { inputShape: [6] } : {}),
            name: `hidden_${i}`,
          }),
        ),
      );
      m.add(
        tf.layers.dense({
          units: 3,
          kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 9 }),
          biasInitializer: tf.initializers.randomNormal({ seed: seed + 99 }),
          name: 'heads',
        }),
      );
      return m;
    };
    const members = [member(1), member(20), member(40)];
    const merged = mergeMembers(tf, members, 6, { hidden, cap: 125 });
    try {
      const x = tf.randomNormal([8, 6], 0, 1, 'float32', 7);
      const want = tf.tidy(() => tf.mul(tf.addN(members.map((m) => m.predict(x) as TF.Tensor)), 125 / 3).dataSync());
      const got = tf.tidy(() => (merged.predict(x) as TF.Tensor).dataSync());
      expect(merged.layers.map((l) => (l.outputShape as number[])[1])).toEqual([15, 12, 3]);
      for (let i = 0; i < want.length; i++) expect(got[i]!).toBeCloseTo(want[i]!, 3);
      x.dispose();
    } finally {
      merged.dispose();
    }
    // with a frozen feature layer in front (10 inputs -> the members' 6): the members see its output
    const kernel = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i + 1));
    const bias = Float32Array.from({ length: 6 }, (_, i) => i / 10 - 0.3);
    const withFeatures = mergeMembers(
      tf,
      members,
      10,
      { hidden, cap: 125 },
      { units: 6, kernel, bias, trainX: new Float32Array(0) },
    );
    try {
      const x = tf.randomNormal([8, 10], 0, 1, 'float32', 8);
      const f = tf.add(tf.matMul(x, tf.tensor2d(kernel, [10, 6])), tf.tensor1d(bias));
      const want = tf.tidy(() => tf.mul(tf.addN(members.map((m) => m.predict(f) as TF.Tensor)), 125 / 3).dataSync());
      const got = tf.tidy(() => (withFeatures.predict(x) as TF.Tensor).dataSync());
      expect(withFeatures.layers.map((l) => (l.outputShape as number[])[1])).toEqual([6, 15, 12, 3]);
      expect(withFeatures.layers[0]!.trainable).toBe(false);
      for (let i = 0; i < want.length; i++) expect(got[i]!).toBeCloseTo(want[i]!, 3);
      tf.dispose([x, f]);
    } finally {
      withFeatures.dispose();
      members.forEach((m) => m.dispose());
    }
  });

  it("the 'window' features variant (dense layers over the whole window) trains and exports with parity", async () => {
    const train = parseCmapss(data.train, 'train');
    const test = parseCmapss(data.test, 'test');
    const t = await trainRul(train, { ...FAST, features: 'window', epochs: 3 });
    try {
      expect(t.model.layers[0]!.name).toBe('hidden_0');
      const x = lastWindows(test, FAST.window, sensorIndexes(t.options.sensors));
      const exported = await exportRul(t, {
        sample: x,
        sampleRows: test.length,
        createdAt: '2026-12-01T00:00:00.000Z',
      });
      expect(exported.parityMaxError).toBeLessThanOrEqual(1e-4);
    } finally {
      t.dispose();
    }
  }, 60_000);
});
