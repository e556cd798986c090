/**
 * Champion/challenger: the challenger and the production model (champion) scored by real ONNX Runtime sessions on
 * the same recent hold-out slice, which neither was trained on, and a decision by stated criteria.
 *
 * Measured per model, each with its own threshold and decision rule (a `decision.smoothing` of k averages the
 * last k window scores of a segment, as the agent does):
 * - false-alarm rate: share of hold-out windows (recent normal data: alert and anomaly windows and labels were
 *   excluded by the selection) whose decision score is above the threshold;
 * - detection: share of injected anomalies detected. `injected` hold-out windows are copied and given one fault
 *   each, in turn: a spike (the last step of one sensor + `spikeSigma` σ), a drift (a ramp over the window on one
 *   sensor, reaching `driftSigma` σ at its last step), stuck (one sensor held at its first value through the
 *   window), σ being the sensor's standard deviation over the hold-out slice; the faulty window is decided like
 *   a normal one (with smoothing, averaged with the k − 1 normal scores before it). A fault counts for a model
 *   only on a window that model decides normal without the fault, so a model that alarms on most recent windows
 *   (the stale champion) gets no credit for "detecting" faults on windows it flags anyway; and the two models are
 *   compared on the faults that count for both (otherwise the stale champion is judged on the devices it still
 *   fits and the challenger on all of them); the detection rate is the mean of the three per-fault rates;
 * - latency: p99 of `latencyRuns` batch-1 session runs, ms; size: ONNX bytes.
 *
 * The challenger wins when all hold: its false-alarm rate is at most the champion's minus `falseAlarmMargin`,
 * its detection at least the champion's minus `detectionMargin` — the champion's as its one-sided 95 % lower
 * bound (Wilson, per fault, averaged), because a stale champion decides few hold-out windows normal and its
 * detection is then measured on a handful of faults — its p99 latency at most `maxP99Ms`, its size at
 * most `maxBytes`. Otherwise it is rejected, each failed criterion in the reason.
 */
