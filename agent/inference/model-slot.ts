/**
 * A model slot of the inference engine: one loaded model (its manifest, ONNX Runtime session, window assembler,
 * batch buffer, figures and decision smoothing), and loading one: the manifest must be an anomaly model with window
 * inputs and a score output; its signature is checked when trusted keys are configured, the file's sha256 and size
 * against the manifest, and the manifest's test vector runs in the fresh session before the slot is handed out.
 * Also the per-window steps of scoring that need no engine: smoothing (smoothScore) and the context an anomaly event
 * carries about its window (windowContext).
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AnomalyInputs, Manifest } from '../../protocol/manifest.ts';
import type { ModelRef } from '../../protocol/messages.ts';
import { LatencyWindow } from '../../lib/stats.ts';
import { checkTestVector } from '../../models/runtime/ort-model-runner.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import { sha256Hex, verifyManifest } from '../../models/manifest/index.ts';
import type { Pairing } from './shadow-pairing.ts';
import { WindowAssembler, type WindowMeta } from './window-assembler.ts';

export interface Slot {
  manifest: Manifest;
  inputs: AnomalyInputs;
  modelPath: string;
  activatedAt: number;
  runner: ModelRunner;
  assembler: WindowAssembler;
  width: number;
  buf: Float32Array;
  metas: WindowMeta[];
  n: number;
  running: Set<Promise<void>>;
  windows: number;
  anomalies: number;
  latency: LatencyWindow;
  cooldownUntil: number;
  suppressed: number;
  ref: ModelRef;
  /** the last batch's scoring step: batches are scored in submission order whatever order ORT returns them in */
  tail: Promise<void>;
  /** manifest decision.smoothing: trailing mean over the last k window scores (k = 1: none) */
  smooth: Smoothing;
  /** set on a shadow slot: its pairing with the active model of the same name */
  pair?: Pairing;
}

/** a trailing mean over the last k window scores: a ring of the last k, their count and sum */
export interface Smoothing {
  k: number;
  ring: Float64Array;
  at: number;
  n: number;
  sum: number;
}

/** Add `raw` to the trailing mean (k > 1), as models/anomaly/threshold.ts smoothScores() calibrated it; the mean. */
export function smoothScore(sm: Smoothing, raw: number): number {
  if (sm.n === sm.k) sm.sum -= sm.ring[sm.at]!;
  else sm.n++;
  sm.ring[sm.at] = raw;
  sm.sum += raw;
  sm.at = (sm.at + 1) % sm.k;
  return sm.sum / sm.n;
}

export interface SlotLoadOptions {
  /** keyId → key; undefined: hash check only */
  trusted: ReadonlyMap<string, KeyObject> | undefined;
  requireSignature: boolean;
  createRunner: (bytes: Uint8Array, m: Manifest) => Promise<ModelRunner>;
  /** windows per ORT call at most (the batch buffer's size) */
  maxBatchWindows: number;
  now: () => number;
  /** the engine was closed (before loading, or while the session was being made) */
  closed: () => boolean;
}

/** Load and check a model into a new slot (see the header); rejects with the reason, the session released. */
export async function loadSlot(manifest: Manifest, modelPath: string, o: SlotLoadOptions): Promise<Slot> {
  if (o.closed()) throw new EdgeloopError('EL_ERR_CLOSED', 'inference engine is closed');
  if (manifest.kind !== 'anomaly' || manifest.inputs.kind !== 'window') {
    throw new EdgeloopError(
      'EL_ERR_MODEL_INPUT',
      `model ${manifest.name}@${manifest.version}: the agent runs anomaly models with window inputs (got kind ${manifest.kind}, inputs ${manifest.inputs.kind})`,
    );
  }
  if (manifest.output.kind !== 'score' && manifest.output.kind !== 'reconstruction-error') {
    throw new EdgeloopError(
      'EL_ERR_MODEL_INPUT',
      `model ${manifest.name}@${manifest.version}: output kind ${manifest.output.kind} is not a score`,
    );
  }
  if (o.trusted) {
    if (manifest.signature || o.requireSignature)
      verifyManifest(manifest, o.trusted, `manifest ${manifest.name}@${manifest.version}`);
  } else if (o.requireSignature) {
    throw new EdgeloopError('EL_ERR_MODEL_KEY', 'signatures are required but no trusted keys are configured');
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MODEL_LOAD', `cannot read model file ${modelPath}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const sha = sha256Hex(bytes);
  if (sha !== manifest.artifact.sha256 || bytes.byteLength !== manifest.artifact.bytes) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_HASH',
      `model file ${modelPath} does not match manifest ${manifest.name}@${manifest.version}: sha256 ${sha} (${bytes.byteLength} bytes), manifest says ${manifest.artifact.sha256} (${manifest.artifact.bytes} bytes)`,
    );
  }
  const runner = await o.createRunner(bytes, manifest);
  try {
    await checkTestVector(runner, manifest);
  } catch (err) {
    await runner.close();
    throw err;
  }
  if (o.closed()) {
    await runner.close();
    throw new EdgeloopError('EL_ERR_CLOSED', 'inference engine closed during activation');
  }
  const inputs = manifest.inputs;
  const assembler = new WindowAssembler({
    sensors: inputs.sensors,
    length: inputs.window.length,
    stride: inputs.window.stride,
    normalization: inputs.normalization.folded ? undefined : inputs.normalization,
  });
  const slot: Slot = {
    manifest,
    inputs,
    modelPath,
    activatedAt: o.now(),
    runner,
    assembler,
    width: assembler.width,
    buf: new Float32Array(o.maxBatchWindows * assembler.width),
    metas: new Array(o.maxBatchWindows),
    n: 0,
    running: new Set(),
    windows: 0,
    anomalies: 0,
    latency: new LatencyWindow(1024),
    cooldownUntil: -Infinity,
    suppressed: 0,
    ref: { name: manifest.name, version: manifest.version },
    tail: Promise.resolve(),
    smooth: {
      k: manifest.decision?.smoothing ?? 1,
      ring: new Float64Array(manifest.decision?.smoothing ?? 1),
      at: 0,
      n: 0,
      sum: 0,
    },
  };
  return slot;
}

/** The window's last step and per-sensor mean / min / max, in raw units. */
export function windowContext(s: Slot, input: Float32Array, row: number): Record<string, unknown> {
  const sensors = s.inputs.sensors;
  const k = sensors.length;
  const L = s.inputs.window.length;
  const norm = s.inputs.normalization;
  const raw = (v: number, j: number): number => (norm.folded ? v : v * norm.std[j]! + norm.mean[j]!);
  const last: Record<string, number> = {};
  const mean: Record<string, number> = {};
  const min: Record<string, number> = {};
  const max: Record<string, number> = {};
  const base = row * s.width;
  for (let j = 0; j < k; j++) {
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let t = 0; t < L; t++) {
      const v = raw(input[base + t * k + j]!, j);
      sum += v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const name = sensors[j]!;
    last[name] = round(raw(input[base + (L - 1) * k + j]!, j));
    mean[name] = round(sum / L);
    min[name] = round(lo);
    max[name] = round(hi);
  }
  return { last, mean, min, max };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
