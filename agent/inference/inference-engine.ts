/**
 * InferenceEngine: the agent's on-device anomaly scoring, and its ModelHost (what the model updater drives).
 *
 * Per active model (one per manifest name): a WindowAssembler for the manifest's sensor group, an ONNX Runtime
 * session (models/runtime/ort-model-runner.ts), and figures. `push()` feeds accepted readings; every window that
 * becomes ready during one push is scored in ONE session.run() (up to maxBatchWindows per call), because per-call
 * overhead dominates small models. A score over the manifest threshold becomes an anomaly event (with the window's
 * context) handed to `onEvent` (the agent puts it into the outbox's events lane, ahead of telemetry). While a model
 * keeps finding anomalies, one event per `cooldownMs` of device time is emitted and the windows in between are
 * counted into the next event (`context.suppressed`), so a persistent fault does not flood the events lane.
 * Batches may come back from ONNX Runtime out of order; they are scored in submission order, and a manifest with
 * `decision.smoothing: k` is decided on the trailing mean of the last k window scores (the rule its threshold was
 * calibrated with; the event carries the mean as `score` and the window's own as `context.rawScore`).
 *
 * activate(): checks the file's sha256 against the manifest (and the signature when trusted keys are configured),
 * loads it in a fresh session, runs the manifest test vector there, and only then swaps it in; windows already
 * being scored finish on the old session, which is released afterwards. Any failure leaves the old model serving.
 *
 * Shadow (activateShadow()): a candidate of the same manifest name, checked the same way, runs beside the active
 * model on the same readings, in its own session and window assembler, and acts on nothing: no events, no effect on
 * the figures of summary() (the canary gates read those). Its decisions are paired with the active model's by
 * window end time; shadowReports() gives agreement, both score distributions over the paired windows, the
 * candidate's would-be anomaly count and its latency. Its ORT calls count toward maxInflightRuns, so a slow
 * candidate slows intake down instead of queueing windows.
 *
 * The parts: model-slot.ts (loading and checking a model into a slot, the event's window context, smoothing) and
 * shadow-pairing.ts (pairing a candidate's decisions with the active model's, its report).
 */
import type { KeyObject } from 'node:crypto';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ModelRef, ShadowReport } from '../../protocol/messages.ts';
import { LatencyWindow } from '../../lib/stats.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import type { ActiveModel, ModelHost, ModelStats } from '../model-updater/model-host.ts';
import type { OutboxEvent } from '../outbox/sqlite-outbox.ts';
import { loadSlot, smoothScore, windowContext, type Slot } from './model-slot.ts';
import { newPairing, pushDecision, shadowReport } from './shadow-pairing.ts';
import {
  resolveInferenceOptions,
  type InferenceEngineOptions,
  type ResolvedInferenceOptions,
} from './inference-options.ts';
import type { WindowMeta } from './window-assembler.ts';

export type { InferenceEngineOptions } from './inference-options.ts';

export interface InferenceSummary {
  windows: number;
  anomalies: number;
  events: number;
  anomalyRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
}

export class InferenceEngine implements ModelHost {
  readonly #o: Pick<
    ResolvedInferenceOptions,
    'maxBatchWindows' | 'cooldownMs' | 'intraOpNumThreads' | 'maxInflightRuns'
  >;
  readonly #onEvent: (e: OutboxEvent) => void;
  readonly #trusted: ReadonlyMap<string, KeyObject> | undefined;
  readonly #requireSignature: boolean;
  readonly #createRunner: (bytes: Uint8Array, m: Manifest) => Promise<ModelRunner>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #slots = new Map<string, Slot>();
  /** active slots as an array */
  #list: Slot[] = [];
  /** shadow candidates by manifest name */
  readonly #shadows = new Map<string, Slot>();
  /** active and shadow slots, for the hot loop */
  #feed: Slot[] = [];
  #closed = false;
  #events = 0;
  #errors = 0;
  #lastError: string | undefined;
  readonly #all = new LatencyWindow(2048);
  #windowsTotal = 0;
  #anomaliesTotal = 0;
  #changeListeners = new Set<() => void>();
  #readyWaiters: Array<() => void> = [];

