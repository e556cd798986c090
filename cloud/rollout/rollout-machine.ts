/**
 * RolloutMachine: the pure state machine of one model rollout. No I/O, no timers: the controller feeds it device
 * reports, gives it the fleet view (from retained status messages) and the time on every tick(), and carries out
 * the actions tick() returns (publish or clear retained per-device manifests, publish the fleet manifest).
 * Its whole state is a plain JSON-serialisable object, so a restarted controller resumes from the last snapshot.
 *
 * Lifecycle per stage: `rolling` (assign the stage's cohort at the rate limit, wait for every online assigned
 * device to be active or failed) → `baking` (bakeMs; gates are checked on every tick) → next stage, or
 * `completed` after the last one (the fleet manifest is published and the per-device overrides are cleared).
 * Breaches (failures above maxFailurePct of the devices assigned so far, or a gate) → `rolling-back`: the previous
 * manifest is re-published to every device the rollout touched; when a device reports the previous version
 * active, its per-device retained message is cleared so it follows the fleet manifest again → `rolled-back`.
 * An operator can also `promote` (skip the rest of the bake), `abort` (freeze: no more assignments, no rollback)
 * and `rollback` (also after completion: then the previous fleet manifest is re-published).
 *
 * With a shadow stage (spec.shadow) the rollout starts `shadowing`: the shadow cohort (the first devices in rollout
 * order, so they are also the first canaries) gets a retained shadow assignment and runs the candidate beside its
 * active model, acting on nothing it decides; their statuses carry what it did (StatusMessage.shadow). Once every
 * assigned device runs it (or failed) the shadow bakes for shadow.bakeMs; then, with at least shadow.minDevices
 * devices of shadow.minWindows paired windows, the shadow gates are judged. A breach (or shadow failures over
 * maxFailurePct) aborts the rollout with the reason: no device was ever asked to activate the candidate. A pass
 * clears the shadow assignments and starts stage 1, or, with approve: manual, waits in `awaiting-approval` for
 * approve().
 */
import { createHash } from 'node:crypto';
import type {
  ModelRef,
  ModelReportState,
  ScoreQuantiles,
  ShadowReport,
  StatusMessage,
} from '../../protocol/messages.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import {
  GATE_METRICS,
  SHADOW_GATE_METRICS,
  SPEC_DEFAULTS,
  type Gate,
  type GateMetric,
  type RolloutSpec,
  type ShadowGate,
} from './rollout-spec.ts';

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

export interface DeviceEntry {
  /** index of the stage that assigned the device */
  stage: number;
  state: DeviceRolloutState;
  /** publications of the assignment (or of the revert) so far */
  attempts: number;
  assignedAt: number;
  /** when the device counts as timed out (pushed forward while it is offline) */
  deadline: number;
  updatedAt: number;
  /** last report state for the target version (received, downloading, ...) */
  progress?: ModelReportState;
  reason?: string;
  /** the per-device retained message was cleared */
  cleared?: boolean;
  /**
   * inference counters in the first status that named the target version: the cohort's anomaly rate is computed
   * over the windows since then, so agents whose status counters are cumulative (not reset by a model swap) are
   * not diluted by the old model's windows
   */
  base?: { windows: number; anomalies: number };
}

export type RolloutStatus =
  | 'shadowing'
  | 'awaiting-approval'
  | 'rolling'
  | 'baking'
  | 'completed'
  | 'aborted'
  | 'rolling-back'
  | 'rolled-back';
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

