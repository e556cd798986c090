import { copyFileSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateSigningKey, trustedKeySet, signManifest } from '../../../models/manifest/index.ts';
import { InferenceEngine } from '../../../agent/inference/inference-engine.ts';
import type { OutboxEvent } from '../../../agent/outbox/sqlite-outbox.ts';
import { createAgent } from '../../../agent/create-agent.ts';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { writeTestModel } from '../helpers/test-model.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { syntheticCsv, TEST_SENSORS } from '../../models/anomaly/synthetic-csv.ts';
import { loadSensorTable } from '../../../models/anomaly/sensor-table.ts';
import { trainAnomalyModel } from '../../../models/anomaly/train-anomaly.ts';
import { scoreTableRows } from '../../../models/anomaly/anomaly-scorer.ts';
import { smoothScores } from '../../../models/anomaly/threshold.ts';
import { writeModelDir } from '../../../models/manifest/index.ts';
import { OrtModelRunner } from '../../../models/runtime/ort-model-runner.ts';
import { parseManifest } from '../../../protocol/manifest.ts';

function engine(opts: Partial<ConstructorParameters<typeof InferenceEngine>[0]> = {}) {
  const events: OutboxEvent[] = [];
  const e = new InferenceEngine({ onEvent: (ev) => events.push(ev), cooldownMs: 0, ...opts });
  onTestFinished(() => e.close());
  return { e, events };
}

function spikeReadings(value: number, t0 = 0) {
  const rs = [];
  for (let t = 0; t < 4; t++) {
    rs.push({ sensor: 'temperature', ts: t0 + t, value: t === 3 ? value : 0 });
    rs.push({ sensor: 'vibration', ts: t0 + t, value: 0 });
  }
  return rs;
}

