/**
 * Waiting for a rollout to reach a status (tests, scripts, `edgeloop up`'s loop): the view is checked now and on
 * every change the controller announces for that rollout, until it shows one of the statuses, ends in another,
 * or the time is up.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { TERMINAL_STATUSES, type RolloutStatus } from './rollout-state.ts';
import type { RolloutView } from './rollout-view.ts';

/** What the wait reads of the controller. */
export interface WatchedRollouts {
  view(ref: string): RolloutView;
  onChange(listener: (rolloutId: string) => void): () => void;
}

/** Resolve with the view once the rollout is in one of `statuses`; reject with EL_ERR_TIMEOUT otherwise. */
export function waitForStatus(
  rollouts: WatchedRollouts,
  ref: string,
  statuses: RolloutStatus[],
  timeoutMs: number,
): Promise<RolloutView> {
  const id = rollouts.view(ref).id;
  return new Promise<RolloutView>((resolve, reject) => {
    const check = (): boolean => {
      const v = rollouts.view(id);
      if (statuses.includes(v.status)) {
        done();
        resolve(v);
        return true;
      }
      if (TERMINAL_STATUSES.has(v.status)) {
        done();
        reject(
          new EdgeloopError(
            'EL_ERR_TIMEOUT',
            `rollout ${v.id} ended ${v.status}${v.reason ? ` (${v.reason})` : ''}, waited for ${statuses.join('|')}`,
          ),
        );
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => {
      done();
      const v = rollouts.view(id);
      reject(
        new EdgeloopError(
          'EL_ERR_TIMEOUT',
          `rollout ${v.id} is ${v.status}${v.reason ? ` (${v.reason})` : ''} after ${timeoutMs} ms, waited for ${statuses.join('|')}`,
        ),
      );
    }, timeoutMs);
    const off = rollouts.onChange((changed) => {
      if (changed === id) check();
    });
    const done = (): void => {
      clearTimeout(timer);
      off();
    };
    check();
  });
}
