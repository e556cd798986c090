/**
 * Gate evaluation of a rollout, pure: functions of the rollout's state and the fleet view that return results and
 * change nothing.
 * - canary gates: the cohort (devices active on the target, counting the evidence since their switch) against the
 *   rest of the fleet, or an absolute value;
 * - shadow gates: the candidate against the active model on the same devices and windows, over the figures pooled
 *   from the shadow devices' reports;
 * - the reasons a breach gives in the rollout's log and status.
 */
import type { ScoreQuantiles } from '../../protocol/messages.ts';
import { runsVersion } from './rollout-cohort.ts';
import {
  GATE_METRICS,
  SHADOW_GATE_METRICS,
  type Gate,
  type ShadowGate,
  type ShadowGateMetric,
} from './rollout-spec.ts';
import type {
  DeviceEntry,
  FleetDevice,
  GateResult,
  RolloutState,
  ShadowEntry,
  ShadowFigures,
} from './rollout-state.ts';

const QUANTILES = ['p05', 'p25', 'p50', 'p75', 'p95', 'p99'] as const satisfies ReadonlyArray<keyof ScoreQuantiles>;

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A figure as a reason shows it: three significant digits, whole numbers from 100 on. */
export function fmt(x: number | undefined): string {
  if (x === undefined) return '?';
  return Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(3)).toString();
}

/**
 * One canary gate. The baseline is the rest of the fleet's mean now (`restMean`, which the caller keeps as the
 * state's baseline) or, with no device left outside the cohort, the last one known (`s.baseline`).
 */
