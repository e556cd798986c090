/**
 * RolloutCohort: the device bookkeeping that the shadow stage and the canary stages of one rollout share, over the
 * rollout's plain state: its log, which devices count as fresh, the rollout order, the assignment of a stage's
 * cohort, the confirmation deadline of an assigned device (re-publish, then fail) and the failure budget. Pure: no
 * I/O, no timers; every method takes the time.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_FRESH_MS } from './rollout-spec.ts';
import type {
  Assignment,
  DeviceRolloutState,
  FleetDevice,
  RolloutAction,
  RolloutState,
  ShadowDeviceState,
} from './rollout-state.ts';

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

/** Whether the device's status names `version` of `model` among the models it runs. */
export function runsVersion(fd: FleetDevice | undefined, model: string, version: string | undefined): boolean {
  return !!fd && version !== undefined && fd.models.some((m) => m.name === model && m.version === version);
}

/** A canary entry (DeviceEntry) or a shadow entry (ShadowEntry), as far as the bookkeeping both share goes. */
type AnyAssignment = Assignment<DeviceRolloutState | ShadowDeviceState>;

/** A new assignment at `now`: published once, confirmed within the spec's deviceTimeoutMs. */
export interface NewAssignment {
  state: 'assigned';
  attempts: 1;
  assignedAt: number;
  deadline: number;
  updatedAt: number;
}

/** The failed share of the entries when it is over maxFailurePct (undefined: within the budget). */
export function overBudget(
  entries: ReadonlyArray<AnyAssignment>,
  maxFailurePct: number,
): { failed: number; total: number } | undefined {
  const failed = entries.filter((e) => e.state === 'failed').length;
  const total = entries.length;
  return total > 0 && (failed / total) * 100 > maxFailurePct ? { failed, total } : undefined;
}

export class RolloutCohort {
  readonly #s: RolloutState;
  readonly #hashes = new Map<string, number>();

  constructor(state: RolloutState) {
    this.#s = state;
  }

  get state(): RolloutState {
    return this.#s;
  }

  log(at: number, msg: string): void {
    const log = this.#s.log;
    log.push({ at, msg });
    if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
  }

  /** Online and heard from within the spec's freshness window (a retained status can be days old). */
  fresh(fd: FleetDevice | undefined, now: number): boolean {
    return !!fd && fd.online && now - fd.lastSeen <= (this.#s.spec.freshMs ?? DEFAULT_FRESH_MS);
  }

  /** Whether the device runs `version` of the rollout's model. */
  runs(fd: FleetDevice | undefined, version: string | undefined): boolean {
    return runsVersion(fd, this.#s.spec.model, version);
  }

  /** Whether any device of `devices` in `state` is fresh now. */
  anyFresh(
    devices: Readonly<Record<string, AnyAssignment>>,
    state: AnyAssignment['state'],
    fleet: ReadonlyMap<string, FleetDevice>,
    now: number,
  ): boolean {
    return Object.entries(devices).some(([id, e]) => e.state === state && this.fresh(fleet.get(id), now));
  }

  /**
   * Population in rollout order: the devices already assigned plus those that are fresh now (hashes are memoised:
   * sha256 per device per tick dominated large fleets).
   */
  population(fleet: ReadonlyMap<string, FleetDevice>, now: number): string[] {
    const s = this.#s;
    const ids = (s.spec.devices ?? [...fleet.keys()]).filter((id) => s.devices[id] || this.fresh(fleet.get(id), now));
    const model = s.spec.model;
    const h = this.#hashes;
    for (const id of ids) if (!h.has(id)) h.set(id, deviceHash(model, id));
    return ids.sort((a, b) => h.get(a)! - h.get(b)! || (a < b ? -1 : 1));
  }

  /** Rollout order of two devices the population has placed (one it has not seen sorts first). */
  compare(a: string, b: string): number {
    const h = this.#hashes;
    return (h.get(a) ?? 0) - (h.get(b) ?? 0) || (a < b ? -1 : 1);
  }

  /**
   * Assign devices in rollout order until `percent` of the population is covered, each entry made by `make` and
   * announced by the action `publish` returns; `take()` says whether one more may be assigned now (a rate limit).
   * Returns the stage's target and how many devices it has assigned.
   */
  assign<E>(
    devices: Record<string, E>,
    percent: number,
    fleet: ReadonlyMap<string, FleetDevice>,
    now: number,
    o: { make: (a: NewAssignment) => E; publish: (deviceId: string) => RolloutAction; take?: () => boolean },
    actions: RolloutAction[],
  ): { target: number; assigned: number } {
    const population = this.population(fleet, now);
    const target = stageTarget(percent, population.length);
    let assigned = Object.keys(devices).length;
    for (const id of population) {
      if (assigned >= target) break;
      if (devices[id]) continue;
      if (o.take && !o.take()) break;
      const deadline = now + this.#s.spec.deviceTimeoutMs;
      devices[id] = o.make({ state: 'assigned', attempts: 1, assignedAt: now, deadline, updatedAt: now });
      assigned++;
      actions.push(o.publish(id));
    }
    return { target, assigned };
  }

  /**
   * The confirmation deadline of an assigned device. Offline or silent, the retained assignment waits for it: the
   * deadline moves on, as the timeout runs only while the device reports. Past the deadline, the assignment is
   * published again (`o.republish`, up to the spec's retries), then the device counts as failed; `o.retried` (given
   * the attempt it starts) and `o.failed` (given the attempts made) say why in the log.
   */
  chase(
    id: string,
    e: AnyAssignment,
    fd: FleetDevice | undefined,
    now: number,
    o: { republish: RolloutAction; retried: (attempt: number) => string; failed: (attempts: number) => string },
    actions: RolloutAction[],
  ): void {
    const spec = this.#s.spec;
    if (e.state !== 'assigned') return;
    if (!this.fresh(fd, now)) {
      e.deadline = Math.max(e.deadline, now + spec.deviceTimeoutMs);
      return;
    }
    if (now < e.deadline) return;
    if (e.attempts <= spec.retries) {
      e.attempts++;
      e.deadline = now + spec.deviceTimeoutMs;
      e.updatedAt = now;
      this.log(now, `${id} ${o.retried(e.attempts)}`);
      actions.push(o.republish);
    } else {
      e.state = 'failed';
      e.reason = o.failed(e.attempts);
      e.updatedAt = now;
      this.log(now, `${id} ${e.reason}`);
    }
  }
}
