/**
 * Builds the default models shipped in models/default/ (npm run models:build):
 * - models/default/anomaly/: a window autoencoder over the fleet simulator's default sensors, trained on the
 *   simulator's own signal model (seeded, so the build is reproducible: same key → byte-identical files);
 * - models/default/recommender/: built by models/recommender/build-default.ts when that module exists;
 * - models/default/rul/: the C-MAPSS remaining-useful-life model, built by models/rul/build-default.ts when the
 *   FD001 training file is found (EDGELOOP_CMAPSS_TRAIN or ../shared/data/cmapss/ beside the repository).
 *
 * Signing: the private key lives outside git in .edgeloop/keys/edgeloop-default.key (generated on the first build);
 * only the public key is committed (models/default/keys/edgeloop-default.pub). Production fleets sign with their own
 * key (edgeloop models keygen / sign) and trust only that one.
 *
 * Options: --key FILE (private key to sign with), --only anomaly|recommender|rul, --created-at ISO (default: the
 * fixed DEFAULT_MODELS_DATE below, or SOURCE_DATE_EPOCH when set).
 */
import { buildCreatedAt } from '../models/manifest/export-steps.ts';
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { scoreTableRows } from '../models/anomaly/anomaly-scorer.ts';
import type { SensorTable } from '../models/anomaly/sensor-table.ts';
import { trainAnomalyModel } from '../models/anomaly/train-anomaly.ts';
import {
  createSigner,
  generateSigningKey,
  keyIdOf,
  readPrivateKey,
  readPublicKey,
  verifyModelDir,
  writeModelDir,
  writeSigningKey,
} from '../models/manifest/index.ts';
import type { ManifestSigner } from '../models/manifest/index.ts';
import { OrtModelRunner, checkTestVector } from '../models/runtime/ort-model-runner.ts';
import { parseManifest } from '../protocol/manifest.ts';
import type { ManifestInput } from '../protocol/manifest.ts';

/** Bump with the version when the default models change. */
const DEFAULT_MODELS_DATE = '2026-11-25T00:00:00.000Z';
const ANOMALY_VERSION = '1.0.0';
const KEY_NAME = 'edgeloop-default';

const root = join(import.meta.dirname, '..');
const defaultDir = join(root, 'models', 'default');
const publicKeyPath = join(defaultDir, 'keys', `${KEY_NAME}.pub`);

const { values: args } = parseArgs({
  options: { key: { type: 'string' }, only: { type: 'string' }, 'created-at': { type: 'string' } },
  strict: true,
});
const ONLY = ['anomaly', 'recommender', 'rul'];
if (args.only !== undefined && !ONLY.includes(args.only)) {
  throw new Error(`--only must be one of ${ONLY.join(', ')}, got "${args.only}"`);
}
const createdAt = buildCreatedAt(args['created-at'], DEFAULT_MODELS_DATE);

const signer = loadSigner();
if (args.only === undefined || args.only === 'anomaly') await buildAnomaly(signer);
if (args.only === undefined || args.only === 'recommender') await buildRecommender(signer);
if (args.only === undefined || args.only === 'rul') await buildRul(signer);