export function evaluateGate(
  g: Gate,
  s: Readonly<Pick<RolloutState, 'spec' | 'target' | 'devices' | 'baseline'>>,
  fleet: ReadonlyMap<string, FleetDevice>,
): { gate: GateResult; restMean: number | undefined } {
  const field = GATE_METRICS[g.metric].field;
  const model = s.spec.model;
  const version = s.target.version;
  const value = (fd: FleetDevice | undefined): number | undefined => {
    const inf = fd?.inference;
    if (!inf || inf.windows < s.spec.minWindows) return undefined;
    const v = inf[field];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  const cohort: number[] = [];
  for (const [id, e] of Object.entries(s.devices)) {
    if (e.state !== 'active') continue;
    const fd = fleet.get(id);
    if (!runsVersion(fd, model, version)) continue; // status still from before the switch
    const inf = fd!.inference;
    if (!inf) continue;
    const since = sinceSwitch(e, inf);
    if (since.w < Math.max(1, s.spec.minWindows)) continue;
    if (g.metric === 'anomaly_rate') {
      cohort.push(since.a / since.w);
      continue;
    }
    const v = value(fd);
    if (v !== undefined) cohort.push(v);
  }
  const rest: number[] = [];
  for (const [id, fd] of fleet) {
    if (s.devices[id] || !fd.online || runsVersion(fd, model, version)) continue;
    const v = value(fd);
    if (v !== undefined) rest.push(v);
  }
  const restMean = rest.length ? mean(rest) : undefined;
  return { gate: judge(g, cohort, rest.length, restMean ?? s.baseline[g.metric]), restMean };
}

/** Windows and anomalies since the device switched (see DeviceEntry.base): the previous model's say nothing here. */
function sinceSwitch(e: DeviceEntry, inf: NonNullable<FleetDevice['inference']>): { w: number; a: number } {
  const b = e.base ?? { windows: 0, anomalies: 0 };
  return inf.windows >= b.windows
    ? { w: inf.windows - b.windows, a: inf.anomalies - b.anomalies }
    : { w: inf.windows, a: inf.anomalies };
}

function judge(g: Gate, cohort: number[], restDevices: number, baseline: number | undefined): GateResult {
  const base = { expr: g.expr, cohortDevices: cohort.length, restDevices };
  if (cohort.length === 0) return { ...base, result: 'no-data', ...(baseline !== undefined ? { baseline } : {}) };
  const c = mean(cohort);
  let limit: number;
  if (g.value !== undefined) limit = g.value;
  else {
    if (baseline === undefined) return { ...base, result: 'no-data', cohort: c };
    limit = g.factor! * Math.max(baseline, GATE_METRICS[g.metric].floor);
  }
  return {
    ...base,
    result: c <= limit ? 'pass' : 'breach',
    cohort: c,
    limit,
    ...(baseline !== undefined ? { baseline } : {}),
  };
}

/** Why a breached canary gate rolls the rollout back. */
export function gateBreachReason(b: GateResult): string {
  return `gate ${b.expr} breached: cohort ${fmt(b.cohort)} > limit ${fmt(b.limit)}${b.baseline !== undefined ? ` (rest of fleet ${fmt(b.baseline)})` : ''}`;
}

/**
 * The shadow stage's figures, pooled over the running shadow devices with minWindows paired windows (their last
 * report); `counted` is how many such devices there are (figures null: none).
 */
export function shadowFigures(
  devices: Readonly<Record<string, ShadowEntry>>,
  minWindows: number,
): { figures: ShadowFigures | null; counted: number } {
  const rows: Array<{ r: NonNullable<ShadowEntry['report']>; lat: ShadowEntry['activeLatency'] }> = [];
  for (const e of Object.values(devices)) {
    if (e.state !== 'running' || !e.report || e.report.windows < minWindows) continue;
    rows.push({ r: e.report, lat: e.activeLatency });
  }
  const counted = rows.length;
  if (counted === 0) return { figures: null, counted };
  const W = rows.reduce((a, x) => a + x.r.windows, 0);
  const sum = (f: (x: (typeof rows)[number]) => number): number => rows.reduce((a, x) => a + f(x), 0);
  const avg = (f: (x: (typeof rows)[number]) => number): number => sum(f) / counted;
  const q = (k: 'active' | 'shadow'): ScoreQuantiles =>
    Object.fromEntries(QUANTILES.map((p) => [p, avg((x) => x.r.scores[k][p])])) as unknown as ScoreQuantiles;
  const figures: ShadowFigures = {
    devices: counted,
    windows: W,
    agreement: sum((x) => x.r.agreements) / W,
    anomalyRate: sum((x) => x.r.anomalies) / W,
    activeAnomalyRate: sum((x) => x.r.activeAnomalies) / W,
    p50Ms: avg((x) => x.r.p50Ms),
    p95Ms: avg((x) => x.r.p95Ms),
    p99Ms: avg((x) => x.r.p99Ms),
    activeP50Ms: avg((x) => x.lat?.p50Ms ?? 0),
    activeP95Ms: avg((x) => x.lat?.p95Ms ?? 0),
    activeP99Ms: avg((x) => x.lat?.p99Ms ?? 0),
    scores: { active: q('active'), shadow: q('shadow') },
  };
  return { figures, counted };
}

/** Per shadow metric: the candidate's figure, and the active model's it is compared with (none for agreement). */
const SHADOW_FIGURE: Record<ShadowGateMetric, (f: ShadowFigures) => { cohort: number; baseline?: number }> = {
  shadow_agreement: (f) => ({ cohort: f.agreement }),
  shadow_anomaly_rate: (f) => ({ cohort: f.anomalyRate, baseline: f.activeAnomalyRate }),
  shadow_p50_ms: (f) => ({ cohort: f.p50Ms, baseline: f.activeP50Ms }),
  shadow_p95_ms: (f) => ({ cohort: f.p95Ms, baseline: f.activeP95Ms }),
  shadow_p99_ms: (f) => ({ cohort: f.p99Ms, baseline: f.activeP99Ms }),
};

/** One shadow gate over the pooled figures (no figures yet: no-data). */
export function shadowGate(g: ShadowGate, f: ShadowFigures | null): GateResult {
  const base = { expr: g.expr, op: g.op, cohortDevices: f?.devices ?? 0, restDevices: f?.devices ?? 0 };
  if (!f) return { ...base, result: 'no-data' };
  const { cohort, baseline } = SHADOW_FIGURE[g.metric](f);
  const limit =
    g.value !== undefined ? g.value : g.factor! * Math.max(baseline ?? 0, SHADOW_GATE_METRICS[g.metric].floor);
  const ok = g.op === '>=' ? cohort >= limit : cohort <= limit;
  return { ...base, result: ok ? 'pass' : 'breach', cohort, limit, ...(baseline !== undefined ? { baseline } : {}) };
}

/** Why a failed shadow gate aborts the rollout. */
export function shadowBreachReason(b: GateResult): string {
  return `shadow gate ${b.expr} failed: candidate ${fmt(b.cohort)} ${b.op === '>=' ? '<' : '>'} limit ${fmt(b.limit)}${b.baseline !== undefined ? ` (active model ${fmt(b.baseline)})` : ''}`;
}
