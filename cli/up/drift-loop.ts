/**
 * The closed loop inside `edgeloop up` (docs/keep-models-fresh.md): drift monitors → retraining → champion/challenger
 * → shadow on the agents → staged rollout, on the shipped anomaly model.
 *
 * Before the cloud starts (prepareLoop):
 * - the cloud's training key (`<cloud>/retrain/keys/training.key`) is created when missing and its public half copied
 *   to `<dataDir>/keys/edgeloop-training.pub`, which `up`'s registry and agents trust (up-state.ts trustedKeys), so a
 *   model the cloud trains is accepted by both without a manual step;
 * - the shipped model's drift reference: the distribution of what it was trained on, its sensors' `_last` features
 *   over normal data of the simulator's signal model (seeded, the model's own training source; 200 devices × 10 min,
 *   so the fleet's spread between devices is in it), written once to
 *   `<cloud>/default-anomaly.reference.json`;
 * - the config sections of the drift, retrain and rollout parts.
 * After it started (registerShippedModel): the shipped model is in the registry, aliased `production`, so the
 * retraining job has a champion.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoopTimings, UpOptions } from './types.ts';

export type { LoopTimings } from './types.ts';

/** What the loop needs from the shipped model's manifest. */
interface ShippedModel {
  dir: string;
  name: string;
  version: string;
  sensors: string[];
  metrics: Record<string, unknown> | undefined;
}

export function shippedModel(dir: string | undefined): ShippedModel | undefined {
  if (!dir || !existsSync(join(dir, 'manifest.json'))) return undefined;
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    name: string;
    version: string;
    inputs: { sensors?: string[] };
    metrics?: Record<string, unknown>;
  };
  return { dir, name: m.name, version: m.version, sensors: m.inputs.sensors ?? [], metrics: m.metrics };
}

/** Timings of the loop: `up`'s defaults, and the faster ones of the drift scenario (minutes, not days). */
export function loopTimings(o: Pick<UpOptions, 'scenario' | 'loopTimings'>): LoopTimings {
  const base: LoopTimings =
    o.scenario === 'drift'
      ? { driftIntervalMs: 30_000, bakeMs: 45_000, shadowBakeMs: 45_000, retryMs: 60_000, epochs: 20 }
      : { driftIntervalMs: 60_000, bakeMs: 120_000, shadowBakeMs: 120_000, retryMs: 300_000, epochs: 20 };
  return { ...base, ...o.loopTimings };
}

/**
 * The reference of the shipped model: normal data of `devices` simulated devices for `seconds` each (fresh seeds,
 * so not the model's own training rows), as the processor's `<sensor>_last` features of the model's sensors.
 */
export async function shippedReference(
  model: ShippedModel,
  o: { devices?: number; seconds?: number; seed?: number } = {},
) {
  const { buildReference, withManifestBaseline } = await import('../../cloud/drift/reference.ts');
  const { featureNamePart } = await import('../../cloud/processor/feature-aggregator.ts');
  const { Prng } = await import('../../simulator/prng.ts');
  const { DEFAULT_SENSORS, SignalModel } = await import('../../simulator/signal-model.ts');
  const { SyntheticSource } = await import('../../simulator/virtual-device.ts');
  // many devices, each briefly: the reference must hold the fleet's spread of devices (each sits a little off the
  // nominal level), not the cycles of a few
  const devices = o.devices ?? 200;
  const seconds = o.seconds ?? 600;
  const names = DEFAULT_SENSORS.map((s) => s.name);
  const idx = model.sensors.map((s) => names.indexOf(s));
  if (idx.some((i) => i < 0)) return undefined; // a model of other sensors: no simulated reference for it
  const columns: Record<string, Float64Array> = {};
  for (const s of model.sensors) columns[`${featureNamePart(s) ?? s}_last`] = new Float64Array(devices * seconds);
  const cols = model.sensors.map((s) => columns[`${featureNamePart(s) ?? s}_last`]!);
  const root = new Prng(o.seed ?? 0x5eed_d41f);
  const values = new Float64Array(names.length);
  const present = new Uint8Array(names.length);
  for (let d = 0; d < devices; d++) {
    const src = new SyntheticSource(new SignalModel(DEFAULT_SENSORS, root.fork(`reference-${d}`), 0), []);
    for (let t = 0; t < seconds; t++) {
      src.sample(t * 1000, values, present);
      for (let j = 0; j < idx.length; j++) cols[j]![d * seconds + t] = values[idx[j]!]!;
    }
  }
  return withManifestBaseline(
    buildReference(columns, { maxSample: 2000, createdAt: new Date(0).toISOString() }),
    model,
  );
}

