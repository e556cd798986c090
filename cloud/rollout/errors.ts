/** Error codes of the rollout controller (cloud/rollout/). */
export const ROLLOUT_ERROR_CODES = {
  EL_ERR_ROLLOUT_SPEC: 'A rollout specification is invalid (stages, bake time, max failures, gate, rate, device list).',
  EL_ERR_ROLLOUT_GATE: 'A gate expression does not parse (expected METRIC<=FACTORx or METRIC<=VALUE).',
  EL_ERR_ROLLOUT_ACTIVE: 'A rollout for this model is already running; abort or finish it first.',
  EL_ERR_ROLLOUT_NOT_FOUND: 'No rollout with this id (or no rollout for this model).',
  EL_ERR_ROLLOUT_STATE:
    "The operation is not allowed in the rollout's current state (for example promote after abort).",
  EL_ERR_ROLLOUT_HTTP:
    'The rollout controller HTTP API answered with an error (the message carries its status and reason).',
} as const satisfies Record<string, string>;