import { smoothScores } from '../../models/anomaly/threshold.ts';
import { buildWindows } from '../../models/anomaly/windows.ts';
import { OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import { Prng } from '../../lib/prng.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Segment } from './training-data.ts';

export interface Criteria {
  /** the challenger's false-alarm rate must be at most the champion's minus this (absolute). Default 0.005. */
  falseAlarmMargin: number;
  /** the challenger's detection may be at most this much below the champion's (absolute). Default 0.05. */
  detectionMargin: number;
  /** p99 latency per window (ORT, batch 1) limit, ms. Default 5. */
  maxP99Ms: number;
  /** …or at most this multiple of the champion's p99 measured in the same evaluation. Default 1.5. */
  maxLatencyRatio: number;
  /** ONNX size limit, bytes. Default 8 MiB. */
  maxBytes: number;
  /** injected anomalies. Default 300. */
  injected: number;
  spikeSigma: number;
  driftSigma: number;
  /** hold-out windows scored at most (the first ones of each segment in turn). Default 20 000. */
  maxWindows: number;
  latencyRuns: number;
  seed: number;
}

export const DEFAULT_CRITERIA: Criteria = Object.freeze({
  falseAlarmMargin: 0.005,
  detectionMargin: 0.05,
  maxP99Ms: 5,
  maxLatencyRatio: 1.5,
  maxBytes: 8 * 1024 * 1024,
  injected: 300,
  spikeSigma: 6,
  driftSigma: 4,
  maxWindows: 20_000,
  latencyRuns: 200,
  seed: 1,
});

export interface ModelUnderTest {
  manifest: Manifest;
  onnx: Uint8Array;
}

export interface ModelScore {
  version: string;
  falseAlarmRate: number;
  detectionRate: number;
  detectionByFault: Record<FaultKind, number>;
  /** the mean of the per-fault one-sided 95 % lower confidence bounds (Wilson) */
  detectionLower: number;
  /** injected windows counted: those whose original window the model decides normal */
  detectionWindows: number;
  p99Ms: number;
  bytes: number;
  threshold: number;
}

export interface Evaluation {
  windows: number;
  injected: number;
  champion: ModelScore;
  challenger: ModelScore;
  accepted: boolean;
  /** every failed criterion, in words; empty when accepted */
  reasons: string[];
  criteria: Criteria;
}

export type FaultKind = 'spike' | 'drift' | 'stuck';
const FAULTS: readonly FaultKind[] = ['spike', 'drift', 'stuck'];

/** Hold-out windows (stride 1) per segment, at most `max` in all. */
export function holdoutWindows(
  segments: readonly Segment[],
  sensors: number,
  length: number,
  max: number,
): Array<{ data: Float32Array; count: number }> {
  const out: Array<{ data: Float32Array; count: number }> = [];
  let total = 0;
  for (const s of segments) {
    if (total >= max) break;
    if (s.rows < length) continue;
    const w = buildWindows(s.values, s.rows, sensors, length, 1, s.deviceId);
    const count = Math.min(w.count, max - total);
    out.push({ data: w.data.subarray(0, count * w.width), count });
    total += count;
  }
  return out;
}

/** Per-sensor standard deviation over the windows' last steps. */
export function sensorStd(
  parts: ReadonlyArray<{ data: Float32Array; count: number }>,
  sensors: number,
  length: number,
) {
  const sum = new Float64Array(sensors);
  const sq = new Float64Array(sensors);
  let n = 0;
  for (const p of parts) {
    const width = sensors * length;
    for (let w = 0; w < p.count; w++) {
      for (let j = 0; j < sensors; j++) {
        const v = p.data[w * width + (length - 1) * sensors + j]!;
        sum[j]! += v;
        sq[j]! += v * v;
      }
      n++;
    }
  }
  return Array.from(sum, (s, j) => Math.sqrt(Math.max(0, sq[j]! / Math.max(1, n) - (s / Math.max(1, n)) ** 2)));
}

/** One fault written into a copy of a window (row-major [length, sensors]). Pure. */
export function injectFault(
  window: Float32Array,
  kind: FaultKind,
  sensor: number,
  sensors: number,
  length: number,
  sigma: number,
  c: Pick<Criteria, 'spikeSigma' | 'driftSigma'>,
): Float32Array {
  const w = Float32Array.from(window);
  if (kind === 'spike') w[(length - 1) * sensors + sensor]! += c.spikeSigma * sigma;
  else if (kind === 'drift') {
    for (let t = 0; t < length; t++) w[t * sensors + sensor]! += (c.driftSigma * sigma * (t + 1)) / length;
  } else {
    const first = w[sensor]!;
    for (let t = 0; t < length; t++) w[t * sensors + sensor] = first;
  }
  return w;
}

export interface InjectionSet {
  /** [n, width] faulty windows */
  data: Float32Array;
  n: number;
  kinds: FaultKind[];
  /** for each, the hold-out part and window index it was made from */
  origin: Array<{ part: number; index: number }>;
}

/** `n` faulty windows drawn (seeded) from the hold-out windows, fault kinds in turn. */
export function buildInjections(
  parts: ReadonlyArray<{ data: Float32Array; count: number }>,
  sensors: number,
  length: number,
  n: number,
  c: Criteria,
  std: readonly number[],
): InjectionSet {
  const width = sensors * length;
  const total = parts.reduce((a, p) => a + p.count, 0);
  const prng = new Prng(c.seed);
  const count = Math.min(n, total);
  const data = new Float32Array(count * width);
  const kinds: FaultKind[] = [];
  const origin: InjectionSet['origin'] = [];
  for (let i = 0; i < count; i++) {
    let r = prng.int(total);
    let part = 0;
    while (r >= parts[part]!.count) r -= parts[part++]!.count;
    const kind = FAULTS[i % FAULTS.length]!;
    const sensor = prng.int(sensors);
    const src = parts[part]!.data.subarray(r * width, (r + 1) * width);
    data.set(injectFault(src, kind, sensor, sensors, length, std[sensor]!, c), i * width);
    kinds.push(kind);
    origin.push({ part, index: r });
  }
  return { data, n: count, kinds, origin };
}

async function scoreAll(runner: OrtModelRunner, data: Float32Array, count: number, width: number) {
  const out = new Float32Array(count);
  const batch = 4096;
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const r = await runner.run(data.subarray(s * width, (s + n) * width), n);
    for (let i = 0; i < n; i++) out[s + i] = r.data[i * r.width]!;
  }
  return out;
}

function normalizer(m: Manifest): ((x: Float32Array) => Float32Array) | undefined {
  if (m.inputs.kind !== 'window') return undefined;
  const n = m.inputs.normalization;
  if (!n || n.folded) return undefined;
  return (x) => {
    const k = n.mean.length;
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = (x[i]! - n.mean[i % k]!) / n.std[i % k]!;
    return out;
  };
}

/**
 * The decision score at window `index` of a segment when its own score is `score`: the trailing mean of the last
 * `k` window scores, as the agent computes it.
 */
function decisionAt(scores: Float32Array, index: number, score: number, k: number): number {
  if (k <= 1) return score;
  let sum = score;
  let n = 1;
  for (let j = Math.max(0, index - k + 1); j < index; j++, n++) sum += scores[j]!;
  return sum / n;
}

/** Score one model on the hold-out windows and the injected ones. */
export async function scoreModel(
  model: ModelUnderTest,
  parts: ReadonlyArray<{ data: Float32Array; count: number }>,
  inj: InjectionSet,
  width: number,
  c: Criteria,
): Promise<ModelScore> {
  return (await scoreModelDetailed(model, parts, inj, width, c)).score;
}