export interface ShadowEntry {
  state: ShadowDeviceState;
  attempts: number;
  assignedAt: number;
  deadline: number;
  updatedAt: number;
  progress?: ModelReportState;
  reason?: string;
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

const LOG_LIMIT = 200;

/** Position of a device in the model's rollout order: sha256(model/deviceId), first 32 bits, in [0, 1). */
export function deviceHash(model: string, deviceId: string): number {
  return createHash('sha256').update(`${model}/${deviceId}`).digest().readUInt32BE(0) / 2 ** 32;
}

/** Devices a stage covers out of a population of n: ceil(percent), at least one when there is any device. */
export function stageTarget(percent: number, n: number): number {
  if (n === 0) return 0;
  return Math.min(n, Math.max(1, Math.ceil((percent / 100) * n - 1e-9)));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export class RolloutMachine {
  readonly #s: RolloutState;
  readonly #hashes = new Map<string, number>();

  constructor(state: RolloutState) {
    this.#s = state;
  }

  static create(o: {
    id: string;
    spec: RolloutSpec;
    target: DesiredTarget;
    previous: DesiredTarget | null;
    now: number;
  }): RolloutMachine {
    if (o.target.version !== o.spec.version) {
      throw new EdgeloopError(
        'EL_ERR_ROLLOUT_SPEC',
        `target version ${o.target.version} differs from the spec's ${o.spec.version}`,
      );
    }
    const cap = o.spec.ratePerMin === undefined ? Infinity : Math.max(1, o.spec.ratePerMin);
    const m = new RolloutMachine({
      id: o.id,
      spec: o.spec,
      target: o.target,
      previous: o.previous,
      status: o.spec.shadow ? 'shadowing' : 'rolling',
      stage: 0,
      stageStartedAt: o.now,
      bakeStartedAt: null,
      createdAt: o.now,
      updatedAt: o.now,
      endedAt: null,
      reason: null,
      devices: {},
      tokens: Number.isFinite(cap) ? cap : 0,
      tokensAt: o.now,
      baseline: {},
      gates: [],
      log: [],
      ...(o.spec.shadow
        ? {
            shadow: {
              devices: {},
              startedAt: o.now,
              bakeStartedAt: null,
              endedAt: null,
              result: 'running' as const,
              gates: [],
              figures: null,
            },
          }
        : {}),
    });
    m.#log(
      o.now,
      `started ${o.spec.model}@${o.spec.version} (previous: ${o.previous?.version ?? 'none'}), ${o.spec.shadow ? `shadow ${o.spec.shadow.percent}%, ` : ''}stages ${o.spec.stages.join('%,')}%`,
    );
    return m;
  }

  get state(): RolloutState {
    return this.#s;
  }
  get id(): string {
    return this.#s.id;
  }
  get model(): string {
    return this.#s.spec.model;
  }
  get done(): boolean {
    return TERMINAL_STATUSES.has(this.#s.status);
  }

  #log(at: number, msg: string): void {
    this.#s.log.push({ at, msg });
    if (this.#s.log.length > LOG_LIMIT) this.#s.log.splice(0, this.#s.log.length - LOG_LIMIT);
  }

  /** Online and heard from within the spec's freshness window (a retained status can be days old). */
  #fresh(fd: FleetDevice | undefined, now: number): boolean {
    return !!fd && fd.online && now - fd.lastSeen <= (this.#s.spec.freshMs ?? SPEC_DEFAULTS.freshMs);
  }

  /**
   * Population in rollout order: the devices already assigned plus those that are fresh now (hashes are memoised:
   * sha256 per device per tick dominated large fleets).
   */
  #population(fleet: ReadonlyMap<string, FleetDevice>, now: number): string[] {
    const s = this.#s;
    const ids = (s.spec.devices ?? [...fleet.keys()]).filter((id) => s.devices[id] || this.#fresh(fleet.get(id), now));
    const model = s.spec.model;
    const h = this.#hashes;
    for (const id of ids) if (!h.has(id)) h.set(id, deviceHash(model, id));
    return ids.sort((a, b) => h.get(a)! - h.get(b)! || (a < b ? -1 : 1));
  }

  /** The devices a stage must show reporting before it bakes or passes: its own, or (none new) the cohort so far. */
  #stageEntries(stage: number): Array<[string, DeviceEntry]> {
    const all = Object.entries(this.#s.devices);
    const own = all.filter(([, e]) => e.stage === stage);
    return own.length ? own : all.filter(([, e]) => e.stage <= stage);
  }

  #hasReportingDevice(stage: number, fleet: ReadonlyMap<string, FleetDevice>, now: number): boolean {
    return this.#stageEntries(stage).some(([id, e]) => e.state === 'active' && this.#fresh(fleet.get(id), now));
  }

  #runs(fd: FleetDevice | undefined, version: string | undefined): boolean {
    return (
      !!fd && version !== undefined && fd.models.some((m) => m.name === this.#s.spec.model && m.version === version)
    );
  }

  /** A device's report on models/report. Call tick() afterwards. */
  onReport(
    deviceId: string,
    r: {
      model: string;
      version: string;
      state: ModelReportState;
      reason?: string | undefined;
      role?: 'active' | 'shadow' | undefined;
    },
    now: number,
  ): void {
    const s = this.#s;
    if (r.role === 'shadow') {
      // about the shadow assignment: never evidence for a canary device
      const se = s.shadow?.devices[deviceId];
      if (!se || s.status !== 'shadowing' || r.model !== s.spec.model || r.version !== s.target.version) return;
      se.progress = r.state;
      se.updatedAt = now;
      if (r.state === 'active' && se.state !== 'running') {
        se.state = 'running';
        delete se.reason;
      } else if (r.state === 'failed' && se.state !== 'failed') {
        se.state = 'failed';
        se.reason = `shadow failed${r.reason ? `: ${r.reason}` : ''}`;
        this.#log(now, `${deviceId} ${se.reason}`);
      }
      s.updatedAt = now;
      return;
    }
    const e = s.devices[deviceId];
    if (!e || r.model !== s.spec.model) return;
    if (s.status === 'rolling' || s.status === 'baking' || s.status === 'aborted') {
      if (r.version !== s.target.version) return;
      e.progress = r.state;
      e.updatedAt = now;
      if (r.state === 'active' && (e.state === 'assigned' || e.state === 'failed')) {
        e.state = 'active';
        delete e.reason;
      } else if ((r.state === 'failed' || r.state === 'rolled-back') && e.state !== 'failed') {
        e.state = 'failed';
        e.reason = `${r.state}${r.reason ? `: ${r.reason}` : ''}`;
        this.#log(now, `${deviceId} ${e.reason}`);
      }
      s.updatedAt = now;
    } else if (s.status === 'rolling-back') {
      if (e.state === 'reverting' && r.state === 'active' && r.version === s.previous?.version) {
        e.state = 'reverted';
        e.updatedAt = now;
        s.updatedAt = now;
      }
    }
  }

  /** Advance the machine; returns the actions to carry out, in order. */
  tick(now: number, fleet: ReadonlyMap<string, FleetDevice>): RolloutAction[] {
    const s = this.#s;
    const actions: RolloutAction[] = [];
    if (s.status === 'rolling-back') {
      this.#tickRollback(now, fleet, actions);
      return actions;
    }
    if (s.status === 'shadowing') {
      this.#tickShadow(now, fleet, actions);
      s.updatedAt = now;
      // passed: stage 1 assigns in this same tick
      if ((s.status as RolloutStatus) !== 'rolling') return actions;
    }
    if (s.status !== 'rolling' && s.status !== 'baking') return actions;
    const spec = s.spec;

    // 1. device progress, timeouts and retries
    for (const [id, e] of Object.entries(s.devices)) {
      const fd = fleet.get(id);
      if (!e.base && fd?.inference && this.#runs(fd, s.target.version)) {
        e.base = { windows: fd.inference.windows, anomalies: fd.inference.anomalies };
      }
      if (e.state === 'assigned' || e.state === 'failed') {
        if (this.#runs(fd, s.target.version)) {
          e.state = 'active';
          delete e.reason;
          e.updatedAt = now;
          continue;
        }
      }
      if (e.state !== 'assigned') continue;
      if (!this.#fresh(fd, now)) {
        // offline or silent: the retained assignment waits for it; the timeout runs only while it reports
        e.deadline = Math.max(e.deadline, now + spec.deviceTimeoutMs);
        continue;
      }
      if (now < e.deadline) continue;
      if (e.attempts <= spec.retries) {
        e.attempts++;
        e.deadline = now + spec.deviceTimeoutMs;
        e.updatedAt = now;
        this.#log(now, `${id} did not report within ${spec.deviceTimeoutMs} ms: re-published (attempt ${e.attempts})`);
        actions.push({ type: 'publish-device', deviceId: id, target: s.target });
      } else {
        e.state = 'failed';
        e.reason = `timeout: no active report after ${e.attempts} attempts`;
        e.updatedAt = now;
        this.#log(now, `${id} ${e.reason}`);
      }
    }

    // 2. failure budget
    const entries = Object.values(s.devices);
    const failed = entries.filter((e) => e.state === 'failed').length;
    if (entries.length > 0 && (failed / entries.length) * 100 > spec.maxFailurePct) {
      this.#startRollback(
        now,
        `failures ${failed}/${entries.length} (${((failed / entries.length) * 100).toFixed(1)}%) exceed max ${spec.maxFailurePct}%`,
        actions,
      );
      this.#tickRollback(now, fleet, actions);
      return actions;
    }

    // 3. gates (cohort vs the rest of the fleet)
    s.gates = spec.gates.map((g) => this.#evaluateGate(g, fleet));
    const breach = s.gates.find((g) => g.result === 'breach');
    if (breach) {
      this.#startRollback(
        now,
        `gate ${breach.expr} breached: cohort ${fmt(breach.cohort)} > limit ${fmt(breach.limit)}${breach.baseline !== undefined ? ` (rest of fleet ${fmt(breach.baseline)})` : ''}`,
        actions,
      );
      this.#tickRollback(now, fleet, actions);
      return actions;
    }

    // 4. assignments for the current stage
    if (s.status === 'rolling') {
      const population = this.#population(fleet, now);
      const target = stageTarget(spec.stages[s.stage]!, population.length);
      let assigned = entries.length;
      this.#refill(now);
      for (const id of population) {
        if (assigned >= target) break;
        if (s.devices[id]) continue;
        if (spec.ratePerMin !== undefined) {
          if (s.tokens < 1) break;
          s.tokens -= 1;
        }
        s.devices[id] = {
          stage: s.stage,
          state: 'assigned',
          attempts: 1,
          assignedAt: now,
          deadline: now + spec.deviceTimeoutMs,
          updatedAt: now,
        };
        assigned++;
        actions.push({ type: 'publish-device', deviceId: id, target: s.target });
      }
      const waiting = Object.entries(s.devices).some(
        ([id, e]) => e.state === 'assigned' && this.#fresh(fleet.get(id), now),
      );
      const reporting = this.#hasReportingDevice(s.stage, fleet, now);
      s.reason = null;
      if (target === 0) s.reason = 'waiting for devices: none has reported within the freshness window';
      else if (assigned >= target && !waiting && !reporting)
        s.reason = `waiting for a reporting device in stage ${s.stage + 1}`;
      if (target > 0 && assigned >= target && !waiting && reporting) {
        s.status = 'baking';
        s.bakeStartedAt = now;
        this.#log(
          now,
          `stage ${s.stage + 1} (${spec.stages[s.stage]}%): ${assigned} devices assigned, baking ${spec.bakeMs} ms`,
        );
      }
    }
    if (s.status === 'baking' && now - s.bakeStartedAt! >= spec.bakeMs) {
      const noData = s.gates.filter((g) => g.result === 'no-data');
      if (!this.#hasReportingDevice(s.stage, fleet, now))
        s.reason = `waiting for a reporting device in stage ${s.stage + 1}`;
      else if (noData.length === 0) this.#advance(now, 'bake passed', actions);
      else s.reason = `waiting for gate data: ${noData.map((g) => g.expr).join(', ')}`;
    }
    s.updatedAt = now;
    return actions;
  }

