/**
 * Shadow candidates in the InferenceEngine: two real ONNX Runtime sessions (score = scale * max|x|, scale 1 for
 * the active model and 2 for the candidate) on the same readings. The candidate's decisions are paired with the
 * active model's by window, its agreement and would-be anomaly count are exact, and it never emits an event.
 */
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { InferenceEngine } from '../../../agent/inference/inference-engine.ts';
import type { OutboxEvent } from '../../../agent/outbox/sqlite-outbox.ts';
import { writeTestModel } from '../helpers/test-model.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function engine() {
  const events: OutboxEvent[] = [];
  const e = new InferenceEngine({ onEvent: (ev) => events.push(ev), cooldownMs: 0, maxBatchWindows: 16 });
  onTestFinished(() => e.close());
  return { e, events };
}

/** One window per step (length 1): the temperature cycles 0, 3, 6, 1; vibration 0. */
function steps(n: number, t0: number) {
  const cycle = [0, 3, 6, 1];
  const rs = [];
  for (let i = 0; i < n; i++) {
    rs.push({ sensor: 'temperature', ts: t0 + i, value: cycle[i % 4]! });
    rs.push({ sensor: 'vibration', ts: t0 + i, value: 0 });
  }
  return rs;
}

describe('InferenceEngine shadow candidate', () => {
  it('runs beside the active model on the same windows and reports agreement exactly, without events', async () => {
    const dir = tempDir();
    const active = writeTestModel(join(dir, 'v1'), { version: '1.0.0', length: 1, threshold: 5 });
    const cand = writeTestModel(join(dir, 'v2'), { version: '2.0.0', length: 1, threshold: 5, scale: 2 });
    const { e, events } = engine();
    await e.activate(active.manifest, active.modelPath);
    // windows before the candidate starts are not paired
    e.push(steps(8, 0));
    await e.idle();
    await e.activateShadow(cand.manifest, cand.modelPath);
    expect(e.shadow('anomaly')?.manifest.version).toBe('2.0.0');
    expect(e.models()).toEqual([{ name: 'anomaly', version: '1.0.0' }]);
    for (let k = 0; k < 10; k++) e.push(steps(10, 1000 + k * 10)); // 100 windows in pushes of 10
    await e.idle();
    // each push of 10 is 0,3,6,1,0,3,6,1,0,3: the active model flags the 6s (20), the candidate (2 * max|x| > 5)
    // the 3s and the 6s (50): they disagree on the 30 threes
    const [r] = e.shadowReports();
    expect(r).toMatchObject({
      name: 'anomaly',
      version: '2.0.0',
      activeVersion: '1.0.0',
      windows: 100,
      agreements: 70,
      anomalies: 50,
      activeAnomalies: 20,
    });
    expect(r!.scores.active).toMatchObject({ p05: 0, p50: 1, p99: 6 });
    expect(r!.scores.shadow).toMatchObject({ p05: 0, p50: 2, p99: 12 });
    expect(r!.p99Ms).toBeGreaterThan(0);
    // only the active model acts: 2 + 20 events, all from 1.0.0; the figures the canary gates read are its own
    expect(events).toHaveLength(22);
    expect(new Set(events.map((x) => x.model!.version))).toEqual(new Set(['1.0.0']));
    expect(e.summary()).toMatchObject({ windows: 108, anomalies: 22 });
    expect(await e.clearShadow('anomaly')).toBe(true);
    expect(e.shadowReports()).toEqual([]);
    e.push(steps(4, 5000));
    await e.idle();
    expect(e.summary().windows).toBe(112);
  });

  it('refuses a candidate with nothing to compare it with, and one that fails its test vector', async () => {
    const dir = tempDir();
    const cand = writeTestModel(join(dir, 'v2'), { version: '2.0.0', length: 1 });
    const bad = writeTestModel(join(dir, 'bad'), { version: '3.0.0', length: 1, badTestVector: true });
    const active = writeTestModel(join(dir, 'v1'), { version: '1.0.0', length: 1 });
    const { e } = engine();
    await expect(e.activateShadow(cand.manifest, cand.modelPath)).rejects.toThrow(/no active model named anomaly/);
    await e.activate(active.manifest, active.modelPath);
    await expect(e.activateShadow(bad.manifest, bad.modelPath)).rejects.toMatchObject({
      code: 'EL_ERR_MODEL_TEST_VECTOR',
    });
    expect(e.shadow('anomaly')).toBeUndefined();
  });

  it('a candidate that becomes the active model stops shadowing', async () => {
    const dir = tempDir();
    const active = writeTestModel(join(dir, 'v1'), { version: '1.0.0', length: 1 });
    const cand = writeTestModel(join(dir, 'v2'), { version: '2.0.0', length: 1, scale: 2 });
    const { e } = engine();
    await e.activate(active.manifest, active.modelPath);
    await e.activateShadow(cand.manifest, cand.modelPath);
    await e.activate(cand.manifest, cand.modelPath);
    expect(e.shadow('anomaly')).toBeUndefined();
    expect(e.models()).toEqual([{ name: 'anomaly', version: '2.0.0' }]);
  });
});
