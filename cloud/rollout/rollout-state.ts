/**
 * The plain state of one rollout, as RolloutMachine keeps it and RolloutStore persists it (JSON-serialisable, so a
 * restarted controller resumes from the last snapshot): the per-device entries of the canary stages and of the
 * shadow stage, the gate results, and the actions the machine returns for the controller to carry out. Types, and
 * the statuses that end a rollout.
 */
import type {
  ModelRef,
  ModelReportState,
  ScoreQuantiles,
  ShadowReport,
  StatusMessage,
} from '../../protocol/messages.ts';
import type { GateMetric, RolloutSpec } from './rollout-spec.ts';

export interface DesiredTarget {
  version: string;
  artifactUrl: string;
  /** the signed manifest */
  manifest: unknown;
}

/** What the controller knows about a device from its retained status. */
export interface FleetDevice {
  online: boolean;
  models: ModelRef[];
  inference: StatusMessage['inference'];
  /** the shadow candidates it runs (its status's shadow block) */
  shadow?: ShadowReport[] | undefined;
  /** when the device last said something: its status timestamp (never ahead of the controller's clock), or a report */
  lastSeen: number;
}

export type DeviceRolloutState = 'assigned' | 'active' | 'failed' | 'reverting' | 'reverted' | 'unconfirmed';

/** What a canary entry and a shadow entry both keep of a device's assignment. */
export interface Assignment<S extends string> {
  state: S;
  /** publications of the assignment (or of the revert) so far */
  attempts: number;
  assignedAt: number;
  /** when the device counts as timed out (pushed forward while it is offline) */
  deadline: number;
  updatedAt: number;
  /** last report state for the target version (received, downloading, ...) */
  progress?: ModelReportState;
  reason?: string;
}

export interface DeviceEntry extends Assignment<DeviceRolloutState> {
  /** index of the stage that assigned the device */
  stage: number;
  /** the per-device retained message was cleared */
  cleared?: boolean;
  /**
   * inference counters in the first status that named the target version: the cohort's anomaly rate is computed
   * over the windows since then, so agents whose status counters are cumulative (not reset by a model swap) are
   * not diluted by the old model's windows
   */
  base?: { windows: number; anomalies: number };
}

/** every status a rollout can be in, in the order a rollout passes through them */
export const ROLLOUT_STATUSES = [
  'shadowing',
  'awaiting-approval',
  'rolling',
  'baking',
  'completed',
  'aborted',
  'rolling-back',
  'rolled-back',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<RolloutStatus> = new Set(['completed', 'aborted', 'rolled-back']);

export interface GateResult {
  expr: string;
  /** pass, breach, or no-data (not enough cohort or baseline figures yet) */
  result: 'pass' | 'breach' | 'no-data';
  cohort?: number;
  baseline?: number;
  limit?: number;
  cohortDevices: number;
  restDevices: number;
  /** the comparison (default <=) */
  op?: '<=' | '>=';
}

export type ShadowDeviceState = 'assigned' | 'running' | 'failed';

export interface ShadowEntry extends Assignment<ShadowDeviceState> {
  /** the device's last shadow report for the target version */
  report?: ShadowReport;
  /** the active model's p50/p95/p99 on that device at the same time (for relative latency gates) */
  activeLatency?: { p50Ms: number; p95Ms: number; p99Ms: number };
}

/** The shadow stage's figures, pooled over the devices that count (minWindows). */
export interface ShadowFigures {
  devices: number;
  windows: number;
  agreement: number;
  /** the candidate's would-be anomaly rate and the active model's, over the same windows */
  anomalyRate: number;
  activeAnomalyRate: number;
  /** means over the devices of the candidate's and the active model's latency percentiles, ms */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  activeP50Ms: number;
  activeP95Ms: number;
  activeP99Ms: number;
  /** means over the devices of their score quantiles */
  scores: { active: ScoreQuantiles; shadow: ScoreQuantiles };
}

export interface ShadowState {
  devices: Record<string, ShadowEntry>;
  startedAt: number;
  bakeStartedAt: number | null;
  endedAt: number | null;
  result: 'running' | 'passed' | 'failed' | 'skipped';
  gates: GateResult[];
  figures: ShadowFigures | null;
}

export interface RolloutState {
  id: string;
  spec: RolloutSpec;
  target: DesiredTarget;
  /** what devices ran before (the fleet manifest at start); null = nothing to roll back to */
  previous: DesiredTarget | null;
  status: RolloutStatus;
  stage: number;
  stageStartedAt: number;
  bakeStartedAt: number | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  reason: string | null;
  devices: Record<string, DeviceEntry>;
  tokens: number;
  tokensAt: number;
  /** last known rest-of-fleet mean per metric (used when no device is left outside the cohort) */
  baseline: Partial<Record<GateMetric, number>>;
  gates: GateResult[];
  log: Array<{ at: number; msg: string }>;
  /** the shadow stage (spec.shadow set) */
  shadow?: ShadowState;
}

export type RolloutAction =
  | { type: 'publish-device'; deviceId: string; target: DesiredTarget }
  | { type: 'clear-device'; deviceId: string }
  /** target null: clear the retained fleet manifest */
  | { type: 'publish-fleet'; target: DesiredTarget | null }
  /** the device's retained shadow assignment (Topics.deviceShadow) */
  | { type: 'publish-shadow'; deviceId: string; target: DesiredTarget }
  | { type: 'clear-shadow'; deviceId: string };

/**
 * A device as `rollout status` shows it: pending (assigned, nothing reported yet), downloading (received up to
 * verified), active, failed, reverted, or offline (not active and not heard from within the spec's `freshMs`).
 */
export type DeviceDisplayState = 'pending' | 'downloading' | 'active' | 'failed' | 'reverted' | 'offline';

export interface StageDevice {
  deviceId: string;
  state: DeviceDisplayState;
  reason?: string;
}

export interface StageProgress {
  stage: number;
  percent: number;
  /** devices this stage covers (cumulative) */
  target: number;
  assigned: number;
  active: number;
  failed: number;
  inFlight: number;
  state: 'done' | 'current' | 'pending';
  /** the devices this stage assigned, in rollout order */
  devices: StageDevice[];
}

/** A device's models/report, as the machine reads it (role shadow: about its shadow assignment). */
export interface DeviceReport {
  model: string;
  version: string;
  state: ModelReportState;
  reason?: string | undefined;
  role?: 'active' | 'shadow' | undefined;
}
