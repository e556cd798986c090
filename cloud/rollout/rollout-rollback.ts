/**
 * The rollback path of a rollout (`rolling-back` → `rolled-back`): the previous manifest is re-published to every
 * device the rollout touched, a positive instruction each device confirms by running the previous version again;
 * then its per-device retained message is cleared so it follows the fleet manifest again. With nothing to go back
 * to, the overrides are cleared and devices keep what they run. Pure: no I/O, no timers.
 */
import type { RolloutCohort } from './rollout-cohort.ts';
import type { FleetDevice, RolloutAction } from './rollout-state.ts';

/** Start rolling back: every device the rollout touched is sent the previous manifest (or, none, its override is cleared). */
export function startRollback(c: RolloutCohort, now: number, reason: string, actions: RolloutAction[]): void {
  const s = c.state;
  s.status = 'rolling-back';
  s.reason = reason;
  c.log(now, `rolling back: ${reason}`);
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

/**
 * One tick of the rollback: a device that runs the previous version again is reverted and its override cleared; one
 * that does not within deviceTimeoutMs (while online) is sent the previous manifest again, up to the spec's retries,
 * then stays unconfirmed. With none pending, the rollout is rolled back.
 */
export function tickRollback(
  c: RolloutCohort,
  now: number,
  fleet: ReadonlyMap<string, FleetDevice>,
  actions: RolloutAction[],
): void {
  const s = c.state;
  let pending = 0;
  for (const [id, e] of Object.entries(s.devices)) {
    const fd = fleet.get(id);
    if (e.state === 'reverting') {
      if (c.runs(fd, s.previous?.version)) e.state = 'reverted';
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
          c.log(now, `${id}: ${e.reason}`);
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
    c.log(now, `rolled back to ${s.previous?.version ?? '(nothing: overrides cleared)'}`);
  }
  s.updatedAt = now;
}
