import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { verifyModelDir } from '../../../models/manifest/index.ts';
import { ruleOracle, ruleOracleFailure } from '../../../models/recommender/rule-oracle.ts';
import { prependFeatureGraph } from '../../../models/recommender/feature-graph.ts';
import { exportTfjsToOnnx } from '../../../models/onnx/export-tfjs.ts';
import { loadTf } from '../../../models/training/load-tf.ts';
import {
  FAILURE_MODES,
  TEST_SALT,
  VALIDATION_SALT,
  parseAi4iCsv,
  splitByUdi,
  udiFraction,
} from '../../../models/recommender/ai4i-data.ts';
import type { Ai4iData } from '../../../models/recommender/ai4i-data.ts';
import { ACTION_CATALOG, rankCatalog } from '../../../models/recommender/actions.ts';
import { buildDefaultRecommender } from '../../../models/recommender/build-default.ts';
import { evalAi4iCommand, trainRecommenderCommand } from '../../../models/recommender/commands.ts';
import { exportRecommender } from '../../../models/recommender/export-recommender.ts';
import {
  MODEL_FEATURES,
  RAW_FEATURES,
  engineerFeatures,
  exactReading,
  typeOneHot,
} from '../../../models/recommender/features.ts';
import { evaluate, logit, tuneThreshold } from '../../../models/recommender/metrics.ts';
import { trainRecommender } from '../../../models/recommender/train-recommender.ts';
import type { TrainedRecommender } from '../../../models/recommender/train-recommender.ts';
import { OrtModelRunner, checkTestVector } from '../../../models/runtime/ort-model-runner.ts';
import { parseManifest } from '../../../protocol/manifest.ts';
import { memoryCliContext } from '../../helpers/cli-context.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'ai4i', 'ai4i-sample.csv');
const fixtureText = readFileSync(FIXTURE, 'utf8');

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-rec-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ctx = memoryCliContext;

describe('AI4I data', () => {
  it('parses the fixture (BOM, CRLF) into raw features and labels', () => {
    const d = parseAi4iCsv(fixtureText, 'fixture');
    expect(d.rows).toBe(600);
    expect(d.raw.length).toBe(600 * RAW_FEATURES.length);
    // one-hot type columns sum to 1
    for (let i = 0; i < d.rows; i++) expect(d.raw[i * 8 + 5]! + d.raw[i * 8 + 6]! + d.raw[i * 8 + 7]!).toBe(1);
    const positives = FAILURE_MODES.map((_, j) =>
      Array.from({ length: d.rows }, (_, i) => d.labels[i * 5 + j]!).reduce((a, b) => a + b, 0),
    );
    expect(positives.every((p) => p > 0)).toBe(true);
  });

  it('rejects missing columns, naming them', () => {
    const text = fixtureText.replace('Torque [Nm],', '').replace('TWF,', 'XWF,');
    expect(() => parseAi4iCsv(text, 'bad.csv')).toThrow(/bad\.csv: missing column\(s\) "Torque \[Nm\]", "TWF"/);
  });

  it('rejects NaN and bad values with line and column', () => {
    const lines = fixtureText.split('\r\n');
    const cells = lines[3]!.split(',');
    cells[6] = 'NaN';
    lines[3] = cells.join(',');
    expect(() => parseAi4iCsv(lines.join('\r\n'), 'nan.csv')).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_DATA_INVALID',
        message: expect.stringMatching(/nan\.csv line 4: column "Torque \[Nm\]" is not a finite number \("NaN"\)/),
      }),
    );
    const t = fixtureText.split('\r\n');
    t[2] = t[2]!.replace(/,L,|,M,|,H,/, ',X,');
    expect(() => parseAi4iCsv(t.join('\r\n'), 'type.csv')).toThrow(/type\.csv line 3: column "Type" must be L, M or H/);
  });

  it('splits deterministically by UDI, whatever the row order', () => {
    const d = parseAi4iCsv(fixtureText);
    const a = splitByUdi(d, 0.2, TEST_SALT);
    expect(a.held.rows + a.kept.rows).toBe(d.rows);
    expect(a.held.rows).toBeGreaterThan(80);
    expect(a.held.rows).toBeLessThan(160);
    for (const u of a.held.udi) expect(udiFraction(u, TEST_SALT)).toBeLessThan(0.2);
    const lines = fixtureText.trimEnd().split('\r\n');
    const reversed = [lines[0], ...lines.slice(1).reverse()].join('\r\n');
    const b = splitByUdi(parseAi4iCsv(reversed), 0.2, TEST_SALT);
    expect([...b.held.udi].sort((x, y) => x - y)).toEqual([...a.held.udi].sort((x, y) => x - y));
  });
});

