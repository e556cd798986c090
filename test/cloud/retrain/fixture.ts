/**
 * Test data for the retraining job: a small fleet's messages (two sensors, one step per second, a daily-ish
 * sinusoid plus noise; an optional shift after some time for some devices; events), written into a real raw
 * archive with the archive's own code; and a registry holding a champion trained on the unshifted signal.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Prng } from '../../../lib/prng.ts';
import { trainAnomalyModel } from '../../../models/anomaly/train-anomaly.ts';
import { generateSigningKey, signManifest, TrustedKeyRing, writeSigningKey } from '../../../models/manifest/index.ts';
import type { DeviceMessage } from '../../../protocol/messages.ts';
import { LocalArtifactStore } from '../../../cloud/registry/artifact-store.ts';
import { ModelRegistry } from '../../../cloud/registry/model-registry.ts';
import { loadTrainingKey } from '../../../cloud/retrain/training-key.ts';
import { archiveMessages } from '../../helpers/archive-messages.ts';

export const SENSORS = ['temp', 'vib'];
export const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
export const STEP_MS = 1000;

export interface FleetSpec {
  devices: Array<{ id: string; site: string }>;
  steps: number;
  /** offset added to each sensor at step i of a device */
  shift?: (deviceId: string, step: number) => readonly [number, number];
  /** anomaly events: (device, step) */
  events?: Array<{ deviceId: string; step: number }>;
  /** replace the signal (garbage data) */
  signal?: (deviceId: string, step: number, prng: Prng) => readonly [number, number];
  seed?: number;
  /** device time of the first step; default T0 */
  t0?: number;
}

export function normalSignal(step: number, prng: Prng, phase = 0): [number, number] {
  const a = (2 * Math.PI * (step + phase)) / 60;
  return [20 + 2 * Math.sin(a) + 0.2 * prng.normal(), 5 + 0.5 * Math.cos(a) + 0.1 * prng.normal()];
}

export function fleetMessages(spec: FleetSpec): DeviceMessage[] {
  const out: DeviceMessage[] = [];
  const prng = new Prng(spec.seed ?? 7);
  const t0 = spec.t0 ?? T0;
  for (const [di, d] of spec.devices.entries()) {
    let seq = 1;
    out.push({
      v: 1,
      type: 'status',
      deviceId: d.id,
      seq: seq++,
      ts: t0,
      online: true,
      site: d.site,
      models: [{ name: 'anomaly', version: '1.0.0' }],
    });
    const batch = 50;
    for (let s0 = 0; s0 < spec.steps; s0 += batch) {
      const readings = [];
      for (let i = s0; i < Math.min(spec.steps, s0 + batch); i++) {
        const v = spec.signal ? spec.signal(d.id, i, prng) : normalSignal(i, prng, di * 7);
        const sh = spec.shift?.(d.id, i) ?? [0, 0];
        const ts = t0 + i * STEP_MS;
        readings.push({ seq: seq++, sensor: SENSORS[0]!, ts, value: v[0] + sh[0] });
        readings.push({ seq: seq++, sensor: SENSORS[1]!, ts, value: v[1] + sh[1] });
      }
      out.push({ v: 1, type: 'telemetry', deviceId: d.id, seq: readings[0]!.seq, sentAt: t0, readings });
    }
    const evs = (spec.events ?? []).filter((e) => e.deviceId === d.id);
    if (evs.length > 0) {
      out.push({
        v: 1,
        type: 'events',
        deviceId: d.id,
        seq,
        sentAt: t0,
        events: evs.map((e, k) => ({
          seq: seq + k,
          ts: t0 + e.step * STEP_MS,
          kind: 'anomaly' as const,
          severity: 'warning' as const,
        })),
      });
      seq += evs.length;
    }
  }
  return out;
}

export async function writeArchive(dataDir: string, spec: FleetSpec): Promise<void> {
  await archiveMessages(dataDir, fleetMessages(spec));
}

/** The rows of one device's normal signal as a sensor table (the champion's training data). */
function normalTable(steps: number, seed: number, offset: readonly [number, number] = [0, 0]) {
  const prng = new Prng(seed);
  const values = new Float64Array(steps * 2);
  for (let i = 0; i < steps; i++) {
    const v = normalSignal(i, prng);
    values[2 * i] = v[0] + offset[0];
    values[2 * i + 1] = v[1] + offset[1];
  }
  return {
    file: `champion-${seed}`,
    sensors: SENSORS,
    timeColumn: undefined,
    times: [],
    values,
    rows: steps,
    lines: [],
    labels: undefined,
  };
}

export const TINY = { epochs: 8, batchSize: 64, hidden: [8, 4], learningRate: 0.01 };

const champions = new Map<number, ReturnType<typeof trainAnomalyModel>>();

/** anomaly@1.0.0 trained on the unshifted signal (once per test process and window). */
function championModel(window: number): ReturnType<typeof trainAnomalyModel> {
  let p = champions.get(window);
  if (!p) {
    p = trainAnomalyModel([normalTable(3000, 11)], {
      window,
      ...TINY,
      version: '1.0.0',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    champions.set(window, p);
  }
  return p;
}

/** The registry of `<dataDir>/registry`, trusting the release key and the training key. */
export function openRegistry(dataDir: string): ModelRegistry {
  const registry = new ModelRegistry({
    dbPath: join(dataDir, 'registry', 'registry.db'),
    store: new LocalArtifactStore({ dir: join(dataDir, 'registry', 'artifacts') }),
    trustedKeys: new TrustedKeyRing([join(dataDir, 'trusted-keys'), join(dataDir, 'retrain', 'keys')]),
  });
  registry.start();
  return registry;
}

/**
 * A registry in `<dataDir>/registry` trusting a release key and the cloud's training key (created here, as the
 * docs tell an operator to), with `anomaly@1.0.0` trained on the unshifted signal as `production`.
 */
export async function registryWithChampion(dataDir: string, window = 8): Promise<ModelRegistry> {
  const keys = join(dataDir, 'trusted-keys');
  mkdirSync(keys, { recursive: true });
  const release = generateSigningKey();
  writeSigningKey(keys, 'release', release);
  loadTrainingKey(join(dataDir, 'retrain', 'keys'));
  const registry = openRegistry(dataDir);
  const champion = await championModel(window);
  await registry.push({ manifest: signManifest(champion.manifest, release.privateKey), artifact: champion.onnx });
  registry.setAlias('anomaly', 'production', '1.0.0');
  return registry;
}