export interface LoopConfig {
  drift: Record<string, unknown>;
  retrain: Record<string, unknown>;
  candidates: Record<string, unknown>;
}

/** Keys, reference and config sections for the loop; undefined when the shipped model is not built. */
export async function prepareLoop(
  o: UpOptions,
  cloudDir: string,
  modelDir: string | undefined,
): Promise<LoopConfig | undefined> {
  const model = shippedModel(modelDir);
  if (!model) return undefined;
  const { loadTrainingKey } = await import('../../cloud/retrain/training-key.ts');
  const key = loadTrainingKey(join(cloudDir, 'retrain', 'keys'));
  const trusted = join(o.dataDir, 'keys');
  mkdirSync(trusted, { recursive: true });
  copyFileSync(key.publicPath, join(trusted, 'edgeloop-training.pub'));
  const refFile = join(cloudDir, 'default-anomaly.reference.json');
  if (!existsSync(refFile)) {
    const ref = await shippedReference(model);
    if (!ref) return undefined;
    writeFileSync(refFile, JSON.stringify(ref));
  }
  const t = loopTimings(o);
  return {
    drift: {
      references: [refFile],
      intervalMs: t.driftIntervalMs,
      // two fired checks of the last three raise an alarm; none of the last three clears it
      policy: { minSamples: 100, detectK: 2, window: 3, clearK: 0 },
      // a few minutes of one device see a slice of its sensors' cycles, and the fleet's devices sit a little apart:
      // large samples make such differences significant, so an input alarm also needs a normed Wasserstein-1 of 2
      // on a device (the scenario's shift is ~4) and 0.8 on a cohort (40 % of the fleet shifted: ~1.5)
      minEffect: { device: 2, cohort: 0.8 },
    },
    retrain: {
      model: model.name,
      // the input monitors of cohorts start a job; a single device's drift is that device's business
      onDrift: ['input'],
      onDriftSubjects: ['site', 'hardware', 'model'],
      // the onset precedes its detection by a few checks; train on what came after it
      onsetLookbackMs: 4 * t.driftIntervalMs,
      // right after a detection there are minutes of the new regime: try again each minute until there is enough
      noDataRetryMs: t.retryMs,
      // the shipped model's architecture, at least as many optimizer steps as it had (minutes of history make few
      // batches an epoch), and its threshold rule (99.9th percentile × 2) taken on the training scores without their
      // far tail: after a drift the slice keeps the stale model's alarms, and the real faults among them must not
      // set the new threshold
      training: {
        epochs: t.epochs,
        minSteps: 1500,
        hidden: [64, 32, 8],
        threshold: { quantile: 0.999, margin: 2, trimMads: 10 },
      },
    },
    candidates: {
      approve: o.approve ?? 'auto',
      spec: {
        stages: [10, 50, 100],
        bakeMs: t.bakeMs,
        // a candidate trained because the production model went stale is meant to disagree with it where it is
        // stale: its shadow is judged on not alarming more than the active model and on latency, not on agreement
        shadow: { bakeMs: t.shadowBakeMs, gates: ['shadow_anomaly_rate<=1.5x', 'shadow_p99_ms<=4x'] },
      },
    },
  };
}

/** The shipped model in the registry with the `production` alias (the champion), once. */
export async function registerShippedModel(
  registry: {
    versions(name: string): Array<{ version: string }>;
    push(input: { manifest: unknown; artifact: { path: string } }): Promise<unknown>;
    getAlias(name: string, alias: string): unknown;
    setAlias(name: string, alias: string, version: string): unknown;
  },
  modelDir: string,
): Promise<void> {
  const model = shippedModel(modelDir);
  if (!model) return;
  if (!registry.versions(model.name).some((v) => v.version === model.version)) {
    const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as {
      artifact: { file: string };
    };
    await registry.push({ manifest, artifact: { path: join(modelDir, manifest.artifact.file) } });
  }
  if (!registry.getAlias(model.name, 'production')) registry.setAlias(model.name, 'production', model.version);
}