describe('features, actions and metrics', () => {
  it('engineers power, temperature difference, wear x torque and the overstrain ratio', () => {
    // air 300 K, process 310 K, 1500 rpm, 40 Nm, 200 min, type M
    const raw = Float32Array.from([300, 310, 1500, 40, 200, 0, 1, 0]);
    const x = engineerFeatures(raw, 1);
    const f = (name: string): number => x[MODEL_FEATURES.indexOf(name)]!;
    expect(f('temp_diff_k')).toBeCloseTo(10, 4);
    expect(f('power_w')).toBeCloseTo((40 * 1500 * 2 * Math.PI) / 60, 1);
    expect(f('wear_torque_min_nm')).toBe(8000);
    expect(f('overstrain_ratio')).toBeCloseTo(8000 / 12000, 6);
  });

  it('engineers signed margins and bounded [-1, 1] regions for the HDF, PWF, OSF and TWF rules', () => {
    const row = (
      air: number,
      proc: number,
      rpm: number,
      torque: number,
      wear: number,
      type: 'L' | 'M' | 'H',
    ): ((name: string) => number) => {
      const x = engineerFeatures(Float32Array.from([air, proc, rpm, torque, wear, ...typeOneHot(type)]), 1);
      return (name) => x[MODEL_FEATURES.indexOf(name)]!;
    };
    // HDF: temp diff < 8.6 K and rpm < 1380 (boundary halfway between readings: 8.55 K, 1379.5 rpm)
    expect(row(300, 308.5, 1379, 40, 0, 'L')('hdf_region')).toBe(1);
    expect(row(300, 308.5, 1379, 40, 0, 'L')('hdf_margin')).toBeCloseTo(0.005, 4);
    expect(row(300, 308.6, 1300, 40, 0, 'L')('hdf_region')).toBe(-1);
    expect(row(300, 308.0, 1380, 40, 0, 'L')('hdf_region')).toBe(-1);
    expect(row(300, 312, 1500, 40, 0, 'L')('hdf_margin')).toBeCloseTo(-3.45, 4);
    // PWF: power outside [3500, 9000] W (signed distance in kW)
    const rpmFor = (w: number, nm: number): number => (w * 60) / (2 * Math.PI * nm);
    expect(row(300, 310, rpmFor(9020, 50), 50, 0, 'L')('pwf_region')).toBe(1);
    expect(row(300, 310, rpmFor(9020, 50), 50, 0, 'L')('pwf_margin')).toBeCloseTo(0.02, 3);
    expect(row(300, 310, rpmFor(8985, 50), 50, 0, 'L')('pwf_region')).toBe(-1);
    expect(row(300, 310, rpmFor(3480, 20), 20, 0, 'L')('pwf_region')).toBe(1);
    expect(row(300, 310, rpmFor(3520, 20), 20, 0, 'L')('pwf_region')).toBe(-1);
    expect(row(300, 310, rpmFor(6250, 40), 40, 0, 'L')('pwf_margin')).toBeCloseTo(-2.75, 3);
    // OSF: wear x torque above 11000 / 12000 / 13000 min·Nm for L / M / H
    expect(row(300, 310, 1500, 55, 201, 'L')('osf_region')).toBe(1); // 11055
    expect(row(300, 310, 1500, 55, 199, 'L')('osf_region')).toBe(-1); // 10945
    expect(row(300, 310, 1500, 55, 201, 'M')('osf_region')).toBe(-1);
    expect(row(300, 310, 1500, 60, 201, 'M')('osf_region')).toBe(1); // 12060
    expect(row(300, 310, 1500, 60, 201, 'H')('osf_region')).toBe(-1);
    expect(row(300, 310, 1500, 55, 201, 'L')('osf_margin')).toBeCloseTo(55 / 11000, 5);
    // TWF: tool wear window 200-240 min (signed distance in 10 min, clipped)
    expect(row(300, 310, 1500, 40, 220, 'L')('twf_margin')).toBeCloseTo(2, 5);
    expect(row(300, 310, 1500, 40, 220, 'L')('twf_region')).toBe(1);
    expect(row(300, 310, 1500, 40, 205, 'L')('twf_region')).toBeCloseTo(0.5, 5);
    expect(row(300, 310, 1500, 40, 100, 'L')('twf_region')).toBe(-1);
  });

  it('the region features reproduce the HDF, PWF and OSF labels of the AI4I rows', () => {
    const d = parseAi4iCsv(fixtureText, 'fixture');
    const x = engineerFeatures(d.raw, d.rows);
    const m = MODEL_FEATURES.length;
    const col = (name: string): number => MODEL_FEATURES.indexOf(name);
    let positives = 0;
    let atBoundary = 0;
    for (let i = 0; i < d.rows; i++) {
      if (Math.abs(x[i * m + col('temp_diff_k')]! - 8.6) < 1e-3 && d.raw[i * 8 + 2]! < 1380) atBoundary++;
      for (const [j, name] of [
        [1, 'hdf_region'],
        [2, 'pwf_region'],
        [3, 'osf_region'],
      ] as const) {
        const label = d.labels[i * 5 + j] === 1;
        positives += label ? 1 : 0;
        expect(x[i * m + col(name)]! > 0, `row ${i} (UDI ${d.udi[i]}) ${name}`).toBe(label);
      }
    }
    expect(positives).toBeGreaterThan(10);
    expect(atBoundary).toBeGreaterThan(0); // rows at exactly 8.6 K below 1380 rpm are checked too
  });

  // hand-made rows at exactly 8.6 K in decimal: the generator computes process - air in float64, so
  // 308.6 - 300.0 = 8.600000000000023 is safe and 306.7 - 298.1 = 8.599999999999966 fails (both < 1380 rpm)
  const AT_8_6_K = [
    { air: 300.0, proc: 308.6, hdf: false },
    { air: 298.1, proc: 306.7, hdf: true },
    { air: 300.5, proc: 309.1, hdf: false },
    { air: 302.3, proc: 310.9, hdf: true },
    { air: 300.1, proc: 308.7, hdf: true },
    { air: 300.0, proc: 308.5, hdf: true },
    { air: 300.0, proc: 308.7, hdf: false },
  ];
  const boundaryRows = Float32Array.from(AT_8_6_K.flatMap((r) => [r.air, r.proc, 1300, 40, 10, 1, 0, 0]));

  it('HDF at exactly 8.6 K follows the float64 rule on the decimal readings (features, rule oracle)', () => {
    for (const r of AT_8_6_K) expect(r.proc - r.air < 8.6).toBe(r.hdf); // the float64 rule itself
    expect(exactReading(Math.fround(309.1))).toBe(309.1);
    expect(exactReading(Math.fround(300.0625))).toBe(300.062); // half to even, as ONNX Round
    const x = engineerFeatures(boundaryRows, AT_8_6_K.length);
    const m = MODEL_FEATURES.length;
    const oracle = ruleOracle(boundaryRows, AT_8_6_K.length);
    AT_8_6_K.forEach((r, i) => {
      const region = x[i * m + MODEL_FEATURES.indexOf('hdf_region')]!;
      const margin = x[i * m + MODEL_FEATURES.indexOf('hdf_margin')]!;
      expect(region, `${r.proc} - ${r.air}`).toBe(r.hdf ? 1 : -1);
      expect(Math.abs(margin), `${r.proc} - ${r.air}`).toBeGreaterThanOrEqual(0.005);
      expect(margin > 0).toBe(r.hdf);
      expect(oracle[i * 5 + 1], `${r.proc} - ${r.air}`).toBe(r.hdf ? 1 : 0);
    });
  });

  it('the ONNX feature graph computes the same exact HDF side in ONNX Runtime (float32 inputs)', async () => {
    const tf = await loadTf('cpu');
    const m = MODEL_FEATURES.length;
    // identity network: the exported graph then outputs the engineered row as the graph computes it
    const net = tf.sequential({
      layers: [tf.layers.dense({ units: m, inputShape: [m], kernelInitializer: 'identity', biasInitializer: 'zeros' })],
    });
    onTestFinished(() => {
      net.dispose();
    });
    const onnx = prependFeatureGraph(
      exportTfjsToOnnx(net, { inputName: 'features', outputName: 'engineered' }),
      'features',
    );
    const runner = await OrtModelRunner.create({ model: onnx, inputName: 'features', outputName: 'engineered' });
    onTestFinished(() => runner.close());
    const out = (await runner.run(boundaryRows, AT_8_6_K.length)).data;
    const js = engineerFeatures(boundaryRows, AT_8_6_K.length);
    AT_8_6_K.forEach((r, i) => {
      expect(out[i * m + MODEL_FEATURES.indexOf('hdf_region')], `${r.proc} - ${r.air}`).toBe(r.hdf ? 1 : -1);
      for (const name of ['hdf_margin', 'hdf_region', 'temp_diff_k']) {
        expect(out[i * m + MODEL_FEATURES.indexOf(name)]).toBeCloseTo(js[i * m + MODEL_FEATURES.indexOf(name)]!, 4);
      }
    });
  });

  it('the rule oracle applies the generating rules: exact for HDF, PWF and OSF on the fixture; TWF = the 200-240 min window; never RNF', () => {
    // hand-made rows: [air K, process K, rpm, torque Nm, wear min, L, M, H]
    const rows = [
      [300, 310, 1500, 40, 10, 1, 0, 0], // healthy
      [300, 308.5, 1370, 40, 10, 1, 0, 0], // HDF: diff 8.5 K < 8.6 and rpm < 1380
      [300, 308.5, 1385, 40, 10, 1, 0, 0], // not HDF: rpm >= 1380
      [300, 310, 1200, 25, 10, 0, 1, 0], // PWF: 25 Nm x 1200 rpm = 3142 W < 3500
      [300, 310, 2800, 35, 10, 0, 0, 1], // PWF: 10263 W > 9000
      [300, 310, 1300, 60, 190, 1, 0, 0], // OSF (L): 11400 > 11000 (power 8168 W: fine)
      [300, 310, 1300, 60, 190, 0, 0, 1], // not OSF (H): 11400 <= 13000
      [300, 310, 1500, 40, 215, 0, 1, 0], // TWF window
    ];
    const o = ruleOracle(Float32Array.from(rows.flat()), rows.length);
    const pick = (i: number): string => FAILURE_MODES.filter((_, j) => o[i * 5 + j] === 1).join('+');
    expect(rows.map((_, i) => pick(i))).toEqual(['', 'HDF', '', 'PWF', 'PWF', 'OSF', '', 'TWF']);
    const d = parseAi4iCsv(fixtureText, 'fixture');
    const rules = ruleOracle(d.raw, d.rows);
    const r = evaluate(rules, d.labels, d.rows, undefined, {
      probs: ruleOracleFailure(rules, d.rows),
      labels: d.machineFailure,
    });
    expect(r.perMode.PWF!.f1).toBe(1);
    expect(r.perMode.OSF!.f1).toBe(1);
    expect(r.perMode.HDF!.f1).toBe(1);
    expect(r.perMode.RNF!.predicted).toBe(0);
    expect(r.binaryFailure.precision).toBe(1); // HDF, PWF or OSF always means a machine failure
  });

  it('ranks actions from mode probabilities, "no action" = prod(1 - p)', () => {
    const r = rankCatalog([0.1, 0.9, 0.2, 0.05, 0.01]);
    expect(r[0]!.id).toBe('restore-cooling');
    const calm = rankCatalog([0.01, 0.02, 0.01, 0.01, 0.0]);
    expect(calm[0]!.id).toBe('no-action');
    expect(calm[0]!.score).toBeCloseTo(0.99 * 0.98 * 0.99 * 0.99, 9);
    expect(ACTION_CATALOG.map((a) => a.id)).toEqual([
      'replace-tool',
      'restore-cooling',
      'correct-setpoint',
      'reduce-load',
      'inspect',
      'no-action',
    ]);
  });

  it('computes per-mode, macro, binary and hit@k metrics by hand', () => {
    // 3 rows: row0 true HDF predicted HDF; row1 true TWF predicted nothing; row2 no mode, predicted PWF
    const labels = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const probs = [0.1, 0.9, 0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1];
    const r = evaluate(probs, labels, 3);
    expect(r.perMode.HDF).toMatchObject({ tp: 1, precision: 1, recall: 1, f1: 1 });
    expect(r.perMode.TWF).toMatchObject({ tp: 0, recall: 0, f1: 0 });
    expect(r.perMode.PWF).toMatchObject({ predicted: 1, precision: 0 });
    expect(r.macroF1).toBeCloseTo(1 / 5, 12);
    expect(r.binaryFailure.precision).toBeCloseTo(1 / 2, 12);
    expect(r.binaryFailure.recall).toBeCloseTo(1 / 2, 12);
    // row1: TWF 0.4 vs no-action 0.6*0.9^4 = 0.39 → replace-tool first
    expect(r.hitAt1).toBe(1);
    expect(r.rowsWithMode).toBe(2);
    expect(r.anyModeFailure).toEqual(r.binaryFailure);
    // the machine failure output is scored on its own against the Machine failure label
    const f = evaluate(probs, labels, 3, undefined, { probs: [0.9, 0.2, 0.7], labels: [1, 1, 0] });
    expect(f.binaryFailure).toMatchObject({ support: 2, precision: 0.5, recall: 0.5 });
    expect(f.anyModeFailure).toEqual(r.anyModeFailure);
    expect(evaluate(probs, labels, 3, undefined, { probs: [0.9, 0.6, 0.1], labels: [1, 1, 0] }).binaryFailure.f1).toBe(
      1,
    );
  });

  it('tunes an F1-optimal threshold between scores', () => {
    const scores = [0.9, 0.8, 0.7, 0.3, 0.2];
    const labels = [1, 1, 0, 1, 0];
    const t = tuneThreshold(scores, labels, 5);
    // predicting the top two: F1 = 4/5; top four: 2*3/(4+3) = 6/7 > 4/5
    expect(t.f1).toBeCloseTo(6 / 7, 12);
    expect(t.threshold).toBeCloseTo(0.25, 12);
    expect(tuneThreshold([0.1, 0.2], [0, 0], 2, 1, 0, 0.5).threshold).toBe(0.5);
  });
});

