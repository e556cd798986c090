/**
 * RolloutMachine: the pure state machine of one model rollout. No I/O, no timers: the controller feeds it device
 * reports, gives it the fleet view (from retained status messages) and the time on every tick(), and carries out
 * the actions tick() returns (publish or clear retained per-device manifests, publish the fleet manifest).
 * Its whole state is a plain JSON-serialisable object (rollout-state.ts), so a restarted controller resumes from
 * the last snapshot.
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
 * With a shadow stage (spec.shadow) the rollout starts `shadowing` (shadow-stage.ts): the candidate runs beside the
 * active model on the shadow cohort and its gates are judged. A breach (or shadow failures over maxFailurePct)
 * aborts the rollout with the reason: no device was ever asked to activate the candidate. A pass clears the shadow
 * assignments and starts stage 1, or, with approve: manual, waits in `awaiting-approval` for approve().
 *
 * The bookkeeping both stages share is RolloutCohort (rollout-cohort.ts); gate evaluation is rollout-gates.ts, the
 * rollback path rollout-rollback.ts, the per-stage progress for status displays rollout-progress.ts.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { RolloutCohort, overBudget } from './rollout-cohort.ts';
import { evaluateGate, gateBreachReason } from './rollout-gates.ts';
import { stageProgress } from './rollout-progress.ts';
import { startRollback, tickRollback } from './rollout-rollback.ts';
import type { RolloutSpec } from './rollout-spec.ts';
import {
  TERMINAL_STATUSES,
  type DesiredTarget,
  type DeviceEntry,
  type DeviceReport,
  type FleetDevice,
  type RolloutAction,
  type RolloutState,
  type RolloutStatus,
  type StageProgress,
} from './rollout-state.ts';
import { closeShadow, newShadowState, onShadowReport, shadowWakeTimes, tickShadow } from './shadow-stage.ts';

export class RolloutMachine {
  readonly #s: RolloutState;
  readonly #c: RolloutCohort;

  constructor(state: RolloutState) {
    this.#s = state;
    this.#c = new RolloutCohort(state);
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
      ...(o.spec.shadow ? { shadow: newShadowState(o.now) } : {}),
    });
    m.#c.log(
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

  /** The devices a stage must show reporting before it bakes or passes: its own, or (none new) the cohort so far. */
  #stageEntries(stage: number): Array<[string, DeviceEntry]> {
    const all = Object.entries(this.#s.devices);
    const own = all.filter(([, e]) => e.stage === stage);
    return own.length ? own : all.filter(([, e]) => e.stage <= stage);
  }

  #hasReportingDevice(stage: number, fleet: ReadonlyMap<string, FleetDevice>, now: number): boolean {
    return this.#stageEntries(stage).some(([id, e]) => e.state === 'active' && this.#c.fresh(fleet.get(id), now));
  }

  /** A device's report on models/report. Call tick() afterwards. */
  onReport(deviceId: string, r: DeviceReport, now: number): void {
    const s = this.#s;
    if (r.role === 'shadow') {
      onShadowReport(this.#c, deviceId, r, now);
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
        this.#c.log(now, `${deviceId} ${e.reason}`);
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
    const c = this.#c;
    const actions: RolloutAction[] = [];
    if (s.status === 'rolling-back') {
      tickRollback(c, now, fleet, actions);
      return actions;
    }
    if (s.status === 'shadowing') {
      const end = tickShadow(c, now, fleet, actions);
      if (end) this.#endShadow(now, end.result, end.why, actions);
      s.updatedAt = now;
      // passed: stage 1 assigns in this same tick
      if ((s.status as RolloutStatus) !== 'rolling') return actions;
    }
    if (s.status !== 'rolling' && s.status !== 'baking') return actions;
    const spec = s.spec;

    // 1. device progress, timeouts and retries
    for (const [id, e] of Object.entries(s.devices)) {
      const fd = fleet.get(id);
      if (!e.base && fd?.inference && c.runs(fd, s.target.version)) {
        e.base = { windows: fd.inference.windows, anomalies: fd.inference.anomalies };
      }
      if (e.state === 'assigned' || e.state === 'failed') {
        if (c.runs(fd, s.target.version)) {
          e.state = 'active';
          delete e.reason;
          e.updatedAt = now;
          continue;
        }
      }
      c.chase(
        id,
        e,
        fd,
        now,
        {
          republish: { type: 'publish-device', deviceId: id, target: s.target },
          retried: (n) => `did not report within ${spec.deviceTimeoutMs} ms: re-published (attempt ${n})`,
          failed: (n) => `timeout: no active report after ${n} attempts`,
        },
        actions,
      );
    }

    // 2. failure budget
    const over = overBudget(Object.values(s.devices), spec.maxFailurePct);
    if (over) {
      startRollback(
        this.#c,
        now,
        `failures ${over.failed}/${over.total} (${((over.failed / over.total) * 100).toFixed(1)}%) exceed max ${spec.maxFailurePct}%`,
        actions,
      );
      tickRollback(c, now, fleet, actions);
      return actions;
    }

    // 3. gates (cohort vs the rest of the fleet); the rest's mean is kept for when no device is left outside
    s.gates = spec.gates.map((g) => {
      const { gate, restMean } = evaluateGate(g, s, fleet);
      if (restMean !== undefined) s.baseline[g.metric] = restMean;
      return gate;
    });
    const breach = s.gates.find((g) => g.result === 'breach');
    if (breach) {
      startRollback(c, now, gateBreachReason(breach), actions);
      tickRollback(c, now, fleet, actions);
      return actions;
    }

    // 4. assignments for the current stage
    if (s.status === 'rolling') {
      this.#refill(now);
      const { target, assigned } = c.assign(
        s.devices,
        spec.stages[s.stage]!,
        fleet,
        now,
        {
          make: (a) => ({ stage: s.stage, ...a }),
          publish: (deviceId) => ({ type: 'publish-device', deviceId, target: s.target }),
          take: () => this.#takeToken(),
        },
        actions,
      );
      const waiting = c.anyFresh(s.devices, 'assigned', fleet, now);
      const reporting = this.#hasReportingDevice(s.stage, fleet, now);
      s.reason = null;
      if (target === 0) s.reason = 'waiting for devices: none has reported within the freshness window';
      else if (assigned >= target && !waiting && !reporting)
        s.reason = `waiting for a reporting device in stage ${s.stage + 1}`;
      if (target > 0 && assigned >= target && !waiting && reporting) {
        s.status = 'baking';
        s.bakeStartedAt = now;
        c.log(
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

  /** End the shadow stage: clear every shadow assignment; failed → aborted, passed → stage 1 or awaiting approval. */
  #endShadow(now: number, result: 'passed' | 'failed' | 'skipped', why: string, actions: RolloutAction[]): void {
    const s = this.#s;
    closeShadow(s.shadow!, now, result, actions);
    if (result === 'failed') {
      s.status = 'aborted';
      s.reason = why;
      s.endedAt = now;
      this.#c.log(now, `aborted: ${why}; no device was asked to activate ${s.spec.version}`);
      return;
    }
    if (result === 'passed' && s.spec.approve === 'manual') {
      s.status = 'awaiting-approval';
      s.reason = `${why}; waiting for approval (edgeloop rollout approve ${s.id})`;
      this.#c.log(now, s.reason);
      return;
    }
    this.#c.log(now, `${why}; stage 1 (${s.spec.stages[0]}%) starts`);
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

  #refill(now: number): void {
    const s = this.#s;
    const rate = s.spec.ratePerMin;
    if (rate === undefined) return;
    const cap = Math.max(1, rate);
    s.tokens = Math.min(cap, s.tokens + ((now - s.tokensAt) * rate) / 60_000);
    s.tokensAt = now;
  }

  /** One more assignment under the rate limit (no limit: always). */
  #takeToken(): boolean {
    const s = this.#s;
    if (s.spec.ratePerMin === undefined) return true;
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }

  #advance(now: number, why: string, actions: RolloutAction[]): void {
    const s = this.#s;
    s.reason = null;
    if (s.stage >= s.spec.stages.length - 1) {
      s.status = 'completed';
      s.endedAt = now;
      this.#c.log(now, `completed (${why}): fleet manifest set to ${s.target.version}, per-device overrides cleared`);
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
    this.#c.log(now, `stage ${s.stage} done (${why}); stage ${s.stage + 1} (${s.spec.stages[s.stage]}%) starts`);
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
    this.#c.log(now, `${why}; stage 1 (${s.spec.stages[0]}%) starts`);
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
      this.#c.log(now, `ended before any activation: ${reason}`);
      return actions;
    }
    if (s.status === 'completed') {
      s.status = 'rolled-back';
      s.reason = reason;
      s.endedAt = now;
      this.#c.log(now, `rolled back after completion: fleet manifest set to ${s.previous?.version ?? '(cleared)'}`);
      actions.push({ type: 'publish-fleet', target: s.previous });
      s.updatedAt = now;
      return actions;
    }
    startRollback(this.#c, now, reason, actions);
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
    this.#c.log(now, reason);
    return [];
  }

  /** Per-stage progress for status displays. */
  progress(fleet: ReadonlyMap<string, FleetDevice>, now: number): StageProgress[] {
    return stageProgress(this.#c, fleet, now);
  }

  /** When the next timer-driven change can happen (bake end, a device deadline, a rate token); undefined = none. */
  nextWakeAt(): number | undefined {
    const s = this.#s;
    if (TERMINAL_STATUSES.has(s.status)) return undefined;
    const times: number[] = [];
    if (s.status === 'baking' && s.bakeStartedAt !== null) times.push(s.bakeStartedAt + s.spec.bakeMs);
    times.push(...shadowWakeTimes(s));
    for (const e of Object.values(s.devices))
      if (e.state === 'assigned' || e.state === 'reverting') times.push(e.deadline);
    if (s.status === 'rolling' && s.spec.ratePerMin !== undefined && s.tokens < 1) {
      times.push(s.tokensAt + ((1 - s.tokens) * 60_000) / s.spec.ratePerMin);
    }
    return times.length ? Math.min(...times) : undefined;
  }
}
