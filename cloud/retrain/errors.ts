/** Error codes of the retraining job and the champion/challenger evaluation (cloud/retrain/). */
export const RETRAIN_ERROR_CODES = {
  EL_ERR_RETRAIN_CONFIG: 'The retrain configuration or a job parameter is invalid; the message names the field.',
  EL_ERR_RETRAIN_LOCKED:
    'Another retraining job holds the lock (at most one runs at a time); the message names the holder PID and command.',
  EL_ERR_RETRAIN_NO_CHAMPION:
    'The production model to replace (the registry alias the fleet runs) is not in the registry, so there is no window shape to train and nothing to compare with.',
  EL_ERR_RETRAIN_NO_DATA:
    'The selected range, cohort and exclusions leave too few rows or windows to train and hold out; the message gives the counts.',
  EL_ERR_RETRAIN_TRAIN:
    'The training child process failed or exited early; the message carries its error or exit status.',
  EL_ERR_RETRAIN_STORE: 'The retrain job store could not be opened (path, permissions, a newer schema version).',
  EL_ERR_RETRAIN_NOT_FOUND: 'The retraining job asked for is not in the job store.',
} as const satisfies Record<string, string>;