describe('training and export', () => {
  let data: Ai4iData;
  let a: TrainedRecommender;
  beforeAll(async () => {
    data = parseAi4iCsv(fixtureText, 'fixture');
    a = await trainRecommender(data, { epochs: 3, seed: 7 });
  });
  afterAll(() => a?.dispose());

  it('is deterministic for a seed and differs across seeds', async () => {
    const b = await trainRecommender(data, { epochs: 3, seed: 7 });
    const c = await trainRecommender(data, { epochs: 3, seed: 8 });
    try {
      const wa = a.model.getWeights().map((w) => Array.from(w.dataSync()));
      const wb = b.model.getWeights().map((w) => Array.from(w.dataSync()));
      const wc = c.model.getWeights().map((w) => Array.from(w.dataSync()));
      expect(wb).toEqual(wa);
      expect(wc).not.toEqual(wa);
      expect(b.thresholds).toEqual(a.thresholds);
    } finally {
      b.dispose();
      c.dispose();
    }
  });

  it('rejects unknown and bad options', async () => {
    await expect(trainRecommender(data, { epoch: 3 } as never)).rejects.toThrow(/unknown training option "epoch"/);
    await expect(trainRecommender(data, { epochs: 0 })).rejects.toThrow(/epochs must be an integer >= 1/);
    await expect(trainRecommender(data, { l2: -1 })).rejects.toThrow(/l2 must be >= 0/);
    await expect(trainRecommender(data, { minUsefulF1ByMode: { XWF: 0.1 } as never })).rejects.toThrow(
      /minUsefulF1ByMode: unknown mode "XWF"/,
    );
    await expect(trainRecommender(data, { minUsefulF1ByMode: { TWF: 2 } })).rejects.toThrow(
      /minUsefulF1ByMode.TWF must be in \[0, 1\]/,
    );
  });

  it('exports an ONNX model over raw features that matches TensorFlow.js within 1e-5 in ONNX Runtime', async () => {
    const exported = await exportRecommender(a, {
      sampleRaw: data.raw,
      sampleRows: data.rows,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    expect(exported.parityMaxError).toBeLessThanOrEqual(1e-5);
    // independent check: our own ORT session on every fixture row
    const runner = await OrtModelRunner.create({
      model: exported.onnx,
      inputName: 'features',
      outputName: 'mode_probabilities',
    });
    onTestFinished(() => runner.close());
    expect(runner.inputWidth).toBe(RAW_FEATURES.length);
    const out = await runner.run(data.raw, data.rows);
    const ref = a.predict(data.raw, data.rows);
    expect(out.width).toBe(5);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(out.data[i]! - ref[i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);

    const m = parseManifest(exported.manifest);
    await checkTestVector(runner, m);
    expect(m.kind).toBe('recommender');
    if (m.inputs.kind !== 'features') throw new Error('features manifest expected');
    expect(m.inputs.features).toEqual([...RAW_FEATURES]);
    expect(m.inputs.normalization.folded).toBe(true);
    expect(m.inputs.defaults).toEqual([
      { feature: 'type_l', value: 1 },
      { feature: 'type_m', value: 0 },
      { feature: 'type_h', value: 0 },
    ]);
    expect(m.inputs.maxFeatureAgeMs).toBe(900_000);
    expect(m.output).toEqual({
      name: 'mode_probabilities',
      kind: 'multilabel-probabilities',
      labels: ['TWF', 'HDF', 'PWF', 'OSF', 'RNF'],
    });
    expect(m.threshold).toBe(0.5);
    expect(m.actions!.map((x) => [x.id, x.modes])).toEqual([
      ['replace-tool', ['TWF']],
      ['restore-cooling', ['HDF']],
      ['correct-setpoint', ['PWF']],
      ['reduce-load', ['OSF']],
      ['inspect', ['RNF']],
      ['no-action', []],
    ]);
    expect((m.metrics as { thresholds: Record<string, number> }).thresholds).toEqual({
      TWF: 0.5,
      HDF: 0.5,
      PWF: 0.5,
      OSF: 0.5,
      RNF: 0.5,
    });
    expect((m.metrics as { failureOutput: unknown }).failureOutput).toEqual({
      name: 'failure_probability',
      threshold: 0.5,
      impliedBy: ['HDF', 'PWF', 'OSF'],
    });
    // the machine failure output: its own graph output [batch, 1], equal to TensorFlow.js
    const failureRunner = await OrtModelRunner.create({
      model: exported.onnx,
      inputName: 'features',
      outputName: 'failure_probability',
    });
    onTestFinished(() => failureRunner.close());
    const failure = await failureRunner.run(data.raw, data.rows);
    expect(failure.width).toBe(1);
    const refFailure = a.predictFailure(data.raw, data.rows);
    for (let i = 0; i < data.rows; i++) {
      expect(Math.abs(failure.data[i]! - refFailure[i]!)).toBeLessThanOrEqual(1e-5);
      // an HDF, PWF or OSF prediction is a machine failure prediction
      for (const j of [1, 2, 3]) expect(failure.data[i]!).toBeGreaterThanOrEqual(out.data[i * 5 + j]!);
    }
    expect(m.createdAt).toBe('2026-01-01T00:00:00.000Z');
  });

  it('folds the tuned thresholds: folded output >= 0.5 exactly where the raw probability >= its threshold', () => {
    const val = splitByUdi(data, 0.25, VALIDATION_SALT).held;
    expect(val.rows).toBe(a.validationRows);
    const folded = a.predict(val.raw, val.rows);
    const atHalf = evaluate(folded, val.labels, val.rows, undefined, {
      probs: a.predictFailure(val.raw, val.rows),
      labels: val.machineFailure,
    });
    expect(atHalf).toEqual(a.validation);
    // undo the fold: logit(p_raw) = logit(p_folded) + logit(t)
    const unfolded = Float64Array.from(folded, (p, i) => 1 / (1 + Math.exp(-(logit(p) + logit(a.thresholds[i % 5]!)))));
    const atTuned = evaluate(unfolded, val.labels, val.rows, a.thresholds);
    expect(atTuned.perMode).toEqual(atHalf.perMode);
  });
});

describe('CLI', () => {
  it('train recommender writes a signed model directory that verifies', async () => {
    const dir = tmp();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const c = ctx(dir);
    const code = await trainRecommenderCommand(
      ['--data', FIXTURE, '--out', 'model', '--epochs', '2', '--key', 'k.pem', '--quiet'],
      c.ctx,
    );
    expect(code).toBe(0);
    expect(c.out()).toMatch(/holdout test \(\d+ rows, 0\.2 by UDI hash\)/);
    expect(c.out()).toMatch(/macro-F1 \(5 modes\)/);
    const v = verifyModelDir(join(dir, 'model'), { trustedKeys: [publicKey] });
    expect(v.manifest.name).toBe('ai4i-recommender');
    expect((v.manifest.metrics as { holdout?: unknown }).holdout).toBeDefined();
  });

  it('eval ai4i prints the report and writes per-row predictions', async () => {
    const dir = tmp();
    const c = ctx(dir);
    const code = await evalAi4iCommand(['--train', FIXTURE, '--out', 'pred.csv', '--epochs', '2', '--quiet'], c.ctx);
    expect(code).toBe(0);
    expect(c.out()).toMatch(/TWF +\d+ +[\d.]+ +[\d.]+ +[\d.]+/);
    expect(c.out()).toMatch(/action hit@1 [\d.]+ hit@2 [\d.]+/);
    expect(c.out()).toMatch(/rule oracle on the same rows[^\n]*\n  mode  support/);
    const lines = readFileSync(join(dir, 'pred.csv'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('UDI,predicted_modes,top_actions,predicted_failure');
    expect(c.out()).toMatch(/binary machine failure: precision [\d.]+ recall [\d.]+ F1 [\d.]+ \(support \d+\)/);
    const test = splitByUdi(parseAi4iCsv(fixtureText), 0.2, TEST_SALT).held;
    expect(lines.length - 1).toBe(test.rows);
    for (const l of lines.slice(1)) {
      const [udi, modes, actions, failure] = l.split(',');
      expect(['0', '1']).toContain(failure);
      expect(Number(udi)).toBeGreaterThan(0);
      for (const m of modes ? modes.split('|') : []) expect(FAILURE_MODES).toContain(m);
      expect(actions!.split('|')).toHaveLength(2);
    }
  });

  it('eval ai4i with separate files leaves the test UDIs out of training', async () => {
    const dir = tmp();
    const lines = fixtureText.trimEnd().split('\r\n');
    writeFileSync(join(dir, 'test.csv'), [lines[0], ...lines.slice(1, 101)].join('\r\n'));
    const c = ctx(dir);
    expect(
      await evalAi4iCommand(['--train', FIXTURE, '--test', 'test.csv', '--epochs', '1', '--quiet', '--json'], c.ctx),
    ).toBe(0);
    const report = JSON.parse(c.out()) as { trainRows: number; validationRows: number; test: { rows: number } };
    expect(report.test.rows).toBe(100);
    expect(report.trainRows + report.validationRows).toBe(500);
  });

  it('bad input fails with a clear error', async () => {
    const dir = tmp();
    const c = ctx(dir);
    await expect(trainRecommenderCommand(['--out', 'x'], c.ctx)).rejects.toThrow(/--data FILE is required/);
    await expect(trainRecommenderCommand(['--data', 'nope.csv', '--out', 'x'], c.ctx)).rejects.toThrow(
      /cannot read nope\.csv/,
    );
    await expect(trainRecommenderCommand(['--data', FIXTURE, '--out', 'x', '--epochs', 'two'], c.ctx)).rejects.toThrow(
      /--epochs must be an integer >= 1, got "two"/,
    );
    await expect(evalAi4iCommand(['--train', FIXTURE, '--bogus'], c.ctx)).rejects.toThrow(/Unknown option '--bogus'/);
    writeFileSync(join(dir, 'nocol.csv'), fixtureText.replace('Tool wear [min],', ''));
    await expect(evalAi4iCommand(['--train', 'nocol.csv'], c.ctx)).rejects.toThrow(
      expect.objectContaining({
        code: 'EL_ERR_DATA_INVALID',
        message: expect.stringMatching(/missing column\(s\) "Tool wear \[min\]"/),
      }),
    );
  });

  it('buildDefaultRecommender signs with a { privateKey } signer', async () => {
    const dir = tmp();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await buildDefaultRecommender(join(dir, 'rec'), { privateKey }, { dataFile: FIXTURE, epochs: 1, log: () => {} });
    const v = verifyModelDir(join(dir, 'rec'), { trustedKeys: [publicKey] });
    expect(v.manifest.version).toBe('1.0.0');
    expect(v.manifest.createdAt).toBe('2026-11-25T00:00:00.000Z');
  });
});