  #shadowFresh(fd: FleetDevice | undefined): ShadowReport | undefined {
    const s = this.#s;
    return fd?.shadow?.find((r) => r.name === s.spec.model && r.version === s.target.version);
  }

  #tickShadow(now: number, fleet: ReadonlyMap<string, FleetDevice>, actions: RolloutAction[]): void {
    const s = this.#s;
    const spec = s.spec;
    const sh = s.shadow!;
    const sp = spec.shadow!;

    // 1. device progress (the status's shadow block), timeouts and retries
    for (const [id, e] of Object.entries(sh.devices)) {
      const fd = fleet.get(id);
      const rep = this.#shadowFresh(fd);
      if (rep) {
        e.report = rep;
        if (fd?.inference)
          e.activeLatency = { p50Ms: fd.inference.p50Ms, p95Ms: fd.inference.p95Ms, p99Ms: fd.inference.p99Ms };
        if (e.state === 'assigned') {
          e.state = 'running';
          e.updatedAt = now;
        }
      }
      if (e.state !== 'assigned') continue;
      if (!this.#fresh(fd, now)) {
        e.deadline = Math.max(e.deadline, now + spec.deviceTimeoutMs);
        continue;
      }
      if (now < e.deadline) continue;
      if (e.attempts <= spec.retries) {
        e.attempts++;
        e.deadline = now + spec.deviceTimeoutMs;
        e.updatedAt = now;
        this.#log(now, `${id} did not start the shadow within ${spec.deviceTimeoutMs} ms: re-published`);
        actions.push({ type: 'publish-shadow', deviceId: id, target: s.target });
      } else {
        e.state = 'failed';
        e.reason = `timeout: the shadow did not start after ${e.attempts} attempts`;
        e.updatedAt = now;
        this.#log(now, `${id} ${e.reason}`);
      }
    }

    // 2. failure budget: a candidate that does not load on the devices goes no further
    const entries = Object.values(sh.devices);
    const failed = entries.filter((e) => e.state === 'failed').length;
    if (entries.length > 0 && (failed / entries.length) * 100 > spec.maxFailurePct) {
      const first = entries.find((e) => e.reason)?.reason;
      this.#endShadow(
        now,
        'failed',
        `shadow failures ${failed}/${entries.length} exceed max ${spec.maxFailurePct}%${first ? ` (${first})` : ''}`,
        actions,
      );
      return;
    }

    // 3. assignments
    const population = this.#population(fleet, now);
    const target = stageTarget(sp.percent, population.length);
    let assigned = entries.length;
    for (const id of population) {
      if (assigned >= target) break;
      if (sh.devices[id]) continue;
      sh.devices[id] = {
        state: 'assigned',
        attempts: 1,
        assignedAt: now,
        deadline: now + spec.deviceTimeoutMs,
        updatedAt: now,
      };
      assigned++;
      actions.push({ type: 'publish-shadow', deviceId: id, target: s.target });
    }

    // 4. figures and gates (judged when the bake is over)
    const ev = this.#evaluateShadow();
    sh.figures = ev.figures;
    sh.gates = ev.gates;
    const waiting = Object.entries(sh.devices).some(
      ([id, e]) => e.state === 'assigned' && this.#fresh(fleet.get(id), now),
    );
    const running = Object.entries(sh.devices).some(
      ([id, e]) => e.state === 'running' && this.#fresh(fleet.get(id), now),
    );
    s.reason = null;
    if (target === 0) {
      s.reason = 'waiting for devices: none has reported within the freshness window';
      return;
    }
    if (sh.bakeStartedAt === null) {
      if (assigned >= target && !waiting && running) {
        sh.bakeStartedAt = now;
        this.#log(now, `shadow: ${assigned} devices run ${spec.version} beside their model, baking ${sp.bakeMs} ms`);
      } else {
        s.reason = `shadow: waiting for ${waiting ? 'assigned devices to run the candidate' : 'a reporting shadow device'}`;
        return;
      }
    }
    if (now - sh.bakeStartedAt < sp.bakeMs) {
      s.reason = `shadow: baking until ${sp.bakeMs - (now - sh.bakeStartedAt)} ms from now`;
      return;
    }
    if (ev.counted < sp.minDevices) {
      s.reason = `shadow: waiting for data: ${ev.counted}/${sp.minDevices} devices with >= ${sp.minWindows} paired windows`;
      return;
    }
    const breach = sh.gates.find((g) => g.result === 'breach');
    if (breach) {
      this.#endShadow(
        now,
        'failed',
        `shadow gate ${breach.expr} failed: candidate ${fmt(breach.cohort)} ${breach.op === '>=' ? '<' : '>'} limit ${fmt(breach.limit)}${breach.baseline !== undefined ? ` (active model ${fmt(breach.baseline)})` : ''}`,
        actions,
      );
      return;
    }
    const noData = sh.gates.filter((g) => g.result === 'no-data');
    if (noData.length) {
      s.reason = `shadow: waiting for gate data: ${noData.map((g) => g.expr).join(', ')}`;
      return;
    }
    this.#endShadow(now, 'passed', 'shadow gates passed', actions);
  }

  /** End the shadow stage: clear every shadow assignment; failed → aborted, passed → stage 1 or awaiting approval. */
  #endShadow(now: number, result: 'passed' | 'failed' | 'skipped', why: string, actions: RolloutAction[]): void {
    const s = this.#s;
    const sh = s.shadow!;
    sh.result = result;
    sh.endedAt = now;
    for (const id of Object.keys(sh.devices)) actions.push({ type: 'clear-shadow', deviceId: id });
    if (result === 'failed') {
      s.status = 'aborted';
      s.reason = why;
      s.endedAt = now;
      this.#log(now, `aborted: ${why}; no device was asked to activate ${s.spec.version}`);
      return;
    }
    if (result === 'passed' && s.spec.approve === 'manual') {
      s.status = 'awaiting-approval';
      s.reason = `${why}; waiting for approval (edgeloop rollout approve ${s.id})`;
      this.#log(now, s.reason);
      return;
    }
    this.#log(now, `${why}; stage 1 (${s.spec.stages[0]}%) starts`);
    this.#startStages(now);
  }

  #startStages(now: number): void {
    const s = this.#s;
    s.status = 'rolling';
    s.stage = 0;
    s.stageStartedAt = now;
    s.bakeStartedAt = null;
    s.reason = null;
    s.tokensAt = now;
  }

  /** Pooled figures over the running shadow devices with minWindows paired windows (their last report). */
  #evaluateShadow(): { figures: ShadowFigures | null; gates: GateResult[]; counted: number } {
    const s = this.#s;
    const sp = s.spec.shadow!;
    const rows: Array<{ r: ShadowReport; lat: ShadowEntry['activeLatency'] }> = [];
    for (const e of Object.values(s.shadow!.devices)) {
      if (e.state !== 'running' || !e.report || e.report.windows < sp.minWindows) continue;
      rows.push({ r: e.report, lat: e.activeLatency });
    }
    const counted = rows.length;
    let figures: ShadowFigures | null = null;
    if (counted > 0) {
      const W = rows.reduce((a, x) => a + x.r.windows, 0);
      const sum = (f: (x: (typeof rows)[number]) => number): number => rows.reduce((a, x) => a + f(x), 0);
      const avg = (f: (x: (typeof rows)[number]) => number): number => sum(f) / counted;
      const q = (k: 'active' | 'shadow'): ScoreQuantiles => ({
        p05: avg((x) => x.r.scores[k].p05),
        p25: avg((x) => x.r.scores[k].p25),
        p50: avg((x) => x.r.scores[k].p50),
        p75: avg((x) => x.r.scores[k].p75),
        p95: avg((x) => x.r.scores[k].p95),
        p99: avg((x) => x.r.scores[k].p99),
      });
      figures = {
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
    }
    const gates = sp.gates.map((g) => shadowGate(g, figures));
    return { figures, gates, counted };
  }

  #refill(now: number): void {
    const s = this.#s;
    const rate = s.spec.ratePerMin;
    if (rate === undefined) return;
    const cap = Math.max(1, rate);
    s.tokens = Math.min(cap, s.tokens + ((now - s.tokensAt) * rate) / 60_000);
    s.tokensAt = now;
  }

  #evaluateGate(g: Gate, fleet: ReadonlyMap<string, FleetDevice>): GateResult {
    const s = this.#s;
    const field = GATE_METRICS[g.metric].field;
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
      if (!this.#runs(fd, s.target.version)) continue; // status still from before the switch
      const inf = fd!.inference;
      if (!inf) continue;
      // evidence counts from the switch (see DeviceEntry.base): windows of the previous model say nothing of this one
      const b = e.base ?? { windows: 0, anomalies: 0 };
      const since =
        inf.windows >= b.windows
          ? { w: inf.windows - b.windows, a: inf.anomalies - b.anomalies }
          : { w: inf.windows, a: inf.anomalies };
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
      if (s.devices[id] || !fd.online || this.#runs(fd, s.target.version)) continue;
      const v = value(fd);
      if (v !== undefined) rest.push(v);
    }
    if (rest.length) s.baseline[g.metric] = mean(rest);
    const baseline = s.baseline[g.metric];
    const base = { expr: g.expr, cohortDevices: cohort.length, restDevices: rest.length };
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

  #advance(now: number, why: string, actions: RolloutAction[]): void {
    const s = this.#s;
    s.reason = null;
    if (s.stage >= s.spec.stages.length - 1) {
      s.status = 'completed';
      s.endedAt = now;
      this.#log(now, `completed (${why}): fleet manifest set to ${s.target.version}, per-device overrides cleared`);
      actions.push({ type: 'publish-fleet', target: s.target });
      for (const [id, e] of Object.entries(s.devices)) {
        actions.push({ type: 'clear-device', deviceId: id });
        e.cleared = true;
      }
      return;
    }
    s.stage++;
    s.status = 'rolling';
    s.stageStartedAt = now;
    s.bakeStartedAt = null;
    this.#log(now, `stage ${s.stage} done (${why}); stage ${s.stage + 1} (${s.spec.stages[s.stage]}%) starts`);
  }

  #startRollback(now: number, reason: string, actions: RolloutAction[]): void {
    const s = this.#s;
    s.status = 'rolling-back';
    s.reason = reason;
    this.#log(now, `rolling back: ${reason}`);
    for (const [id, e] of Object.entries(s.devices)) {
      if (e.state === 'reverted') continue;
      e.updatedAt = now;
      if (s.previous) {
        e.state = 'reverting';
        e.attempts = 1;
        e.deadline = now + s.spec.deviceTimeoutMs;
        actions.push({ type: 'publish-device', deviceId: id, target: s.previous });
      } else {
        // nothing to go back to: clear the override; the device keeps what it runs (documented)
        e.state = 'reverted';
        e.cleared = true;
        actions.push({ type: 'clear-device', deviceId: id });
      }
    }
  }

  #tickRollback(now: number, fleet: ReadonlyMap<string, FleetDevice>, actions: RolloutAction[]): void {
    const s = this.#s;
    let pending = 0;
    for (const [id, e] of Object.entries(s.devices)) {
      const fd = fleet.get(id);
      if (e.state === 'reverting') {
        if (this.#runs(fd, s.previous?.version)) e.state = 'reverted';
        else if (fd && !fd.online) {
          e.deadline = Math.max(e.deadline, now + s.spec.deviceTimeoutMs);
          continue; // the retained previous manifest waits for it
        } else if (now >= e.deadline) {
          if (e.attempts <= s.spec.retries) {
            e.attempts++;
            e.deadline = now + s.spec.deviceTimeoutMs;
            actions.push({ type: 'publish-device', deviceId: id, target: s.previous! });
          } else {
            e.state = 'unconfirmed';
            e.reason = 'revert not confirmed; the previous manifest stays retained for the device';
            this.#log(now, `${id}: ${e.reason}`);
          }
        }
        if (e.state === 'reverting') pending++;
      }
      if (e.state === 'reverted' && !e.cleared) {
        e.cleared = true;
        actions.push({ type: 'clear-device', deviceId: id });
      }
    }
    if (pending === 0) {
      s.status = 'rolled-back';
      s.endedAt = now;
      this.#log(now, `rolled back to ${s.previous?.version ?? '(nothing: overrides cleared)'}`);
    }
    s.updatedAt = now;
  }

  /** Operator: skip the rest of the current stage's bake (and any gate wait) and go on. */
  promote(now: number): RolloutAction[] {
    const s = this.#s;
    if (s.status === 'shadowing' || s.status === 'awaiting-approval') {
      const actions: RolloutAction[] = [];
      if (s.status === 'shadowing') this.#endShadow(now, 'skipped', 'shadow skipped by operator (promote)', actions);
      else this.#approveNow(now, 'promoted by operator');
      s.updatedAt = now;
      return actions;
    }
    if (s.status !== 'rolling' && s.status !== 'baking') {
      throw new EdgeloopError('EL_ERR_ROLLOUT_STATE', `cannot promote a rollout that is ${s.status}`);
    }
    const actions: RolloutAction[] = [];
    this.#advance(now, 'promoted by operator', actions);
    s.updatedAt = now;
    return actions;
  }

  /** Operator: go on after a passed shadow stage with approve: manual. */
  approve(now: number, by = 'operator'): RolloutAction[] {
    const s = this.#s;
    if (s.status !== 'awaiting-approval') {
      const hint = s.status === 'shadowing' ? ' (the shadow stage is still running; `promote` skips it)' : '';
      throw new EdgeloopError('EL_ERR_ROLLOUT_STATE', `cannot approve a rollout that is ${s.status}${hint}`);
    }
    this.#approveNow(now, `approved by ${by}`);
    s.updatedAt = now;
    return [];
  }

  #approveNow(now: number, why: string): void {
    const s = this.#s;
    this.#log(now, `${why}; stage 1 (${s.spec.stages[0]}%) starts`);
    this.#startStages(now);
  }

  /** Operator: roll back to the previous manifest (also after completion). */
  rollback(now: number, reason = 'rollback by operator'): RolloutAction[] {
    const s = this.#s;
    const actions: RolloutAction[] = [];
    if (s.status === 'rolled-back' || s.status === 'rolling-back') {
      throw new EdgeloopError('EL_ERR_ROLLOUT_STATE', `rollout is already ${s.status}`);
    }
    if (s.status === 'shadowing' || s.status === 'awaiting-approval') {
      // nothing was activated: stop the shadows and end
      if (s.status === 'shadowing') this.#endShadow(now, 'failed', reason, actions);
      s.status = 'rolled-back';
      s.reason = reason;
      s.endedAt = now;
      s.updatedAt = now;
      this.#log(now, `ended before any activation: ${reason}`);
      return actions;
    }
    if (s.status === 'completed') {
      s.status = 'rolled-back';
      s.reason = reason;
      s.endedAt = now;
      this.#log(now, `rolled back after completion: fleet manifest set to ${s.previous?.version ?? '(cleared)'}`);
      actions.push({ type: 'publish-fleet', target: s.previous });
      s.updatedAt = now;
      return actions;
    }
    this.#startRollback(now, reason, actions);
    s.updatedAt = now;
    return actions;
  }

  /** Operator: stop assigning; devices keep what they run and their per-device overrides (no rollback). */
  abort(now: number, reason = 'aborted by operator'): RolloutAction[] {
    const s = this.#s;
    if (TERMINAL_STATUSES.has(s.status) || s.status === 'rolling-back') {
      throw new EdgeloopError('EL_ERR_ROLLOUT_STATE', `cannot abort a rollout that is ${s.status}`);
    }
    if (s.status === 'shadowing') {
      // shadows change no behaviour but cost CPU: they stop with the rollout
      const actions: RolloutAction[] = [];
      this.#endShadow(now, 'failed', reason, actions);
      s.updatedAt = now;
      return actions;
    }
    s.status = 'aborted';
    s.reason = reason;
    s.endedAt = now;
    s.updatedAt = now;
    this.#log(now, reason);
    return [];
  }

  /** How `rollout status` shows one device of the rollout. */
  #display(e: DeviceEntry, fd: FleetDevice | undefined, now: number): DeviceDisplayState {
    if (e.state === 'active') return 'active';
    if (e.state === 'failed' || e.state === 'unconfirmed') return 'failed';
    if (e.state === 'reverted') return 'reverted';
    if (!this.#fresh(fd, now)) return 'offline';
    if (e.state === 'reverting') return 'pending';
    return e.progress && e.progress !== 'received' ? 'downloading' : 'pending';
  }

  /** Per-stage progress for status displays. */
  progress(fleet: ReadonlyMap<string, FleetDevice>, now: number): StageProgress[] {
    const s = this.#s;
    const n = Math.max(this.#population(fleet, now).length, Object.keys(s.devices).length);
    const h = this.#hashes;
    return s.spec.stages.map((percent, i) => {
      const own = Object.entries(s.devices).filter(([, e]) => e.stage === i);
      const es = own.map(([, e]) => e);
      const devices = own
        .sort(([a], [b]) => (h.get(a) ?? 0) - (h.get(b) ?? 0) || (a < b ? -1 : 1))
        .map(([deviceId, e]) => ({
          deviceId,
          state: this.#display(e, fleet.get(deviceId), now),
          ...(e.reason ? { reason: e.reason } : {}),
        }));
      const done = s.status === 'completed' || i < s.stage;
      return {
        stage: i + 1,
        percent,
        target: stageTarget(percent, n),
        assigned: es.length,
        active: es.filter((e) => e.state === 'active').length,
        failed: es.filter((e) => e.state === 'failed').length,
        inFlight: es.filter((e) => e.state === 'assigned').length,
        state: done ? 'done' : i === s.stage ? 'current' : 'pending',
        devices,
      };
    });
  }

  /** When the next timer-driven change can happen (bake end, a device deadline, a rate token); undefined = none. */
  nextWakeAt(): number | undefined {
    const s = this.#s;
    if (TERMINAL_STATUSES.has(s.status)) return undefined;
    const times: number[] = [];
    if (s.status === 'baking' && s.bakeStartedAt !== null) times.push(s.bakeStartedAt + s.spec.bakeMs);
    if (s.status === 'shadowing' && s.shadow) {
      if (s.shadow.bakeStartedAt !== null) times.push(s.shadow.bakeStartedAt + s.spec.shadow!.bakeMs);
      for (const e of Object.values(s.shadow.devices)) if (e.state === 'assigned') times.push(e.deadline);
    }
    for (const e of Object.values(s.devices))
      if (e.state === 'assigned' || e.state === 'reverting') times.push(e.deadline);
    if (s.status === 'rolling' && s.spec.ratePerMin !== undefined && s.tokens < 1) {
      times.push(s.tokensAt + ((1 - s.tokens) * 60_000) / s.spec.ratePerMin);
    }
    return times.length ? Math.min(...times) : undefined;
  }
}

