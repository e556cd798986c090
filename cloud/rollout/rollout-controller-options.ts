/**
 * The rollout controller's options: one schema with the defaults (ROLLOUT_TIMING_DEFAULTS, which the rollout part's
 * config section reads too), checked with lib/options.ts: an unknown option is refused with a suggestion, a missing
 * part or a bad value names the field (EL_ERR_INVALID_ARGUMENT).
 */
import { z } from 'zod';
import { callback, clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import type { Topics } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';
import type { DesiredTarget, RolloutState } from './rollout-state.ts';
import type { RolloutOutcome } from './rollout-view.ts';

/** Where the controller gets a version's signed manifest and artifact URL (the registry). */
export interface ModelSource {
  resolve(name: string, ref: string): Promise<DesiredTarget>;
}

/** the controller's periodic tick and its discovery wait, ms (also the rollout part's config defaults) */
export const ROLLOUT_TIMING_DEFAULTS = Object.freeze({ tickMs: 1000, discoveryMs: 2000 });

export const RolloutControllerOptionsSchema = z.strictObject({
  /** a started or startable transport to the broker (the controller subscribes and publishes retained messages) */
  transport: dependency<Transport>('a Transport'),
  /** SQLite file of the rollout state */
  dbPath: z.string().min(1),
  models: dependency<ModelSource>('a ModelSource'),
  topics: dependency<Topics>('a Topics').optional(),
  /** named device groups for `--group` */
  groups: z.record(z.string(), z.array(z.string())).default({}),
  /** periodic tick, ms */
  tickMs: z.number().positive().default(ROLLOUT_TIMING_DEFAULTS.tickMs),
  /**
   * after subscribing, wait this long for the retained status and fleet messages before assigning anything or
   * starting a rollout (the fleet view and "previous" come from them), ms
   */
  discoveryMs: z.number().min(0).default(ROLLOUT_TIMING_DEFAULTS.discoveryMs),
  /** called when a rollout completes (the part moves the registry's `production` alias) */
  onCompleted: callback<(state: RolloutState) => void | Promise<void>>().optional(),
  /**
   * called when a rollout ends in any way (completed, aborted, rolled back) with its final state: status, reason,
   * the shadow figures and gates; the retraining history records why a candidate was not promoted from it
   */
  onEnded: callback<(outcome: RolloutOutcome) => void | Promise<void>>().optional(),
  ...clockAndLogger,
});

export type RolloutControllerOptions = z.input<typeof RolloutControllerOptionsSchema>;
export type ResolvedRolloutControllerOptions = z.output<typeof RolloutControllerOptionsSchema>;

export const resolveRolloutControllerOptions = optionsParser(RolloutControllerOptionsSchema, {
  where: 'RolloutController',
  code: 'EL_ERR_INVALID_ARGUMENT',
});
