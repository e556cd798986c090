/**
 * How `rollout status` shows a rollout's stages: per stage, the devices it covers and assigned, how many are active,
 * failed or in flight, and each device's display state, in rollout order. Pure: reads the state, changes nothing.
 */
import { type RolloutCohort, stageTarget } from './rollout-cohort.ts';
import type { DeviceDisplayState, DeviceEntry, FleetDevice, StageProgress } from './rollout-state.ts';

/** How `rollout status` shows one device of the rollout. */
function display(c: RolloutCohort, e: DeviceEntry, fd: FleetDevice | undefined, now: number): DeviceDisplayState {
  if (e.state === 'active') return 'active';
  if (e.state === 'failed' || e.state === 'unconfirmed') return 'failed';
  if (e.state === 'reverted') return 'reverted';
  if (!c.fresh(fd, now)) return 'offline';
  if (e.state === 'reverting') return 'pending';
  return e.progress && e.progress !== 'received' ? 'downloading' : 'pending';
}

/** Per-stage progress for status displays. */
export function stageProgress(c: RolloutCohort, fleet: ReadonlyMap<string, FleetDevice>, now: number): StageProgress[] {
  const s = c.state;
  const n = Math.max(c.population(fleet, now).length, Object.keys(s.devices).length);
  return s.spec.stages.map((percent, i) => {
    const own = Object.entries(s.devices).filter(([, e]) => e.stage === i);
    const es = own.map(([, e]) => e);
    const devices = own
      .sort(([a], [b]) => c.compare(a, b))
      .map(([deviceId, e]) => ({
        deviceId,
        state: display(c, e, fleet.get(deviceId), now),
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