/** One shadow gate over the pooled figures (no figures yet: no-data). */
function shadowGate(g: ShadowGate, f: ShadowFigures | null): GateResult {
  const base = { expr: g.expr, op: g.op, cohortDevices: f?.devices ?? 0, restDevices: f?.devices ?? 0 };
  if (!f) return { ...base, result: 'no-data' };
  let cohort: number;
  let baseline: number | undefined;
  switch (g.metric) {
    case 'shadow_agreement':
      cohort = f.agreement;
      break;
    case 'shadow_anomaly_rate':
      cohort = f.anomalyRate;
      baseline = f.activeAnomalyRate;
      break;
    case 'shadow_p50_ms':
      cohort = f.p50Ms;
      baseline = f.activeP50Ms;
      break;
    case 'shadow_p95_ms':
      cohort = f.p95Ms;
      baseline = f.activeP95Ms;
      break;
    case 'shadow_p99_ms':
      cohort = f.p99Ms;
      baseline = f.activeP99Ms;
      break;
  }
  const limit =
    g.value !== undefined ? g.value : g.factor! * Math.max(baseline ?? 0, SHADOW_GATE_METRICS[g.metric].floor);
  const ok = g.op === '>=' ? cohort >= limit : cohort <= limit;
  return { ...base, result: ok ? 'pass' : 'breach', cohort, limit, ...(baseline !== undefined ? { baseline } : {}) };
}

function fmt(x: number | undefined): string {
  if (x === undefined) return '?';
  return Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(3)).toString();
}
