/**
 * The closed loop's timeline, scored: what a drift scenario (docs/keep-models-fresh.md) reports. It takes the
 * milestones of the loop as they happen (regime shift onset, drift detected, retraining started and finished, a
 * candidate or a rejection, each rollout stage, the rollout's end) and the fleet's own figures (agents' status
 * counters, anomaly events), and splits the run into three phases:
 *
 *   before   from the end of the warm-up to the onset of the shift
 *   during   from the onset until every device runs the promoted model (or the end of the run)
 *   after    from then on
 *
 * Per phase: inference windows and the share flagged (from the agents' cumulative `inference` counters: the
 * difference between consecutive status messages of a device goes to the phase of the later one), anomaly events
 * scored against the injected faults of the phase (precision, recall), and false alarms (events outside every
 * fault) per device-hour. Pure: times are passed in.
 */
import type { InjectedFault } from '../faults/data-faults.ts';
import type { StatusMessage } from '../../protocol/messages.ts';
import { type DetectionScore, type ObservedEvent, scoreDetection } from './detection-score.ts';

export const MILESTONES = [
  'onset',
  'drift.detected',
  'retrain.started',
  'retrain.candidate',
  'retrain.rejected',
  'rollout.started',
  'rollout.stage',
  'rollout.completed',
  'rollout.aborted',
  'fleet.on-new-model',
] as const;
export type MilestoneKind = (typeof MILESTONES)[number];

export interface Milestone {
  kind: MilestoneKind;
  at: number;
  detail?: string | undefined;
}

export type PhaseName = 'before' | 'during' | 'after';

export interface PhaseFigures {
  phase: PhaseName;
  from: number;
  to: number;
  windows: number;
  flaggedWindows: number;
  /** flagged / windows (NaN without windows) */
  flagRate: number;
  deviceHours: number;
  detection: DetectionScore;
  /** anomaly events outside every injected fault, per device-hour (NaN without device time) */
  falseAlarmsPerDeviceHour: number;
}

export interface LoopReport {
  startedAt: number;
  endedAt: number;
  milestones: Milestone[];
  /** onset → first drift.detected, ms */
  detectionDelayMs: number | undefined;
  /** first drift.detected → every device on the new model, ms */
  detectionToFleetMs: number | undefined;
  phases: PhaseFigures[];
  /** false alarms per device-hour after / before (NaN when before had none) */
  falseAlarmRatio: number;
  /** devices per model version at the end */
  versions: Record<string, number>;
}

export interface LoopTimelineOptions {
  startedAt: number;
  /** the first `warmupMs` are left out of `before` (models and windows fill up) */
  warmupMs?: number;
  devices: readonly string[];
  /** the model whose version the loop replaces */
  model: string;
  toleranceMs?: number;
}

export class LoopTimeline {
  readonly #o: Required<LoopTimelineOptions>;
  readonly #milestones: Milestone[] = [];
  readonly #events: ObservedEvent[] = [];
  readonly #last = new Map<string, { windows: number; anomalies: number }>();
  /** per status delta: time, windows, flagged */
  readonly #deltas: Array<{ at: number; windows: number; flagged: number }> = [];
  readonly #version = new Map<string, string>();
  #baseVersion: string | undefined;

  constructor(o: LoopTimelineOptions) {
    this.#o = { warmupMs: 30_000, toleranceMs: 5000, ...o };
  }

  milestone(kind: MilestoneKind, at: number, detail?: string): void {
    this.#milestones.push({ kind, at, detail });
  }

  has(kind: MilestoneKind): boolean {
    return this.#milestones.some((m) => m.kind === kind);
  }

