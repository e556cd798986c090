/**
 * How the controller shows a rollout: the view `rollout status`, the HTTP API and the dashboard read (stages with
 * their devices, gates, the shadow stage, device counts and failures, the recent log), and the outcome a rollout
 * ends with (the onEnded hook and the `edgeloop:rollout:ended` channel, which the retraining history records).
 * Pure: functions of a rollout's state and the fleet view.
 */
import { RolloutCohort } from './rollout-cohort.ts';
import { stageProgress } from './rollout-progress.ts';
import type {
  FleetDevice,
  GateResult,
  RolloutState,
  ShadowEntry,
  ShadowFigures,
  ShadowState,
  StageProgress,
} from './rollout-state.ts';

/** How a rollout ended, for the retraining history (onEnded, and the `edgeloop:rollout:ended` channel). */
export interface RolloutOutcome {
  id: string;
  model: string;
  version: string;
  parent: string | null;
  previous: string | null;
  status: RolloutState['status'];
  reason: string | null;
  /** the stage it ended in (1-based; 0 = in or right after the shadow stage) */
  stage: number;
  shadow: RolloutView['shadow'];
  gates: GateResult[];
  endedAt: number | null;
}

export interface RolloutView {
  id: string;
  model: string;
  version: string;
  previous: string | null;
  status: RolloutState['status'];
  reason: string | null;
  stage: number;
  stages: StageProgress[];
  gates: GateResult[];
  /** the shadow stage, when the rollout has one */
  shadow: {
    result: ShadowState['result'];
    percent: number;
    bakeMs: number;
    minWindows: number;
    minDevices: number;
    assigned: number;
    running: number;
    failed: number;
    figures: ShadowFigures | null;
    gates: GateResult[];
    devices: Array<{
      deviceId: string;
      state: ShadowEntry['state'];
      windows: number;
      agreement: number | null;
      reason?: string;
    }>;
    startedAt: number;
    endedAt: number | null;
  } | null;
  approve: 'auto' | 'manual';
  parent: string | null;
  devices: { total: number; assigned: number; active: number; failed: number; reverting: number; reverted: number };
  failures: Array<{ deviceId: string; reason: string }>;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  log: Array<{ at: number; msg: string }>;
}

/** The view of a rollout over the fleet as it is now. */
export function rolloutView(s: RolloutState, fleet: ReadonlyMap<string, FleetDevice>, now: number): RolloutView {
  const es = Object.entries(s.devices);
  const count = (st: string): number => es.filter(([, e]) => e.state === st).length;
  return {
    id: s.id,
    model: s.spec.model,
    version: s.spec.version,
    previous: s.previous?.version ?? null,
    status: s.status,
    reason: s.reason,
    stage: s.stage + 1,
    stages: stageProgress(new RolloutCohort(s), fleet, now),
    gates: s.gates,
    shadow: shadowView(s),
    approve: s.spec.approve ?? 'auto',
    parent: s.spec.parent ?? null,
    devices: {
      total: s.spec.devices?.length ?? fleet.size,
      assigned: es.length,
      active: count('active'),
      failed: count('failed'),
      reverting: count('reverting'),
      reverted: count('reverted'),
    },
    failures: es.filter(([, e]) => e.reason).map(([deviceId, e]) => ({ deviceId, reason: e.reason! })),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    endedAt: s.endedAt,
    log: s.log.slice(-20),
  };
}

/** How an ended rollout ended. */
export function rolloutOutcome(s: RolloutState): RolloutOutcome {
  return {
    id: s.id,
    model: s.spec.model,
    version: s.spec.version,
    parent: s.spec.parent ?? null,
    previous: s.previous?.version ?? null,
    status: s.status,
    reason: s.reason,
    stage: s.shadow && s.shadow.result !== 'passed' && s.shadow.result !== 'skipped' ? 0 : s.stage + 1,
    shadow: shadowView(s),
    gates: s.gates,
    endedAt: s.endedAt,
  };
}

function shadowView(s: RolloutState): RolloutView['shadow'] {
  const sh = s.shadow;
  const sp = s.spec.shadow;
  if (!sh || !sp) return null;
  const es = Object.entries(sh.devices);
  return {
    result: sh.result,
    percent: sp.percent,
    bakeMs: sp.bakeMs,
    minWindows: sp.minWindows,
    minDevices: sp.minDevices,
    assigned: es.length,
    running: es.filter(([, e]) => e.state === 'running').length,
    failed: es.filter(([, e]) => e.state === 'failed').length,
    figures: sh.figures,
    gates: sh.gates,
    devices: es.map(([deviceId, e]) => ({
      deviceId,
      state: e.state,
      windows: e.report?.windows ?? 0,
      agreement: e.report && e.report.windows > 0 ? e.report.agreements / e.report.windows : null,
      ...(e.reason ? { reason: e.reason } : {}),
    })),
    startedAt: sh.startedAt,
    endedAt: sh.endedAt,
  };
}