/**
 * scoreModel, and per injected anomaly whether it counted for this model (its window decided normal without the
 * fault) and whether the model caught it: evaluateChallenger compares the two models on the injections both count.
 */
async function scoreModelDetailed(
  model: ModelUnderTest,
  parts: ReadonlyArray<{ data: Float32Array; count: number }>,
  inj: InjectionSet,
  width: number,
  c: Criteria,
): Promise<{ score: ModelScore; eligible: Uint8Array; caught: Uint8Array }> {
  const m = model.manifest;
  if (m.kind !== 'anomaly' || m.inputs.kind !== 'window')
    throw new EdgeloopError('EL_ERR_MODEL_INPUT', `${m.name}@${m.version} is not a window anomaly model`);
  const runner = await OrtModelRunner.create({
    model: model.onnx,
    inputName: m.inputs.name,
    outputName: m.output.name,
  });
  const norm = normalizer(m) ?? ((x: Float32Array) => x);
  const k = m.decision?.smoothing ?? 1;
  const threshold = m.threshold ?? Number.POSITIVE_INFINITY;
  try {
    let alarms = 0;
    let windows = 0;
    const raw: Float32Array[] = [];
    for (const p of parts) {
      const s = await scoreAll(runner, norm(p.data), p.count, width);
      raw.push(s);
      const d = k > 1 ? smoothScores(s, k) : s;
      for (let i = 0; i < d.length; i++) if (d[i]! > threshold) alarms++;
      windows += d.length;
    }
    const injScores = await scoreAll(runner, norm(inj.data), inj.n, width);
    const hit: Record<FaultKind, [number, number]> = { spike: [0, 0], drift: [0, 0], stuck: [0, 0] };
    const countedAt = new Uint8Array(inj.n);
    const caughtAt = new Uint8Array(inj.n);
    for (let i = 0; i < inj.n; i++) {
      const { part, index } = inj.origin[i]!;
      const before = raw[part]!;
      // a fault counts only on a window this model decides normal without it: alarming on everything is no detection
      if (decisionAt(before, index, before[index]!, k) > threshold) continue;
      const h = hit[inj.kinds[i]!];
      h[1]++;
      countedAt[i] = 1;
      if (decisionAt(before, index, injScores[i]!, k) > threshold) {
        h[0]++;
        caughtAt[i] = 1;
      }
    }
    const eligible = FAULTS.reduce((a, f) => a + hit[f][1], 0);
    const byFault = FAULTS.map((f) => (hit[f][1] ? hit[f][0] / hit[f][1] : 0));
    const lower = FAULTS.map((f) => wilsonLower(hit[f][0], hit[f][1]));
    // latency: batch-1 runs of hold-out windows, as a device runs them
    const times: number[] = [];
    const first = parts[0];
    for (let i = 0; first && i < c.latencyRuns; i++) {
      const w = i % first.count;
      const x = norm(first.data.subarray(w * width, (w + 1) * width));
      const t0 = performance.now();
      await runner.run(x, 1);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const score: ModelScore = {
      version: m.version,
      falseAlarmRate: windows > 0 ? alarms / windows : 0,
      // the mean of the per-fault rates: the mix of faults among a model's counted windows does not matter
      detectionRate: eligible > 0 ? byFault.reduce((a, x) => a + x, 0) / FAULTS.length : 0,
      detectionLower: lower.reduce((a, x) => a + x, 0) / FAULTS.length,
      detectionWindows: eligible,
      detectionByFault: Object.fromEntries(FAULTS.map((f, i) => [f, byFault[i]!])) as Record<FaultKind, number>,
      p99Ms: times.length ? times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)]! : 0,
      bytes: model.onnx.byteLength,
      threshold,
    };
    return { score, eligible: countedAt, caught: caughtAt };
  } finally {
    await runner.close();
  }
}

/** A model's detection figures on the injections `counted` marks (per fault kind, then their mean). */
function pairedDetection(
  inj: InjectionSet,
  counted: Uint8Array,
  caught: Uint8Array,
): Pick<ModelScore, 'detectionRate' | 'detectionLower' | 'detectionWindows' | 'detectionByFault'> {
  const hit: Record<FaultKind, [number, number]> = { spike: [0, 0], drift: [0, 0], stuck: [0, 0] };
  for (let i = 0; i < inj.n; i++) {
    if (!counted[i]) continue;
    const h = hit[inj.kinds[i]!];
    h[1]++;
    if (caught[i]) h[0]++;
  }
  const eligible = FAULTS.reduce((a, f) => a + hit[f][1], 0);
  const byFault = FAULTS.map((f) => (hit[f][1] ? hit[f][0] / hit[f][1] : 0));
  const lower = FAULTS.map((f) => wilsonLower(hit[f][0], hit[f][1]));
  return {
    detectionRate: eligible > 0 ? byFault.reduce((a, x) => a + x, 0) / FAULTS.length : 0,
    detectionLower: lower.reduce((a, x) => a + x, 0) / FAULTS.length,
    detectionWindows: eligible,
    detectionByFault: Object.fromEntries(FAULTS.map((f, i) => [f, byFault[i]!])) as Record<FaultKind, number>,
  };
}