  constructor(opts: InferenceEngineOptions) {
    const o = resolveInferenceOptions(opts);
    this.#o = {
      maxBatchWindows: o.maxBatchWindows,
      cooldownMs: o.cooldownMs,
      intraOpNumThreads: o.intraOpNumThreads,
      maxInflightRuns: o.maxInflightRuns,
    };
    this.#onEvent = o.onEvent;
    this.#trusted = o.trustedKeys && o.trustedKeys.size > 0 ? o.trustedKeys : undefined;
    this.#requireSignature = o.requireSignature ?? this.#trusted !== undefined;
    const threads = this.#o.intraOpNumThreads;
    this.#createRunner = o.createRunner ?? ((bytes, m) => OrtModelRunner.forManifest(bytes, m, threads));
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
  }

  // ---------- ModelHost ----------

  active(name: string): ActiveModel | undefined {
    const s = this.#slots.get(name);
    return s && { manifest: s.manifest, modelPath: s.modelPath, activatedAt: s.activatedAt };
  }

  stats(name: string): ModelStats | undefined {
    const s = this.#slots.get(name);
    if (!s) return undefined;
    const p = s.latency.snapshot([95]);
    return {
      windows: s.windows,
      anomalies: s.anomalies,
      anomalyRate: s.windows ? s.anomalies / s.windows : 0,
      p95Ms: nz(p.p95),
    };
  }

  async activate(manifest: Manifest, modelPath: string): Promise<void> {
    const slot = await this.#load(manifest, modelPath);
    const old = this.#slots.get(manifest.name);
    // the swap: synchronous, so no push() sees a half-installed model
    this.#slots.set(manifest.name, slot);
    const sh = this.#shadows.get(manifest.name);
    let retiredShadow: Slot | undefined;
    if (sh && sh.manifest.version === manifest.version && sh.manifest.artifact.sha256 === manifest.artifact.sha256) {
      // the candidate became the active model: nothing left to compare
      this.#shadows.delete(manifest.name);
      retiredShadow = sh;
    } else if (sh?.pair) {
      sh.pair = newPairing(manifest.version);
    }
    this.#relist();
    this.#log.info(
      { model: manifest.name, version: manifest.version, previous: old?.manifest.version },
      'model active',
    );
    for (const fn of this.#changeListeners) fn();
    if (old) void this.#retire(old);
    if (retiredShadow) void this.#retire(retiredShadow);
  }

  /**
   * Run a candidate beside the active model of the same name (checked like activate(): hash, signature, test
   * vector). Replaces an earlier shadow of that name. Rejects when no model of that name is active.
   */
  async activateShadow(manifest: Manifest, modelPath: string): Promise<void> {
    const active = this.#slots.get(manifest.name);
    if (!active)
      throw new EdgeloopError(
        'EL_ERR_MODEL_INPUT',
        `shadow ${manifest.name}@${manifest.version}: no active model named ${manifest.name} to compare it with`,
      );
    const slot = await this.#load(manifest, modelPath);
    const current = this.#slots.get(manifest.name);
    if (!current) {
      await slot.runner.close();
      throw new EdgeloopError('EL_ERR_MODEL_INPUT', `shadow ${manifest.name}: the active model went away`);
    }
    slot.pair = newPairing(current.manifest.version);
    const old = this.#shadows.get(manifest.name);
    this.#shadows.set(manifest.name, slot);
    this.#relist();
    this.#log.info(
      { model: manifest.name, version: manifest.version, active: current.manifest.version },
      'shadow model running',
    );
    for (const fn of this.#changeListeners) fn();
    if (old) void this.#retire(old);
  }

  /** Stop the shadow candidate of `name` and release its session; false when there was none. */
  async clearShadow(name: string): Promise<boolean> {
    const sh = this.#shadows.get(name);
    if (!sh) return false;
    this.#shadows.delete(name);
    this.#relist();
    this.#log.info({ model: name, version: sh.manifest.version }, 'shadow model stopped');
    for (const fn of this.#changeListeners) fn();
    await this.#retire(sh);
    return true;
  }

  /** The shadow candidate running for `name`, if any. */
  shadow(name: string): ActiveModel | undefined {
    const s = this.#shadows.get(name);
    return s && { manifest: s.manifest, modelPath: s.modelPath, activatedAt: s.activatedAt };
  }

  /** What each shadow candidate did, for the status message (empty when none runs). */
  shadowReports(): ShadowReport[] {
    const out: ShadowReport[] = [];
    for (const s of this.#shadows.values()) {
      const lat = s.latency.snapshot([50, 95, 99]);
      out.push(shadowReport(s.ref, s.pair!, { p50Ms: nz(lat.p50), p95Ms: nz(lat.p95), p99Ms: nz(lat.p99) }));
    }
    return out;
  }

  #relist(): void {
    this.#list = [...this.#slots.values()];
    this.#feed = [...this.#list, ...this.#shadows.values()];
  }

  #load(manifest: Manifest, modelPath: string): Promise<Slot> {
    return loadSlot(manifest, modelPath, {
      trusted: this.#trusted,
      requireSignature: this.#requireSignature,
      createRunner: this.#createRunner,
      maxBatchWindows: this.#o.maxBatchWindows,
      now: () => this.#clock.now(),
      closed: () => this.#closed,
    });
  }

  async #retire(old: Slot): Promise<void> {
    await Promise.allSettled([...old.running]);
    await old.runner.close().catch(() => undefined);
  }

  // ---------- scoring ----------

  /** Feed accepted readings (sync); windows that became ready are scored asynchronously, batched. */
  push(readings: ArrayLike<{ sensor: string; ts: number; value: number }>): void {
    const list = this.#feed;
    if (list.length === 0 || this.#closed) return;
    const max = this.#o.maxBatchWindows;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      for (let j = 0; j < list.length; j++) {
        const s = list[j]!;
        const meta = s.assembler.push(r.sensor, r.ts, r.value, s.buf, s.n * s.width);
        if (meta) {
          s.metas[s.n++] = meta;
          if (s.n === max) this.#dispatch(s);
        }
      }
    }
    for (let j = 0; j < list.length; j++) if (list[j]!.n > 0) this.#dispatch(list[j]!);
  }

  #dispatch(s: Slot): void {
    const n = s.n;
    const input = s.buf.slice(0, n * s.width);
    const metas = s.metas.slice(0, n);
    s.n = 0;
    const t0 = performance.now();
    const ran = s.runner.run(input, n).then((out) => {
      const ms = performance.now() - t0;
      s.latency.record(ms);
      this.#all.record(ms);
      return out;
    });
    ran.catch(() => undefined); // handled below, after the previous batch: no unhandled-rejection warning meanwhile
    // score in submission order: smoothing and the event cooldown follow device time
    const p = s.tail
      .then(() => ran)
      .then((out) => this.#score(s, input, metas, out.data, out.width))
      .catch((err: unknown) => {
        this.#errors++;
        this.#lastError = `model ${s.ref.name}@${s.ref.version}: ${(err as Error).message}`;
        this.#log.error({ err, model: s.ref.name }, 'inference failed');
      })
      .finally(() => {
        s.running.delete(p);
        this.#wakeReady();
      });
    s.tail = p;
    s.running.add(p);
  }

  #score(s: Slot, input: Float32Array, metas: WindowMeta[], out: Float32Array, outWidth: number): void {
    const threshold = s.manifest.threshold;
    const w = s.width;
    const reconstruction = outWidth === w && w > 1;
    for (let i = 0; i < metas.length; i++) {
      let score: number;
      if (reconstruction) {
        let sum = 0;
        for (let j = 0; j < w; j++) {
          const d = out[i * w + j]! - input[i * w + j]!;
          sum += d * d;
        }
        score = sum / w;
      } else {
        score = out[i * outWidth]!;
      }
      const raw = score;
      const sm = s.smooth;
      if (sm.k > 1) score = smoothScore(sm, raw);
      if (s.pair) {
        // a shadow candidate: its decision is only compared, never acted upon
        s.windows++;
        const anomaly = score > threshold;
        if (anomaly) s.anomalies++;
        pushDecision(s.pair, s.pair.shadowQ, metas[i]!.end, score, anomaly);
        continue;
      }
      const sh = this.#shadows.get(s.ref.name);
      if (sh?.pair) pushDecision(sh.pair, sh.pair.activeQ, metas[i]!.end, score, score > threshold);
      s.windows++;
      if (!(score > threshold)) continue;
      s.anomalies++;
      this.#anomaliesTotal++;
      const meta = metas[i]!;
      if (meta.end < s.cooldownUntil) {
        s.suppressed++;
        continue;
      }
      s.cooldownUntil = meta.end + this.#o.cooldownMs;
      const suppressed = s.suppressed;
      s.suppressed = 0;
      this.#events++;
      try {
        this.#onEvent({
          ts: meta.end,
          kind: 'anomaly',
          severity: score >= 2 * threshold && threshold > 0 ? 'critical' : 'warning',
          model: s.ref,
          score,
          threshold,
          sensors: [...s.inputs.sensors],
          window: { start: meta.start, end: meta.end },
          context: {
            ...windowContext(s, input, i),
            suppressed,
            ...(sm.k > 1 ? { rawScore: raw, smoothing: sm.k } : {}),
          },
        });
      } catch (err) {
        this.#errors++;
        this.#lastError = `anomaly event not stored: ${(err as Error).message}`;
        this.#log.error({ err }, 'anomaly event not stored');
      }
    }
    if (!s.pair) this.#windowsTotal += metas.length;
  }

  /** ORT calls running or queued in ONNX Runtime right now (all models). */
  get inflightRuns(): number {
    let n = 0;
    for (const s of this.#feed) n += s.running.size;
    return n;
  }

  /**
   * Backpressure: resolves at once while fewer than `maxInflightRuns` calls are outstanding, otherwise when one
   * finishes. The agent awaits it before acknowledging readings, so a producer faster than the model is slowed
   * down instead of growing a queue of windows in memory.
   */
  ready(): Promise<void> {
    if (this.inflightRuns < this.#o.maxInflightRuns) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #wakeReady(): void {
    if (this.#readyWaiters.length === 0 || this.inflightRuns >= this.#o.maxInflightRuns) return;
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const fn of w) fn();
  }

  /** Resolve once every ORT call started so far has finished. */
  async idle(): Promise<void> {
    for (;;) {
      const all = this.#feed.flatMap((s) => [...s.running]);
      if (all.length === 0) return;
      await Promise.allSettled(all);
    }
  }

  // ---------- figures ----------

  models(): ModelRef[] {
    return this.#list.map((s) => s.ref);
  }

  summary(): InferenceSummary {
    const windows = this.#windowsTotal;
    const anomalies = this.#anomaliesTotal;
    const p = this.#all.snapshot([50, 95, 99]);
    return {
      windows,
      anomalies,
      events: this.#events,
      anomalyRate: windows ? anomalies / windows : 0,
      p50Ms: nz(p.p50),
      p95Ms: nz(p.p95),
      p99Ms: nz(p.p99),
      errors: this.#errors,
    };
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Called after a model swap. */
  onModelChange(fn: () => void): () => void {
    this.#changeListeners.add(fn);
    return () => this.#changeListeners.delete(fn);
  }

  /** Finish running calls, release every session. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.idle();
    const slots = this.#feed;
    this.#list = [];
    this.#feed = [];
    this.#slots.clear();
    this.#shadows.clear();
    this.#changeListeners.clear();
    for (const fn of this.#readyWaiters.splice(0)) fn();
    await Promise.allSettled(slots.map((s) => s.runner.close()));
  }
}

function nz(x: number | undefined): number {
  return x === undefined || Number.isNaN(x) ? 0 : Math.round(x * 1000) / 1000;
}