describe('InferenceEngine (ModelHost)', () => {
  it('scores windows in batches with a real ORT session and emits events over the threshold', async () => {
    const dir = tempDir();
    const m = writeTestModel(join(dir, 'v1'), { threshold: 5, length: 4 });
    const { e, events } = engine({ maxBatchWindows: 3 });
    await e.activate(m.manifest, m.modelPath);
    e.push(spikeReadings(7));
    e.push(spikeReadings(1, 100));
    await e.idle();
    // the spike (step 4) is in the first push's window and in 3 windows of the second push
    expect(events.map((x) => x.window!.end)).toEqual([3, 100, 101, 102]);
    expect(events[0]).toMatchObject({ score: 7, severity: 'warning', window: { start: 0, end: 3 } });
    expect(e.stats('anomaly')).toMatchObject({ windows: 5, anomalies: 4 });
    expect(e.summary().windows).toBe(5);
  });

  it('suppresses events within the cooldown and counts them into the next one', async () => {
    const dir = tempDir();
    const m = writeTestModel(join(dir, 'v1'), { threshold: 5, length: 1 });
    const { e, events } = engine({ cooldownMs: 100 });
    await e.activate(m.manifest, m.modelPath);
    for (let t = 0; t < 300; t += 10)
      e.push([
        { sensor: 'temperature', ts: t, value: 9 },
        { sensor: 'vibration', ts: t, value: 0 },
      ]);
    await e.idle();
    expect(events.map((x) => x.ts)).toEqual([0, 100, 200]);
    expect(events.map((x) => (x.context as { suppressed: number }).suppressed)).toEqual([0, 9, 9]);
  });

  it('decides on the trailing mean of decision.smoothing window scores, in device-time order across batches', async () => {
    const dir = tempDir();
    // window of 1 row: score = |temperature|; smoothing 4, threshold 5
    const m = writeTestModel(join(dir, 'v1'), { threshold: 5, length: 1, smoothing: 4 });
    // one window per push, each its own ORT call, several in flight: ORT may finish them in any order
    const { e, events } = engine({ maxBatchWindows: 1, maxInflightRuns: 64 });
    await e.activate(m.manifest, m.modelPath);
    const temps = [0, 0, 0, 12, 0, 0, 0, 0, 8, 8, 8, 8, 0];
    temps.forEach((v, t) =>
      e.push([
        { sensor: 'temperature', ts: t, value: v },
        { sensor: 'vibration', ts: t, value: 0 },
      ]),
    );
    await e.idle();
    // means: t3 = 12/4 = 3 (a single spike is not enough); t9 = 16/4, t10 = 24/4 = 6 > 5, t11 = 8, t12 = 24/4 = 6
    expect(events.map((x) => x.ts)).toEqual([10, 11, 12]);
    expect(events.map((x) => x.score)).toEqual([6, 8, 6]);
    expect(events.map((x) => (x.context as { rawScore: number }).rawScore)).toEqual([8, 8, 0]);
    expect(events[0]!.context).toMatchObject({ smoothing: 4 });
    expect(e.stats('anomaly')).toMatchObject({ windows: 13, anomalies: 3 });
  });

  it('flags on the device exactly the rows `models score` flags for a trained model with decision.smoothing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'normal.csv'), syntheticCsv({ rows: 240, seed: 1 }));
    writeFileSync(join(dir, 'faulty.csv'), syntheticCsv({ rows: 200, seed: 2, fault: [120, 160] }));
    const trained = await trainAnomalyModel([loadSensorTable(join(dir, 'normal.csv'))], {
      window: 8,
      epochs: 8,
      hidden: [8, 3],
      smoothing: 6,
      createdAt: '2026-01-01T00:00:00Z',
    });
    const { modelPath } = writeModelDir(join(dir, 'model'), { onnx: trained.onnx, manifest: trained.manifest });
    const m = parseManifest(trained.manifest);
    // offline: what the eval and score commands compute
    const table = loadSensorTable(join(dir, 'faulty.csv'), { sensors: TEST_SENSORS });
    const runner = await OrtModelRunner.forManifest(trained.onnx, m);
    const offline = smoothScores(await scoreTableRows(runner, m, table), 6);
    await runner.close();
    const flaggedOver = (t: number): number => [...offline].filter((x) => x > t).length;
    const flaggedOffline = flaggedOver(m.threshold);
    expect(flaggedOffline).toBeGreaterThan(20); // the fault is found
    // on the device: the same rows as readings, through the engine
    const { e } = engine({ maxBatchWindows: 16 });
    await e.activate(m, modelPath);
    for (let r = 0; r < table.rows; r++) {
      e.push(
        TEST_SENSORS.map((sensor, j) => ({ sensor, ts: r * 1000, value: table.values[r * TEST_SENSORS.length + j]! })),
      );
    }
    await e.idle();
    expect(e.stats(m.name)!.windows).toBe(table.rows - 7);
    // the same decisions; a band of 1e-6 only absorbs float rounding (ORT batch sizes, the order of the running sum)
    const onDevice = e.stats(m.name)!.anomalies;
    expect(onDevice).toBeGreaterThanOrEqual(flaggedOver(m.threshold * (1 + 1e-6)));
    expect(onDevice).toBeLessThanOrEqual(flaggedOver(m.threshold * (1 - 1e-6)));
    expect(Math.abs(onDevice - flaggedOffline)).toBeLessThanOrEqual(
      flaggedOver(m.threshold * (1 - 1e-6)) - flaggedOver(m.threshold * (1 + 1e-6)),
    );
  });

  it('refuses a tampered model file, a wrong signature and a failing test vector; the previous model keeps running', async () => {
    const dir = tempDir();
    const good = generateSigningKey();
    const evil = generateSigningKey();
    const v1 = writeTestModel(join(dir, 'v1'), { threshold: 5, version: '1', signWith: good.privateKey });
    const { e, events } = engine({ trustedKeys: trustedKeySet([good.publicKey]) });
    await e.activate(v1.manifest, v1.modelPath);

    // tampered file: bytes changed after signing
    const v2 = writeTestModel(join(dir, 'v2'), { threshold: 5, version: '2', scale: 2, signWith: good.privateKey });
    const bytes = readFileSync(v2.modelPath);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(v2.modelPath, bytes);
    await expect(e.activate(v2.manifest, v2.modelPath)).rejects.toMatchObject({ code: 'EL_ERR_MODEL_HASH' });
    // a model file swapped for another one, manifest edited to match: the signature catches it
    const v3 = writeTestModel(join(dir, 'v3'), { threshold: 5, version: '3', scale: 3, signWith: good.privateKey });
    copyFileSync(v2.modelPath, v3.modelPath);
    await expect(e.activate({ ...v3.manifest, threshold: 0 }, v3.modelPath)).rejects.toMatchObject({
      code: 'EL_ERR_MODEL_SIGNATURE',
    });
    // wrong key
    const v4 = writeTestModel(join(dir, 'v4'), { threshold: 5, version: '4', signWith: evil.privateKey });
    await expect(e.activate(v4.manifest, v4.modelPath)).rejects.toMatchObject({ code: 'EL_ERR_MODEL_UNTRUSTED_KEY' });
    // unsigned
    const v5 = writeTestModel(join(dir, 'v5'), { threshold: 5, version: '5' });
    await expect(e.activate(v5.manifest, v5.modelPath)).rejects.toMatchObject({ code: 'EL_ERR_MODEL_UNSIGNED' });
    // failing test vector, correctly signed
    const v6 = writeTestModel(join(dir, 'v6'), {
      threshold: 5,
      version: '6',
      badTestVector: true,
      signWith: good.privateKey,
    });
    await expect(e.activate(v6.manifest, v6.modelPath)).rejects.toMatchObject({ code: 'EL_ERR_MODEL_TEST_VECTOR' });

    expect(e.active('anomaly')!.manifest.version).toBe('1');
    e.push(spikeReadings(7));
    await e.idle();
    expect(events.map((x) => x.score)).toEqual([7]); // v1 (scale 1) still scores

    // a good update swaps in
    const v7 = writeTestModel(join(dir, 'v7'), { threshold: 5, version: '7', scale: 2, signWith: good.privateKey });
    await e.activate(v7.manifest, v7.modelPath);
    e.push(spikeReadings(7, 100));
    await e.idle();
    expect(e.active('anomaly')!.manifest.version).toBe('7');
    expect(events.map((x) => x.score)).toEqual([7, 14]);
    void signManifest;
  });

  it('at start-up a bad model directory is refused and reported; the agent runs on', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const good = generateSigningKey();
    const keyFile = join(dir, 'trusted.pem');
    writeFileSync(keyFile, good.publicKey.export({ type: 'spki', format: 'pem' }));
    writeTestModel(join(dir, 'models', 'a'), { name: 'a', signWith: good.privateKey });
    const bad = writeTestModel(join(dir, 'models', 'b'), { name: 'b', signWith: generateSigningKey().privateKey });
    void bad;
    const agent = createAgent({
      config: {
        deviceId: 'd',
        dataDir: dir,
        transport: { kind: 'mqtt', url: broker.url },
        models: { dir: join(dir, 'models'), trustedKeys: [keyFile] },
      },
    });
    onTestFinished(() => agent.close(0));
    await agent.start();
    expect(agent.inference!.models()).toEqual([{ name: 'a', version: '1.0.0' }]);
    expect(agent.status().lastError).toMatch(/model in .*b refused: .*not among the trusted keys/);
  });
});
