import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadSensorTable, loadSensorTables } from '../../../models/anomaly/sensor-table.ts';
import { trainAnomalyModel } from '../../../models/anomaly/train-anomaly.ts';
import { OrtModelRunner, checkTestVector } from '../../../models/runtime/ort-model-runner.ts';
import { parseManifest } from '../../../protocol/manifest.ts';
import { canonicalJson } from '../../../protocol/canonical-json.ts';
import { syntheticCsv } from './synthetic-csv.ts';

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-train-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const OPTS = { window: 6, epochs: 5, hidden: [8, 3], createdAt: '2026-01-01T00:00:00.000Z' };

describe('trainAnomalyModel', () => {
  it('is deterministic: same seed → byte-identical ONNX and manifest; another seed → different weights', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.csv'), syntheticCsv({ rows: 150, seed: 1 }));
    const table = loadSensorTable(join(dir, 'a.csv'));
    const a = await trainAnomalyModel([table], { ...OPTS, seed: 7 });
    const b = await trainAnomalyModel([table], { ...OPTS, seed: 7 });
    const c = await trainAnomalyModel([table], { ...OPTS, seed: 8 });
    expect(Buffer.from(a.onnx).equals(Buffer.from(b.onnx))).toBe(true);
    expect(canonicalJson(a.manifest)).toBe(canonicalJson(b.manifest));
    expect(Buffer.from(a.onnx).equals(Buffer.from(c.onnx))).toBe(false);
    expect(a.losses).toHaveLength(5);
    expect(a.losses[4]!).toBeLessThan(a.losses[0]!);
  });

  it('produces a manifest that validates, matches the data and passes its own test vector', async () => {
    const dir = tmp();
    writeFileSync(join(dir, '1.csv'), syntheticCsv({ rows: 80, seed: 2 }));
    writeFileSync(join(dir, '2.csv'), syntheticCsv({ rows: 90, seed: 3 }));
    const tables = loadSensorTables(dir);
    const t = await trainAnomalyModel(tables, {
      ...OPTS,
      threshold: { quantile: 1, margin: 1.1 },
      name: 'pump',
      version: '2.0.0',
    });
    const m = parseManifest(t.manifest);
    expect(m.name).toBe('pump');
    expect(m.inputs.kind === 'window' && m.inputs.sensors).toEqual(['temperature', 'vibration', 'pressure', 'current']);
    expect(m.inputs.kind === 'window' && m.inputs.normalization.folded).toBe(true);
    // windows never cross files: (80-6+1) + (90-6+1)
    expect(m.training?.windows).toBe(160);
    expect(t.trainingScores).toHaveLength(160);
    const max = Math.max(...t.trainingScores);
    expect(m.threshold).toBeCloseTo(Math.fround(max * 1.1), 6);
    expect(m.thresholdRule).toBe('max of training window scores x 1.1');
    expect(m.testVector.input).toHaveLength(5);
    expect(m.testVector.expected[4]![0]!).toBeGreaterThan(m.threshold);
    const runner = await OrtModelRunner.forManifest(t.onnx, m);
    onTestFinished(() => runner.close());
    const { maxError } = await checkTestVector(runner, m);
    expect(maxError).toBeLessThan(1e-5);
  });

  it("with smoothing K: calibrates on the per-file trailing mean of every row's window and records decision.smoothing", async () => {
    const dir = tmp();
    writeFileSync(join(dir, '1.csv'), syntheticCsv({ rows: 80, seed: 2 }));
    writeFileSync(join(dir, '2.csv'), syntheticCsv({ rows: 90, seed: 3 }));
    const tables = loadSensorTables(dir);
    const rule = { quantile: 1, margin: 1.1 };
    const plain = await trainAnomalyModel(tables, { ...OPTS, stride: 3, threshold: rule });
    const smooth = await trainAnomalyModel(tables, { ...OPTS, stride: 3, threshold: rule, smoothing: 5 });
    // same training (smoothing only changes the decision rule)
    expect(Buffer.from(smooth.onnx).equals(Buffer.from(plain.onnx))).toBe(true);
    const m = parseManifest(smooth.manifest);
    expect(m.decision).toEqual({ smoothing: 5 });
    expect(parseManifest(plain.manifest).decision).toBeUndefined();
    expect(m.thresholdRule).toBe('max of training window scores (trailing mean over 5 windows) x 1.1');
    // every row's window (stride 1 for calibration), smoothed within each file: 75 + 85 scores
    expect(smooth.trainingScores).toHaveLength(160);
    const runner = await OrtModelRunner.forManifest(smooth.onnx, m);
    onTestFinished(() => runner.close());
    const { buildWindows } = await import('../../../models/anomaly/windows.ts');
    const { scoreWindows } = await import('../../../models/anomaly/anomaly-scorer.ts');
    const { smoothScores } = await import('../../../models/anomaly/threshold.ts');
    const expected: number[] = [];
    for (const t of tables) {
      const w = buildWindows(t.values, t.rows, 4, 6, 1, t.file);
      expected.push(...smoothScores(await scoreWindows(runner, w.data, w.count, 24), 5));
    }
    expect(Array.from(smooth.trainingScores)).toEqual(expected.map((x) => Math.fround(x)));
    expect(m.threshold).toBeCloseTo(Math.fround(Math.max(...expected) * 1.1), 6);
    // a smoothed maximum is below the raw one: the threshold is lower than the unsmoothed rule would give on rows
    await expect(trainAnomalyModel(tables, { ...OPTS, smoothing: 0 })).rejects.toThrow(
      'smoothing must be an integer in 1..10000, got 0',
    );
  });

  it('refuses inconsistent sensors, unknown options and bad rules', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.csv'), syntheticCsv({ rows: 30, seed: 1 }));
    const a = loadSensorTable(join(dir, 'a.csv'));
    const b = loadSensorTable(join(dir, 'a.csv'), { sensors: ['current', 'temperature'] });
    await expect(trainAnomalyModel([a, b], OPTS)).rejects.toThrow(/sensors \[current, temperature\] differ/);
    await expect(trainAnomalyModel([a], { ...OPTS, windw: 3 } as never)).rejects.toThrow(
      'unknown training option "windw"',
    );
    await expect(trainAnomalyModel([a], { ...OPTS, threshold: { quantile: 0.9, margin: -1 } })).rejects.toThrow(
      'margin must be a finite number > 0',
    );
    await expect(trainAnomalyModel([], OPTS)).rejects.toThrow('no training data');
  });
});
