/**
 * The shadow stage of a rollout (spec.shadow), before any device is asked to activate the candidate: the shadow
 * cohort (the first devices in rollout order, so they are also the first canaries) gets a retained shadow
 * assignment and runs the candidate beside its active model, acting on nothing it decides; their statuses carry
 * what it did (StatusMessage.shadow). Once every assigned device runs it (or failed) the shadow bakes for
 * shadow.bakeMs; then, with at least shadow.minDevices devices of shadow.minWindows paired windows, the shadow gates
 * are judged.
 *
 * tickShadow() keeps the cohort's bookkeeping and says when the stage ends and how (a pass, or a failure with its
 * reason); the state machine (RolloutMachine) makes the transition. Pure: no I/O, no timers.
 */
import { shadowBreachReason, shadowFigures, shadowGate } from './rollout-gates.ts';
import { overBudget, type RolloutCohort } from './rollout-cohort.ts';
import type { DeviceReport, FleetDevice, RolloutAction, RolloutState, ShadowState } from './rollout-state.ts';

/** How the shadow stage ended on this tick. */
export interface ShadowEnd {
  result: 'passed' | 'failed';
  why: string;
}

/** The shadow stage of a rollout that starts at `now`. */
export function newShadowState(now: number): ShadowState {
  return {
    devices: {},
    startedAt: now,
    bakeStartedAt: null,
    endedAt: null,
    result: 'running',
    gates: [],
    figures: null,
  };
}

/** A report about the shadow assignment (role shadow): never evidence for a canary device. */
export function onShadowReport(c: RolloutCohort, deviceId: string, r: DeviceReport, now: number): void {
  const s = c.state;
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
    c.log(now, `${deviceId} ${se.reason}`);
  }
  s.updatedAt = now;
}

/** One tick of the shadow stage; returns how it ended, or undefined while it goes on (s.reason says on what). */
export function tickShadow(
  c: RolloutCohort,
  now: number,
  fleet: ReadonlyMap<string, FleetDevice>,
  actions: RolloutAction[],
): ShadowEnd | undefined {
  const s = c.state;
  const spec = s.spec;
  const sh = s.shadow!;
  const sp = spec.shadow!;

  // 1. device progress (the status's shadow block), timeouts and retries
  for (const [id, e] of Object.entries(sh.devices)) {
    const fd = fleet.get(id);
    const rep = fd?.shadow?.find((r) => r.name === spec.model && r.version === s.target.version);
    if (rep) {
      e.report = rep;
      if (fd?.inference)
        e.activeLatency = { p50Ms: fd.inference.p50Ms, p95Ms: fd.inference.p95Ms, p99Ms: fd.inference.p99Ms };
      if (e.state === 'assigned') {
        e.state = 'running';
        e.updatedAt = now;
      }
    }
    c.chase(
      id,
      e,
      fd,
      now,
      {
        republish: { type: 'publish-shadow', deviceId: id, target: s.target },
        retried: () => `did not start the shadow within ${spec.deviceTimeoutMs} ms: re-published`,
        failed: (n) => `timeout: the shadow did not start after ${n} attempts`,
      },
      actions,
    );
  }

  // 2. failure budget: a candidate that does not load on the devices goes no further
  const over = overBudget(Object.values(sh.devices), spec.maxFailurePct);
  if (over) {
    const first = Object.values(sh.devices).find((e) => e.reason)?.reason;
    const why = `shadow failures ${over.failed}/${over.total} exceed max ${spec.maxFailurePct}%${first ? ` (${first})` : ''}`;
    return { result: 'failed', why };
  }

  // 3. assignments
  const { target, assigned } = c.assign(
    sh.devices,
    sp.percent,
    fleet,
    now,
    { make: (a) => a, publish: (deviceId) => ({ type: 'publish-shadow', deviceId, target: s.target }) },
    actions,
  );

  // 4. figures and gates (judged when the bake is over)
  const { figures, counted } = shadowFigures(sh.devices, sp.minWindows);
  sh.figures = figures;
  sh.gates = sp.gates.map((g) => shadowGate(g, figures));
  const waiting = c.anyFresh(sh.devices, 'assigned', fleet, now);
  const running = c.anyFresh(sh.devices, 'running', fleet, now);
  s.reason = null;
  if (target === 0) {
    s.reason = 'waiting for devices: none has reported within the freshness window';
    return undefined;
  }
  if (sh.bakeStartedAt === null) {
    if (assigned >= target && !waiting && running) {
      sh.bakeStartedAt = now;
      c.log(now, `shadow: ${assigned} devices run ${spec.version} beside their model, baking ${sp.bakeMs} ms`);
    } else {
      s.reason = `shadow: waiting for ${waiting ? 'assigned devices to run the candidate' : 'a reporting shadow device'}`;
      return undefined;
    }
  }
  if (now - sh.bakeStartedAt < sp.bakeMs) {
    s.reason = `shadow: baking until ${sp.bakeMs - (now - sh.bakeStartedAt)} ms from now`;
    return undefined;
  }
  if (counted < sp.minDevices) {
    s.reason = `shadow: waiting for data: ${counted}/${sp.minDevices} devices with >= ${sp.minWindows} paired windows`;
    return undefined;
  }
  const breach = sh.gates.find((g) => g.result === 'breach');
  if (breach) return { result: 'failed', why: shadowBreachReason(breach) };
  const noData = sh.gates.filter((g) => g.result === 'no-data');
  if (noData.length) {
    s.reason = `shadow: waiting for gate data: ${noData.map((g) => g.expr).join(', ')}`;
    return undefined;
  }
  return { result: 'passed', why: 'shadow gates passed' };
}

/** Close the shadow stage with its result: every shadow assignment is cleared. */
export function closeShadow(
  sh: ShadowState,
  now: number,
  result: 'passed' | 'failed' | 'skipped',
  actions: RolloutAction[],
): void {
  sh.result = result;
  sh.endedAt = now;
  for (const id of Object.keys(sh.devices)) actions.push({ type: 'clear-shadow', deviceId: id });
}

/** When the shadow stage can next change by itself: its bake's end, an assigned device's deadline. */
export function shadowWakeTimes(s: RolloutState): number[] {
  const times: number[] = [];
  if (s.status !== 'shadowing' || !s.shadow) return times;
  if (s.shadow.bakeStartedAt !== null) times.push(s.shadow.bakeStartedAt + s.spec.shadow!.bakeMs);
  for (const e of Object.values(s.shadow.devices)) if (e.state === 'assigned') times.push(e.deadline);
  return times;
}
