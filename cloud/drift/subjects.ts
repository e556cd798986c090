/**
 * The drift service's bookkeeping of its subjects between checks: per device (its feature windows, the output
 * counters and anomaly scores from its status and events messages, the model version it runs, its record-rate
 * baseline) and per cohort (site, hardware and model version: one feature window each, fed by every device in it).
 *
 * Memory is bounded: `maxDevices` devices (least recently seen evicted) × features × `maxSamples` values, and
 * `maxCohortSamples` per cohort. A cohort's key is `<kind>\0<id>`, as a subject's key in the service's status.
 */
import type { Clock } from '../../lib/clock.ts';
import type { EventsMessage, StatusMessage } from '../../protocol/messages.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';
import type { OutputWindow } from './checks.ts';
import type { Subject, SubjectKind } from './drift-store.ts';
import { FeatureWindows, ValueWindow } from './windows.ts';

export type Model = { name: string; version: string };

export function modelKey(m: Model): string {
  return `${m.name}@${m.version}`;
}

export interface DeviceState {
  input: FeatureWindows;
  output: OutputWindow;
  model: Model | undefined;
  last: { windows: number; anomalies: number } | undefined;
  rate: { records: number; ms: number; checks: number; perMs: number | undefined };
}

export interface SubjectsOptions {
  maxSamples: number;
  maxCohortSamples: number;
  maxDevices: number;
  rateBaselineChecks: number;
  /** site and hardware of a device (cohorts) */
  deviceInfo:
    | ((deviceId: string) => { site?: string | undefined; hardware?: string | undefined } | undefined)
    | undefined;
  clock: Clock;
}

export class Subjects {
  readonly #o: SubjectsOptions;
  /** least recently seen first */
  readonly devices = new Map<string, DeviceState>();
  readonly #cohorts = new Map<string, FeatureWindows>();

  constructor(o: SubjectsOptions) {
    this.#o = o;
  }

  /** The state of a device, made most recently seen (a new device may evict the least recently seen). */
  device(deviceId: string): DeviceState {
    let d = this.devices.get(deviceId);
    if (d) {
      // most recently seen last: eviction takes the first
      this.devices.delete(deviceId);
      this.devices.set(deviceId, d);
      return d;
    }
    const now = this.#o.clock.now();
    d = {
      input: new FeatureWindows(this.#o.maxSamples, now),
      output: { scores: new ValueWindow(this.#o.maxSamples), windows: 0, anomalies: 0 },
      model: undefined,
      last: undefined,
      rate: { records: 0, ms: 0, checks: 0, perMs: undefined },
    };
    this.devices.set(deviceId, d);
    if (this.devices.size > this.#o.maxDevices) this.devices.delete(this.devices.keys().next().value!);
    return d;
  }

  /** A feature record of device `d`: its features `names` go to its window and to each of its cohorts' windows. */
  pushFeatures(
    deviceId: string,
    d: DeviceState,
    features: Record<string, FeatureValue>,
    names: readonly string[],
  ): void {
    d.input.push(features, names);
    for (const c of this.cohortsOf(deviceId, d)) {
      let w = this.#cohorts.get(c);
      if (!w) this.#cohorts.set(c, (w = new FeatureWindows(this.#o.maxCohortSamples, this.#o.clock.now())));
      w.push(features, names);
    }
  }

  /** A status message: the model version the device runs, and inference counters (anomaly rate). */
  observeStatus(s: StatusMessage): void {
    const d = this.device(s.deviceId);
    const anomalyModel = s.models?.[0];
    if (anomalyModel) d.model = { name: anomalyModel.name, version: anomalyModel.version };
    if (!s.inference) return;
    const now = { windows: s.inference.windows, anomalies: s.inference.anomalies };
    // counters are cumulative per agent run: a smaller value means the agent restarted
    if (d.last && now.windows >= d.last.windows && now.anomalies >= d.last.anomalies) {
      d.output.windows += now.windows - d.last.windows;
      d.output.anomalies += now.anomalies - d.last.anomalies;
    } else if (d.last) {
      d.output.windows += now.windows;
      d.output.anomalies += now.anomalies;
    }
    d.last = now;
  }

  /** An events message: the anomaly scores it carries feed the score distribution. */
  observeEvents(m: EventsMessage): void {
    const d = this.device(m.deviceId);
    for (const e of m.events) if (e.kind === 'anomaly' && e.score !== undefined) d.output.scores.push(e.score);
  }

  /** The keys of the cohorts a device belongs to. */
  *cohortsOf(deviceId: string, d: DeviceState): Iterable<string> {
    const info = this.#o.deviceInfo?.(deviceId);
    if (info?.site) yield `site\u0000${info.site}`;
    if (info?.hardware) yield `hardware\u0000${info.hardware}`;
    if (d.model) yield `model\u0000${modelKey(d.model)}`;
  }

  /** Every cohort as a subject, with its window. */
  *cohorts(): Iterable<[Subject, FeatureWindows]> {
    for (const [key, w] of this.#cohorts) {
      const [kind, id] = key.split('\u0000') as [SubjectKind, string];
      yield [{ kind, id }, w];
    }
  }

  /** The record rate of the first `rateBaselineChecks` windows becomes the device's baseline. */
  learnRate(d: DeviceState, at: number): void {
    const r = d.rate;
    if (r.perMs !== undefined) return;
    r.records += d.input.records;
    r.ms += at - d.input.openedAt;
    if (++r.checks >= this.#o.rateBaselineChecks && r.ms > 0) r.perMs = r.records / r.ms;
  }
}