  first(kind: MilestoneKind): Milestone | undefined {
    let best: Milestone | undefined;
    for (const m of this.#milestones) if (m.kind === kind && (!best || m.at < best.at)) best = m;
    return best;
  }

  /** An agent's status message (`at`: when it was seen; its cumulative inference counters and model versions). */
  status(s: StatusMessage, at: number = s.ts): void {
    const v = s.models?.find((m) => m.name === this.#o.model)?.version;
    if (v !== undefined) {
      this.#baseVersion ??= v;
      this.#version.set(s.deviceId, v);
    }
    const inf = s.inference;
    if (!inf) return;
    const prev = this.#last.get(s.deviceId);
    this.#last.set(s.deviceId, { windows: inf.windows, anomalies: inf.anomalies });
    // a restarted agent starts its counters again: its first report after that counts from zero
    const base = prev && inf.windows >= prev.windows ? prev : { windows: 0, anomalies: 0 };
    const windows = inf.windows - base.windows;
    if (windows <= 0) return;
    this.#deltas.push({ at, windows, flagged: Math.max(0, inf.anomalies - base.anomalies) });
  }

  event(e: ObservedEvent): void {
    this.#events.push(e);
  }

  /** Devices per model version now. */
  versions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const v of this.#version.values()) out[v] = (out[v] ?? 0) + 1;
    return out;
  }

  /** True when every device reports `version` (the promoted model). */
  allOn(version: string): boolean {
    return this.#o.devices.length > 0 && this.#o.devices.every((d) => this.#version.get(d) === version);
  }

  get baseVersion(): string | undefined {
    return this.#baseVersion;
  }

  report(faults: readonly InjectedFault[], endedAt: number): LoopReport {
    const start = this.#o.startedAt + this.#o.warmupMs;
    const onset = this.first('onset')?.at ?? endedAt;
    const detected = this.first('drift.detected')?.at;
    const onNew = this.first('fleet.on-new-model')?.at;
    const bounds: Array<[PhaseName, number, number]> = [
      ['before', start, Math.max(start, onset)],
      ['during', onset, onNew ?? endedAt],
      ['after', onNew ?? endedAt, endedAt],
    ];
    const n = this.#o.devices.length;
    const phases = bounds.map(([phase, from, to], i): PhaseFigures => {
      // half-open phases; the last one keeps what happened at the very end of the run
      const inPhase = (t: number): boolean => t >= from && (t < to || (i === bounds.length - 1 && t === to));
      let windows = 0;
      let flagged = 0;
      for (const d of this.#deltas)
        if (inPhase(d.at)) {
          windows += d.windows;
          flagged += d.flagged;
        }
      const detection = scoreDetection(
        faults.filter((f) => inPhase(f.start)),
        this.#events.filter((e) => inPhase(e.ts)),
        this.#o.toleranceMs,
      );
      const deviceHours = (n * Math.max(0, to - from)) / 3_600_000;
      return {
        phase,
        from,
        to,
        windows,
        flaggedWindows: flagged,
        flagRate: windows ? flagged / windows : Number.NaN,
        deviceHours,
        detection,
        falseAlarmsPerDeviceHour: deviceHours > 0 ? detection.falsePositiveEvents / deviceHours : Number.NaN,
      };
    });
    const before = phases[0]!.falseAlarmsPerDeviceHour;
    const after = phases[2]!.falseAlarmsPerDeviceHour;
    return {
      startedAt: this.#o.startedAt,
      endedAt,
      milestones: [...this.#milestones].sort((a, b) => a.at - b.at),
      detectionDelayMs: detected !== undefined && onset <= detected ? detected - onset : undefined,
      detectionToFleetMs: detected !== undefined && onNew !== undefined ? onNew - detected : undefined,
      phases,
      falseAlarmRatio: before > 0 ? after / before : Number.NaN,
      versions: this.versions(),
    };
  }
}

/** The report as text lines: the timeline, then a table of the phases. */
export function formatLoopReport(r: LoopReport): string[] {
  const rel = (t: number): string => {
    const s = Math.round((t - r.startedAt) / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  };
  const min = (ms: number | undefined): string =>
    ms === undefined ? 'not reached' : `${(ms / 60_000).toFixed(1)} min`;
  const pct = (x: number): string => (Number.isNaN(x) ? '–' : `${(x * 100).toFixed(2)} %`);
  const num = (x: number, d = 2): string => (Number.isNaN(x) ? '–' : x.toFixed(d));
  const lines = ['timeline (mm:ss from the start):'];
  for (const m of r.milestones) lines.push(`  ${rel(m.at)}  ${m.kind}${m.detail ? `  ${m.detail}` : ''}`);
  lines.push(
    `onset → detection: ${min(r.detectionDelayMs)}; detection → whole fleet on the new model: ${min(r.detectionToFleetMs)}`,
  );
  lines.push('phase    windows     flagged   precision  recall  false alarms / device-h');
  for (const p of r.phases) {
    lines.push(
      `${p.phase.padEnd(8)} ${String(p.windows).padStart(9)}  ${pct(p.flagRate).padStart(9)}  ${num(p.detection.precision).padStart(9)}  ${num(p.detection.recall).padStart(6)}  ${num(p.falseAlarmsPerDeviceHour).padStart(10)}`,
    );
  }
  lines.push(
    `false alarms after / before: ${num(r.falseAlarmRatio)}; devices per model version: ${Object.entries(r.versions)
      .map(([v, c]) => `${v} ${c}`)
      .join(', ')}`,
  );
  return lines;
}
