/**
 * DriftService: the drift monitors of the cloud. It is fed (feature records from the processor, status and
 * events messages from the agents), keeps bounded tumbling windows per device and per cohort, and every
 * `intervalMs` checks each subject's input, output and data-quality monitors against the reference set of the
 * model version the device runs. A monitor's state machine (monitor.ts) turns checks into `drift.detected` /
 * `drift.cleared` events, which go to the DriftStore with their evidence and to `onEvent`.
 *
 * Recent data comes in through `observeFeatures()` (the processor's `onFeatureWrite` has that shape), not from
 * the FeatureStore: the FeatureStore interface answers only "the latest record of an entity", so a window of
 * recent values has to be kept here (subjects.ts: per device and per cohort, bounded by `maxDevices`,
 * `maxSamples` and `maxCohortSamples`).
 */
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { EventsMessage, StatusMessage } from '../../protocol/messages.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';
import { NullCache } from './calibration.ts';
import { checkInput, checkOutput, checkQuality, type CheckResult } from './checks.ts';
import type { DriftEvent, DriftStore, MonitorKind, MonitorRecord, Subject, SubjectKind } from './drift-store.ts';
import { InputDriftTester } from './input-drift.ts';
import { DriftMonitorState, monitorPolicy, type MonitorPolicy } from './monitor.ts';
import type { ReferenceSet } from './reference.ts';
import { meanStd } from './statistics.ts';
import {
  resolveDriftServiceOptions,
  type DriftServiceOptions,
  type ResolvedDriftServiceOptions,
} from './drift-options.ts';
import { type Model, modelKey, Subjects } from './subjects.ts';

export type { DriftServiceOptions } from './drift-options.ts';

interface Prepared {
  ref: ReferenceSet;
  input: InputDriftTester;
  scores: InputDriftTester | undefined;
}

export interface SubjectStatus {
  subject: Subject;
  monitors: Partial<Record<MonitorKind, MonitorRecord>>;
}

export interface DriftStatus {
  /** time of the last check (0 before the first) */
  checkedAt: number;
  alpha: number;
  devices: number;
  /** subjects with at least one monitor in drift */
  drifting: number;
  subjects: SubjectStatus[];
  events: DriftEvent[];
}

export interface CheckSummary {
  at: number;
  checks: number;
  events: DriftEvent[];
  durationMs: number;
}

const MONITORS: readonly MonitorKind[] = ['input', 'output', 'quality'];

