/**
 * Candidate entry: how the retraining loop asks for a rollout. A candidate (model, version, how it is approved,
 * the version it was trained from) becomes a rollout spec whose first stage is a shadow: the spec's own shadow
 * settings, or the defaults when it names none. Pure: the controller starts the rollout from the spec.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { RolloutSpecInput } from './rollout-spec.ts';

/** Start a rollout for a retraining candidate: a shadow stage first, then the staged rollout. */
export interface CandidateInput {
  model: string;
  version: string;
  /** auto: go on when the shadow passes; manual: wait for `rollout approve` */
  approve: 'auto' | 'manual';
  /** the version it was trained from */
  parent?: string;
  /** anything else of the rollout spec (stages, gates, shadow settings, ...) */
  spec?: Omit<RolloutSpecInput, 'model' | 'version' | 'approve' | 'parent'>;
}

/** The rollout spec of a candidate; throws EL_ERR_ROLLOUT_SPEC on a malformed candidate. */
export function candidateSpec(c: CandidateInput): RolloutSpecInput {
  if (!c || typeof c !== 'object')
    throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', 'candidate: expected { model, version, approve }');
  if (c.approve !== 'auto' && c.approve !== 'manual')
    throw new EdgeloopError(
      'EL_ERR_ROLLOUT_SPEC',
      `candidate approve: expected "auto" or "manual", got ${JSON.stringify(c.approve)}`,
    );
  const extra = c.spec ?? {};
  return {
    ...extra,
    model: c.model,
    version: c.version,
    shadow: extra.shadow === undefined || extra.shadow === false ? true : extra.shadow,
    approve: c.approve,
    ...(c.parent !== undefined ? { parent: c.parent } : {}),
  };
}
