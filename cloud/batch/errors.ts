/** Error codes of the batch jobs (cloud/batch/, `edgeloop batch`): the backfill and the daily DAG. */
export const BATCH_ERROR_CODES = {
  EL_ERR_BATCH_RANGE:
    'A backfill range or a DAG date is malformed: --from/--to must be UTC days (YYYY-MM-DD or an ISO time at midnight) with from before to.',
  EL_ERR_BATCH_INVALID: 'A batch option is invalid (unit size, skew factor, parallelism, schedule, a task name).',
  EL_ERR_BATCH_NO_DATA:
    'The raw archive holds no readings for the backfill range (or for the devices asked for): nothing to recompute.',
  EL_ERR_BATCH_UNIT_FAILED:
    'Units of a backfill still failed after their retries; the days they belong to were not committed (the rest were). Run the same command again to resume.',
  EL_ERR_BATCH_TASK_FAILED:
    'A task of the daily DAG failed; its dependents did not run. `edgeloop batch status` shows the error; `edgeloop batch run` again resumes from that task.',
  EL_ERR_BATCH_STATE:
    'The batch state database (<dataDir>/batch/batch.db: checkpoints and run log) could not be opened or has a newer schema.',
} as const satisfies Record<string, string>;