/** One-sided 95 % lower confidence bound of a rate (Wilson score interval); 0 without trials. */
export function wilsonLower(successes: number, trials: number, z = 1.6449): number {
  if (trials === 0) return 0;
  const p = successes / trials;
  const z2 = z * z;
  const centre = p + z2 / (2 * trials);
  const spread = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return Math.max(0, (centre - spread) / (1 + z2 / trials));
}

/** The decision from the two scores (pure). */
export function decide(
  champion: ModelScore,
  challenger: ModelScore,
  c: Criteria,
): { accepted: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  if (!(challenger.falseAlarmRate <= champion.falseAlarmRate - c.falseAlarmMargin))
    reasons.push(
      `false-alarm rate ${pct(challenger.falseAlarmRate)} is not below the champion's ${pct(champion.falseAlarmRate)} by ${pct(c.falseAlarmMargin)}`,
    );
  if (!(challenger.detectionRate >= champion.detectionLower - c.detectionMargin))
    reasons.push(
      `detection of injected anomalies ${pct(challenger.detectionRate)} is more than ${pct(c.detectionMargin)} below the champion's ${pct(champion.detectionRate)} (lower 95 % bound ${pct(champion.detectionLower)})`,
    );
  // latency is measured here, on a machine that may be busy: over the absolute limit, the challenger still passes
  // when it is within maxLatencyRatio of the champion measured the same way in the same evaluation
  const latencyLimit = Math.max(c.maxP99Ms, c.maxLatencyRatio * champion.p99Ms);
  if (!(challenger.p99Ms <= latencyLimit))
    reasons.push(
      `p99 latency ${challenger.p99Ms.toFixed(3)} ms is above the limit of ${latencyLimit.toFixed(3)} ms (${c.maxP99Ms} ms, or ${c.maxLatencyRatio} × the champion's ${champion.p99Ms.toFixed(3)} ms)`,
    );
  if (!(challenger.bytes <= c.maxBytes))
    reasons.push(`size ${challenger.bytes} bytes is above the limit of ${c.maxBytes} bytes`);
  return { accepted: reasons.length === 0, reasons };
}

/** Score both models on the same hold-out slice and the same injected anomalies, and decide. */
export async function evaluateChallenger(
  champion: ModelUnderTest,
  challenger: ModelUnderTest,
  holdout: readonly Segment[],
  criteria: Partial<Criteria> = {},
): Promise<Evaluation> {
  const c: Criteria = { ...DEFAULT_CRITERIA, ...criteria };
  const a = champion.manifest.inputs;
  const b = challenger.manifest.inputs;
  if (a.kind !== 'window' || b.kind !== 'window')
    throw new EdgeloopError('EL_ERR_MODEL_INPUT', 'champion and challenger must both be window models');
  if (a.window.length !== b.window.length || a.sensors.join(',') !== b.sensors.join(','))
    throw new EdgeloopError(
      'EL_ERR_MODEL_INPUT',
      `champion and challenger windows differ: [${a.sensors.join(', ')}] × ${a.window.length} vs [${b.sensors.join(', ')}] × ${b.window.length}`,
    );
  const sensors = a.sensors.length;
  const length = a.window.length;
  const parts = holdoutWindows(holdout, sensors, length, c.maxWindows);
  const windows = parts.reduce((x, p) => x + p.count, 0);
  if (windows === 0) throw new EdgeloopError('EL_ERR_RETRAIN_NO_DATA', 'the hold-out slice has no window to score');
  const inj = buildInjections(parts, sensors, length, c.injected, c, sensorStd(parts, sensors, length));
  const width = sensors * length;
  const a1 = await scoreModelDetailed(champion, parts, inj, width, c);
  const b1 = await scoreModelDetailed(challenger, parts, inj, width, c);
  // detection is compared on the injections both models count: a stale champion that flags every window of the
  // drifted devices would otherwise be judged on the other devices only, and the challenger on all of them
  const both = Uint8Array.from(a1.eligible, (x, i) => x & b1.eligible[i]!);
  const champ = { ...a1.score, ...pairedDetection(inj, both, a1.caught) };
  const chall = { ...b1.score, ...pairedDetection(inj, both, b1.caught) };
  const { accepted, reasons } = decide(champ, chall, c);
  return { windows, injected: inj.n, champion: champ, challenger: chall, accepted, reasons, criteria: c };
}