export class DriftService {
  readonly #o: Omit<ResolvedDriftServiceOptions, 'onEvent' | 'policy' | 'store' | 'clock' | 'logger'> & {
    policy: MonitorPolicy;
    clock: Clock;
    logger: Logger;
  };
  readonly #store: DriftStore;
  readonly #cache = new NullCache();
  readonly #refs = new Map<string, Prepared>();
  #default: Prepared | undefined;
  readonly #subjects: Subjects;
  readonly #states = new Map<string, DriftMonitorState>();
  readonly #records = new Map<string, MonitorRecord>();
  readonly #persistedAt = new Map<string, number>();
  readonly #onEvent: DriftServiceOptions['onEvent'];
  #timer: TimerHandle | undefined;
  #running: Promise<CheckSummary> | undefined;
  #started = false;
  #closed = false;
  #checkedAt = 0;
  #lastDurationMs = 0;

  constructor(o: DriftServiceOptions) {
    const r = resolveDriftServiceOptions(o);
    this.#store = r.store;
    this.#onEvent = r.onEvent;
    this.#o = {
      ...r,
      policy: monitorPolicy(r.policy),
      clock: r.clock ?? systemClock,
      logger: r.logger ?? silentLogger,
    };
    const { maxSamples, maxCohortSamples, maxDevices, rateBaselineChecks, clock } = this.#o;
    this.#subjects = new Subjects({
      maxSamples,
      maxCohortSamples,
      maxDevices,
      rateBaselineChecks,
      deviceInfo: r.deviceInfo,
      clock,
    });
  }

  /** Load the monitors' states from the store and start the periodic check. */
  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'DriftService is closed');
    if (this.#started) return;
    this.#started = true;
    for (const r of await this.#store.records()) {
      const key = keyOf(r.subject, r.monitor);
      this.#states.set(key, new DriftMonitorState(this.#o.policy, { state: r.state, changedAt: r.changedAt }));
      this.#records.set(key, r);
    }
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  health(): { ok: boolean; devices: number; references: number; lastCheckMs: number } {
    return {
      ok: this.#started && !this.#closed,
      devices: this.#subjects.devices.size,
      references: this.#refs.size,
      lastCheckMs: this.#lastDurationMs,
    };
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.check()
        .catch((err: unknown) => this.#o.logger.error({ err }, 'drift check failed'))
        .finally(() => this.#schedule());
    }, this.#o.intervalMs);
    this.#timer.unref?.();
  }

  /** Add the reference set of a model version (from the registry); the first one is the default. */
  setReference(ref: ReferenceSet): void {
    const testerOpts = {
      statistic: this.#o.statistic,
      alpha: this.#o.alpha,
      correction: this.#o.correction,
      replicates: this.#o.replicates,
      cache: this.#cache,
    };
    const scores = ref.output?.scores;
    const p: Prepared = {
      ref,
      input: new InputDriftTester(ref.features, testerOpts),
      scores: scores
        ? new InputDriftTester(
            { score: { values: scores, std: meanStd(scores).std } },
            { ...testerOpts, alpha: this.#o.alpha / 2 },
          )
        : undefined,
    };
    this.#refs.set(ref.model ? modelKey(ref.model) : '', p);
    this.#default ??= p;
  }

  #referenceFor(model: Model | undefined): Prepared | undefined {
    return (model && this.#refs.get(modelKey(model))) || this.#default;
  }

  /** A feature record of a device (the processor's onFeatureWrite info has this shape). */
  observeFeatures(r: { deviceId: string; features: Record<string, FeatureValue> }): void {
    const d = this.#subjects.device(r.deviceId);
    const prepared = this.#referenceFor(d.model);
    if (!prepared) return;
    this.#subjects.pushFeatures(r.deviceId, d, r.features, Object.keys(prepared.ref.features));
  }

  /** A status message: the model version the device runs, and inference counters (anomaly rate). */
  observeStatus(s: StatusMessage): void {
    this.#subjects.observeStatus(s);
  }

  /** An events message: the anomaly scores it carries feed the score distribution. */
  observeEvents(m: EventsMessage): void {
    this.#subjects.observeEvents(m);
  }

  /** Run every monitor once now (the periodic check calls this; tests and the CLI may too). */
  check(): Promise<CheckSummary> {
    if (this.#closed) return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', 'DriftService is closed'));
    const prev = this.#running ?? Promise.resolve(undefined);
    const run = prev.catch(() => {}).then(() => this.#check());
    this.#running = run;
    return run;
  }

  async #check(): Promise<CheckSummary> {
    for (const p of this.#refs.values()) {
      await p.input.prepare();
      await p.scores?.prepare();
    }
    const t0 = performance.now();
    const at = this.#o.clock.now();
    const { alpha, correction, policy } = this.#o;
    const minSamples = policy.minSamples;
    const changes: [Omit<DriftEvent, 'id'>, MonitorRecord][] = [];
    const records: MonitorRecord[] = [];
    let checks = 0;
    const apply = (subject: Subject, monitor: MonitorKind, r: CheckResult | undefined): boolean => {
      if (!r) return false;
      checks++;
      const key = keyOf(subject, monitor);
      let st = this.#states.get(key);
      if (!st) this.#states.set(key, (st = new DriftMonitorState(policy)));
      const t = st.observe({ n: r.evidence.n, fired: r.fired, at });
      const rec: MonitorRecord = {
        subject,
        monitor,
        state: st.state,
        changedAt: Number.isFinite(st.changedAt) ? st.changedAt : 0,
        checkedAt: at,
        fired: st.fired,
        last: r.evidence,
      };
      this.#records.set(key, rec);
      const persisted = this.#persistedAt.get(key);
      if (t)
        changes.push([
          {
            type: t.to === 'drift' ? 'drift.detected' : 'drift.cleared',
            at,
            subject,
            monitor,
            fired: t.fired,
            window: t.window,
            evidence: r.evidence,
          },
          rec,
        ]);
      else if (persisted === undefined || at - persisted >= this.#o.persistEveryMs) records.push(rec);
      else return true;
      this.#persistedAt.set(key, at);
      return true;
    };
    for (const [deviceId, d] of this.#subjects.devices) {
      const p = this.#referenceFor(d.model);
      if (!p) continue;
      const subject: Subject = { kind: 'device', id: deviceId };
      const model = p.ref.model;
      const windowAge = at - d.input.openedAt;
      if (d.input.records >= minSamples || windowAge >= this.#o.maxWindowMs) {
        const recent = d.input.sortedAll();
        const input = checkInput(p.input, recent, p.ref.features, {
          alpha,
          minSamples,
          minEffect: this.#o.minEffect.device,
          model,
        });
        const used = apply(subject, 'input', input);
        const quality = checkQuality(d.input, recent, p.ref.features, {
          alpha,
          minSamples,
          correction,
          now: at,
          baselinePerMs: d.rate.perMs,
          model,
        });
        const q = apply(subject, 'quality', quality);
        if (used || q || windowAge >= this.#o.maxWindowMs) {
          this.#subjects.learnRate(d, at);
          d.input.consume(at);
        }
      }
      const output = checkOutput(p.scores, d.output, p.ref.output?.anomalyRate, { alpha, minSamples, model });
      if (apply(subject, 'output', output)) {
        d.output.scores.consume();
        d.output.windows = 0;
        d.output.anomalies = 0;
      }
    }
    for (const [subject, w] of this.#subjects.cohorts()) {
      const p = subject.kind === 'model' ? (this.#refs.get(subject.id) ?? this.#default) : this.#default;
      if (!p || w.records < minSamples) continue;
      if (
        apply(
          subject,
          'input',
          checkInput(p.input, w.sortedAll(), p.ref.features, {
            alpha,
            minSamples,
            minEffect: this.#o.minEffect.cohort,
            model: p.ref.model,
          }),
        )
      )
        w.consume(at);
    }
    const events: DriftEvent[] = [];
    for (const [e, rec] of changes) {
      const stored = await this.#store.recordChange(e, rec);
      events.push(stored);
      this.#o.logger.info({ subject: e.subject, monitor: e.monitor, type: e.type }, 'drift state change');
      try {
        this.#onEvent?.(stored);
      } catch (err) {
        this.#o.logger.error({ err }, 'drift onEvent failed');
      }
    }
    if (records.length) await this.#store.putRecords(records);
    this.#checkedAt = at;
    this.#lastDurationMs = performance.now() - t0;
    return { at, checks, events, durationMs: this.#lastDurationMs };
  }

  /** Monitors' states and last evidence, for one device (with its cohorts) or all; recent events. */
  async status(q: { device?: string; events?: number } = {}): Promise<DriftStatus> {
    const bySubject = new Map<string, SubjectStatus>();
    let wanted: Set<string> | undefined;
    if (q.device !== undefined) {
      const d = this.#subjects.devices.get(q.device);
      wanted = new Set([`device\u0000${q.device}`, ...(d ? [...this.#subjects.cohortsOf(q.device, d)] : [])]);
    }
    for (const r of this.#records.values()) {
      const sk = `${r.subject.kind}\u0000${r.subject.id}`;
      if (wanted && !wanted.has(sk)) continue;
      let s = bySubject.get(sk);
      if (!s) bySubject.set(sk, (s = { subject: r.subject, monitors: {} }));
      s.monitors[r.monitor] = r;
    }
    const subjects = [...bySubject.values()].sort((a, b) =>
      (a.subject.kind + a.subject.id).localeCompare(b.subject.kind + b.subject.id),
    );
    const events = await this.#store.events({
      limit: q.events ?? 20,
      ...(q.device !== undefined ? { subject: { kind: 'device', id: q.device } } : {}),
    });
    return {
      checkedAt: this.#checkedAt,
      alpha: this.#o.alpha,
      devices: this.#subjects.devices.size,
      drifting: subjects.filter((s) => MONITORS.some((m) => s.monitors[m]?.state === 'drift')).length,
      subjects,
      events,
    };
  }

  /** Counts of subjects per kind, monitor and state (metrics read this at scrape time). */
  counts(): { kind: SubjectKind; monitor: MonitorKind; state: 'ok' | 'drift'; count: number }[] {
    const m = new Map<string, number>();
    for (const r of this.#records.values()) {
      const k = `${r.subject.kind}|${r.monitor}|${r.state}`;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return [...m].map(([k, count]) => {
      const [kind, monitor, state] = k.split('|') as [SubjectKind, MonitorKind, 'ok' | 'drift'];
      return { kind, monitor, state, count };
    });
  }

  /** Subjects in drift now, with the monitor (metrics export one series each). */
  drifting(): { subject: Subject; monitor: MonitorKind }[] {
    return [...this.#records.values()]
      .filter((r) => r.state === 'drift')
      .map((r) => ({ subject: r.subject, monitor: r.monitor }));
  }

  get lastCheckMs(): number {
    return this.#lastDurationMs;
  }
}

function keyOf(s: Subject, m: MonitorKind): string {
  return `${s.kind}\u0000${s.id}\u0000${m}`;
}
