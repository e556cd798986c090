/**
 * npm run eval:cmapss-pipeline -- --test test_FD001.txt --rul RUL_FD001.txt [--model DIR] [--rate N]
 * npm run eval:cmapss-pipeline -- --from-train ../shared/data/cmapss/train_FD001.txt
 *
 * The RUL issue's end-to-end check on real data: C-MAPSS test trajectories are replayed as devices (one engine =
 * one device, one cycle = one message of 3 settings + 21 sensors) through the embedded broker, ingest, stream,
 * processor and the maintenance part, and each engine's RUL is then read from `GET /v1/devices/{id}/rul`. The
 * served predictions are compared unit by unit with the offline evaluation of the same model on the same files
 * (the window at each unit's last cycle run through ONNX Runtime, scored as `models eval cmapss` scores:
 * RMSE, NASA score, p10-p90 coverage), and the served and offline RMSE must agree to 1e-6.
 *
 * `--from-train FILE`: without NASA's test part (not shipped here), the test and RUL files are made from the
 * training file's fold 0 of 5 by unit (seed 1), each unit cut at the seeded cycle `models eval cmapss --folds 5`
 * and the model build use: the units the shipped default model was not trained on. They are written to a temp
 * directory (or --write DIR) in NASA's layout, the raw rows unchanged.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCloudConfig } from '../../cloud/config.ts';
import { createCloud } from '../../cloud/create-cloud.ts';
import { loadRulModel } from '../../cloud/maintenance/rul-model.ts';
import type { DeviceRul } from '../../cloud/maintenance/maintenance-service.ts';
import { DEFAULT_RUL_DIR, maintenancePartDef } from '../../cloud/parts/maintenance.ts';
import { packagePath } from '../../lib/package-root.ts';
import {
  lastWindows,
  parseCmapss,
  parseRulFile,
  sensorIndexes,
  truncateUnits,
  unitFolds,
} from '../../models/rul/cmapss-data.ts';
import { scorePredictions, type UnitPrediction } from '../../models/rul/evaluate-rul.ts';
import { deviceIds } from '../../simulator/build-fleet.ts';
import { runSimulation } from '../../simulator/run-simulation.ts';
import { machineLine } from '../lib/machine.ts';

const { values } = parseArgs({
  options: {
    test: { type: 'string' },
    rul: { type: 'string' },
    'from-train': { type: 'string' },
    write: { type: 'string' },
    model: { type: 'string' },
    rate: { type: 'string', default: '20' },
  },
});
if ((values.test === undefined) !== (values.rul === undefined)) fail('--test and --rul go together');
if (values.test !== undefined && values['from-train'] !== undefined) fail('--from-train is instead of --test/--rul');
const rate = Number(values.rate);
if (!(rate > 0 && rate <= 1000))
  fail(`--rate must be a number of cycles per second per device in (0, 1000], got ${values.rate}`);
const modelDir = values.model ? resolve(values.model) : DEFAULT_RUL_DIR;

console.log(machineLine());
const work = mkdtempSync(join(tmpdir(), 'edgeloop-cmapss-pipeline-'));
let testPath: string;
let rulPath: string;
if (values.test !== undefined) {
  testPath = resolve(values.test);
  rulPath = resolve(values.rul!);
  console.log(`C-MAPSS test file ${testPath}, RUL file ${rulPath}`);
} else {
  const trainPath = resolve(values['from-train'] ?? '../shared/data/cmapss/train_FD001.txt');
  const dir = values.write ? resolve(values.write) : work;
  mkdirSync(dir, { recursive: true });
  ({ testPath, rulPath } = heldOutFiles(trainPath, dir));
  console.log(
    `test and RUL files from ${trainPath}: fold 0 of 5 by unit (seed 1), cut at the seeded cycles (the units the default model was not trained on), in ${dir}`,
  );
}

// offline: the same model on the same files, scored as `models eval cmapss` scores a test file
const testText = readFileSync(testPath, 'utf8');
const units = parseCmapss(testText, testPath);
const trueRul = parseRulFile(readFileSync(rulPath, 'utf8'), rulPath);
if (trueRul.length !== units.length) fail(`${units.length} test units but ${trueRul.length} RUL values`);
const key = readFileSync(packagePath('models', 'default', 'keys', 'edgeloop-default.pub'), 'utf8');
const { manifest, runner } = await loadRulModel(modelDir, [key]);
if (manifest.inputs.kind !== 'window') fail('not a window model');
const inputs = manifest.inputs as { sensors: string[]; window: { length: number } };
const t0 = performance.now();
const out = await runner.run(lastWindows(units, inputs.window.length, sensorIndexes(inputs.sensors)), units.length);
const offlineMs = performance.now() - t0;
await runner.close();
const offline: UnitPrediction[] = units.map((u, i) => {
  const [a, b, c] = [out.data[i * 3]!, out.data[i * 3 + 1]!, out.data[i * 3 + 2]!];
  return {
    unit: u.unit,
    fold: 0,
    cycles: u.length,
    trueRul: trueRul[i]!,
    rul: a,
    p10: Math.min(b, c),
    p90: Math.max(b, c),
  };
});
const offScores = scorePredictions(offline);
console.log(
  `model ${manifest.name} ${manifest.version}; ${units.length} units, ${units.reduce((s, u) => s + u.length, 0)} cycles (longest ${Math.max(...units.map((u) => u.length))})`,
);

// live: broker → ingest → stream → processor → maintenance part → GET /v1/devices/{id}/rul
const cloud = createCloud(
  parseCloudConfig({
    dataDir: join(work, 'cloud'),
    logLevel: 'warn',
    broker: { embedded: { port: 0, allowAnonymous: true } },
    http: { enabled: false },
    processor: { idleWaitMs: 20 },
  }),
  // the offline protocol scores a unit shorter than the window padded with its first cycle: the live path alike
  { extraParts: [maintenancePartDef({ port: 0, modelDir, padShortHistories: true })] },
);
await cloud.start();
let exit = 0;
try {
  const maintenanceUrl = (cloud.parts.get('maintenance') as unknown as { url: string }).url;
  const longest = Math.max(...units.map((u) => u.length));
  const started = Date.now();
  const report = await runSimulation({
    url: cloud.urls.mqtt!,
    replayCmapss: { path: testPath, rul: rulPath },
    messageRate: rate,
    durationSec: Math.ceil(longest / rate) + 2,
    deviceIdPrefix: 'engine-',
    observe: false,
    maintenanceUrl,
    drainTimeoutSec: 120,
  });
  const replayMs = Date.now() - started;
  const ids = deviceIds('engine-', units.length);
  const served: DeviceRul[] = [];
  for (const id of ids) {
    const res = await fetch(`${maintenanceUrl}/v1/devices/${id}/rul`);
    if (!res.ok) throw new Error(`GET /v1/devices/${id}/rul: HTTP ${res.status} ${await res.text()}`);
    served.push((await res.json()) as DeviceRul);
  }
  const live: UnitPrediction[] = served.map((s, i) => ({
    ...offline[i]!,
    cycles: s.cycles,
    rul: s.rul ?? Number.NaN,
    p10: s.p10 ?? Number.NaN,
    p90: s.p90 ?? Number.NaN,
  }));
  const liveScores = scorePredictions(live);
  let maxDiff = 0;
  let cyclesOff = 0;
  for (let i = 0; i < units.length; i++) {
    if (live[i]!.cycles !== units[i]!.length) cyclesOff++;
    for (const k of ['rul', 'p10', 'p90'] as const) maxDiff = Math.max(maxDiff, Math.abs(live[i]![k] - offline[i]![k]));
  }
  const fmt = (s: typeof offScores) =>
    `RMSE ${s.rmse.toFixed(6)}, NASA score ${s.nasaScore.toFixed(4)}, p10-p90 coverage ${(s.coverage * 100).toFixed(1)} %`;
  console.log(`\noffline (ORT, one batch of ${units.length} windows, ${offlineMs.toFixed(1)} ms): ${fmt(offScores)}`);
  console.log(`served  (GET /v1/devices/{id}/rul after the replay):   ${fmt(liveScores)}`);
  const v = (manifest.metrics as { validation?: { rmse: number; nasaScore: number; units: number } } | undefined)
    ?.validation;
  if (v && values.test === undefined)
    console.log(
      `manifest metrics.validation (TensorFlow.js at build time, ${v.units} units): RMSE ${v.rmse}, NASA score ${v.nasaScore}`,
    );
  const m = report.maintenance?.score;
  if (m)
    console.log(
      `sim report: RMSE at the last reading ${m.rmseAtLastReading?.toFixed(6)} over ${m.scored} devices; alerts (p10 at or below ${m.alerts.horizon} cycles) fired for ${m.alerts.alerted + m.alerts.alertedWithoutFailure} devices`,
    );
  console.log(
    `replay: ${units.length} devices at ${rate} cycles/s each, ${(replayMs / 1000).toFixed(1)} s; units whose served cycle count differs from the file: ${cyclesOff}; largest |served - offline| over rul, p10, p90: ${maxDiff.toExponential(2)} cycles`,
  );
  const rmseDiff = Math.abs(liveScores.rmse - offScores.rmse);
  console.log(`|served RMSE - offline RMSE| = ${rmseDiff.toExponential(2)} (must be <= 1e-6)`);
  if (!(rmseDiff <= 1e-6) || cyclesOff > 0) {
    console.log('FAIL: the live path does not reproduce the offline evaluation');
    exit = 1;
  } else console.log('OK: the live path serves what the offline evaluation computes');
} finally {
  await cloud.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(exit);

/** Fold 0 of 5 (seed 1) of a training file, cut as the eval and the default model's build cut it, in NASA layout. */
function heldOutFiles(trainPath: string, dir: string): { testPath: string; rulPath: string } {
  const text = readFileSync(trainPath, 'utf8');
  const all = parseCmapss(text, trainPath);
  const fold = unitFolds(all.length, 5, 1);
  const cut = truncateUnits(all, { minCycles: 30, seed: 1 + 7919 });
  const lines = new Map<number, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '') continue;
    const unit = Number(t.split(/\s+/, 1)[0]);
    lines.set(unit, [...(lines.get(unit) ?? []), t]);
  }
  const test: string[] = [];
  const rul: number[] = [];
  all.forEach((u, i) => {
    if (fold[i] !== 0) return;
    test.push(...lines.get(u.unit)!.slice(0, cut.units[i]!.length));
    rul.push(cut.rul[i]!);
  });
  const testPath = join(dir, 'test_fold0.txt');
  const rulPath = join(dir, 'RUL_fold0.txt');
  writeFileSync(testPath, test.join('\n') + '\n');
  writeFileSync(rulPath, rul.join('\n') + '\n');
  return { testPath, rulPath };
}

function fail(message: string): never {
  console.error(`eval:cmapss-pipeline: ${message}`);
  process.exit(2);
}