function loadSigner(): ManifestSigner {
  const keyPath = args.key ?? join(root, '.edgeloop', 'keys', `${KEY_NAME}.key`);
  if (existsSync(keyPath)) {
    const key = readPrivateKey(keyPath);
    const id = keyIdOf(key);
    if (!existsSync(publicKeyPath) || keyIdOf(readPublicKey(publicKeyPath)) !== id) {
      mkdirSync(join(defaultDir, 'keys'), { recursive: true });
      writeFileSync(publicKeyPath, createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
      console.log(`wrote ${relative(root, publicKeyPath)} for key ${id} (commit it with the models)`);
    }
    console.log(`signing with ${relative(root, keyPath) || keyPath} (key ${id})`);
    return createSigner(key);
  }
  if (args.key) throw new Error(`--key ${args.key} does not exist`);
  // first build on this machine: a new key pair; the public half replaces the committed one
  const pair = generateSigningKey();
  writeSigningKey(join(root, '.edgeloop', 'keys'), KEY_NAME, pair);
  mkdirSync(join(defaultDir, 'keys'), { recursive: true });
  writeFileSync(publicKeyPath, pair.publicKeyPem);
  console.log(
    `generated signing key ${pair.keyId}: private .edgeloop/keys/${KEY_NAME}.key (not in git), public ${relative(root, publicKeyPath)} (commit it)`,
  );
  return createSigner(pair.privateKey);
}

async function buildAnomaly(sign: ManifestSigner): Promise<void> {
  const started = performance.now();
  const sim = (await import('../simulator/signal-model.ts')) as typeof import('../simulator/signal-model.ts');
  const { Prng } = (await import('../simulator/prng.ts')) as typeof import('../simulator/prng.ts');
  // Counters with a steady drift (tool wear) are not stationary signals a reconstruction model can learn from a
  // bounded training period; the agent scores the other sensors.
  const specs = sim.DEFAULT_SENSORS.filter((s) => s.driftPerHour === 0);
  const sensors = specs.map((s) => s.name);
  const rowsPerDevice = 3600;
  const startMs = Date.UTC(2026, 0, 1);
  const device = (id: string): SensorTable => {
    const model = new sim.SignalModel(specs, new Prng(`edgeloop-default-anomaly/${id}`), startMs);
    const values = new Float64Array(rowsPerDevice * specs.length);
    const row = new Float64Array(specs.length);
    for (let r = 0; r < rowsPerDevice; r++) {
      model.sample(startMs + r * 1000, row);
      for (let j = 0; j < specs.length; j++) values[r * specs.length + j] = model.finish(j, row[j]!);
    }
    return {
      file: `simulated-${id}`,
      sensors,
      timeColumn: undefined,
      times: [],
      values,
      rows: rowsPerDevice,
      lines: [],
      labels: undefined,
    };
  };
  const train = ['d0', 'd1', 'd2', 'd3'].map(device);
  const holdout = ['h0', 'h1'].map(device);

  const trained = await trainAnomalyModel(train, {
    window: 16,
    stride: 2,
    epochs: 12,
    batchSize: 64,
    learningRate: 0.005,
    hidden: [32, 8],
    seed: 20261125,
    threshold: { quantile: 0.999, margin: 2 },
    name: 'edgeloop-default-anomaly',
    version: ANOMALY_VERSION,
    createdAt,
    latencyBudgetMs: 5,
    onEpoch: (epoch, loss) => console.log(`anomaly: epoch ${epoch} loss ${loss.toFixed(6)}`),
  });

  // held-out figures: false-flag rate on two unseen normal devices, and detection of the simulator's own fault
  // models (simulator/faults/data-faults.ts) injected one at a time into a third unseen device
  const manifest = parseManifest(trained.manifest);
  const runner = await OrtModelRunner.forManifest(trained.onnx, manifest);
  let normalRows = 0;
  let normalFlags = 0;
  const faultResults: Record<string, { detected: boolean; rowRecall: number; firstFlagDelaySec: number | null }> = {};
  try {
    for (const t of holdout) {
      const scores = await scoreTableRows(runner, manifest, t);
      for (let r = 15; r < t.rows; r++) {
        normalRows++;
        if (scores[r]! > manifest.threshold) normalFlags++;
      }
    }
    const faults = await import('../simulator/faults/data-faults.ts');
    // dropout removes readings (the agent's windowing decides what to do with a gap), nothing for a model to score
    const kinds = faults.DATA_FAULT_KINDS.filter((k) => k !== 'dropout');
    const all = sim.DEFAULT_SENSORS;
    const names = all.map((s) => s.name);
    const gap = 300_000;
    const plan = kinds.map((kind, k) =>
      faults.describeFault(kind, {
        id: `f${k}`,
        deviceId: 'hf',
        start: startMs + 120_000 + k * gap,
        sensorNames: names,
        ...(kind === 'spike' || kind === 'drift' || kind === 'stuck' ? { sensor: 'torque' } : {}),
      }),
    );
    const rows = 120 + kinds.length * (gap / 1000);
    const model = new sim.SignalModel(all, new Prng('edgeloop-default-anomaly/hf'), startMs);
    const injector = new faults.FaultInjector(model, plan);
    const pick = sensors.map((n) => names.indexOf(n));
    const values = new Float64Array(rows * sensors.length);
    const row = new Float64Array(all.length);
    const present = new Uint8Array(all.length);
    for (let r = 0; r < rows; r++) {
      const t = startMs + r * 1000;
      model.sample(t, row);
      present.fill(1);
      injector.apply(t, row, present);
      pick.forEach((i, j) => (values[r * sensors.length + j] = model.finish(i, row[i]!)));
    }
    const table: SensorTable = {
      file: 'simulated-faults',
      sensors,
      timeColumn: undefined,
      times: [],
      values,
      rows,
      lines: [],
      labels: undefined,
    };
    const scores = await scoreTableRows(runner, manifest, table);
    for (const f of plan) {
      const from = (f.start - startMs) / 1000;
      const to = (f.end - startMs) / 1000;
      let flagged = 0;
      let first: number | null = null;
      // a window sees a fault until window-1 rows after it ends
      for (let r = from; r < to + 15; r++) {
        if (scores[r]! > manifest.threshold) {
          if (r < to) flagged++;
          first ??= r - from;
        }
      }
      faultResults[f.kind] = { detected: first !== null, rowRecall: flagged / (to - from), firstFlagDelaySec: first };
    }
    await checkTestVector(runner, manifest);
  } finally {
    await runner.close();
  }
  const out: ManifestInput = {
    ...trained.manifest,
    metrics: {
      ...trained.manifest.metrics,
      holdoutNormalFlagRate: normalFlags / normalRows,
      holdoutNormalWindows: normalRows,
      simulatorFaults: faultResults,
      holdout:
        '2 unseen simulated devices x 3600 s for the normal flag rate; simulator fault models (default duration and magnitude, spike/drift/stuck on torque) one at a time on a third',
    },
    training: {
      ...trained.manifest.training,
      data: `fleet simulator signal model (simulator/signal-model.ts), ${train.length} devices x ${rowsPerDevice} s at 1 Hz`,
    },
  };
  const dir = join(defaultDir, 'anomaly');
  writeModelDir(dir, { onnx: trained.onnx, manifest: sign.sign(out) });
  const v = verifyModelDir(dir, { trustedKeys: [readFileSync(publicKeyPath)] });
  console.log(
    `anomaly: wrote ${relative(root, dir)} (${trained.onnx.byteLength} bytes ONNX, sensors ${sensors.join(', ')}, window 16); ` +
      `threshold ${manifest.threshold.toPrecision(4)}; holdout false-flag rate ${((normalFlags / normalRows) * 100).toFixed(3)} %; signed by ${v.keyId}; ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(
    `anomaly: simulator faults: ${Object.entries(faultResults)
      .map(
        ([k, r]) =>
          `${k} ${r.detected ? `detected after ${r.firstFlagDelaySec} s, ${(r.rowRecall * 100).toFixed(0)} % of rows` : 'missed'}`,
      )
      .join('; ')}`,
  );
}

async function buildRecommender(sign: ManifestSigner): Promise<void> {
  const path = join(root, 'models', 'recommender', 'build-default.ts');
  if (!existsSync(path)) {
    console.log('recommender: skipped (models/recommender/build-default.ts is not in this tree)');
    return;
  }
  const mod = (await import(path)) as {
    buildDefaultRecommender?: (
      outDir: string,
      signer: ManifestSigner,
      opts: { log: (line: string) => void },
    ) => Promise<unknown>;
  };
  if (typeof mod.buildDefaultRecommender !== 'function') {
    console.log('recommender: skipped (models/recommender/build-default.ts does not export buildDefaultRecommender)');
    return;
  }
  await mod.buildDefaultRecommender(join(defaultDir, 'recommender'), sign, { log: (line) => console.log(line) });
  console.log(`recommender: wrote ${relative(root, join(defaultDir, 'recommender'))}`);
}

async function buildRul(sign: ManifestSigner): Promise<void> {
  const { buildDefaultRul } = await import('../models/rul/build-default.ts');
  const dir = join(defaultDir, 'rul');
  if (!(await buildDefaultRul(dir, sign, { createdAt, log: (line) => console.log(line) }))) return;
  const v = verifyModelDir(dir, { trustedKeys: [readFileSync(publicKeyPath)] });
  console.log(`rul: wrote ${relative(root, dir)}, signed by ${v.keyId}`);
}
