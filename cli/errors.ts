/**
 * Error codes of the `edgeloop` command (see protocol/errors.ts for the scheme), including those raised by the
 * command-line helpers in lib/ (lib/cli-errors.ts, lib/data-dir-lock.ts) and cli/unhandled-rejections.ts.
 */
export const CLI_ERROR_CODES = {
  EL_ERR_USAGE:
    'A command-line flag or argument is wrong (unknown, missing a value, or a value out of range). The message reads `edgeloop <cmd>: --flag: what was wrong (expected …)`; the exit status is 2.',
  EL_ERR_DATA_DIR_LOCKED:
    'Another live process holds the data directory (its lock file names the PID and command). Stop that process, or give this one its own data directory.',
  EL_ERR_UNHANDLED_REJECTION:
    'A promise was rejected and nothing handled it: a bug. One-shot commands exit 1; long-running services (agent, cloud, up, recommend, registry/rollout serve) log it and keep running.',
  EL_ERR_CLI_NO_STORE:
    'An inspection command (`edgeloop dlq`, `edgeloop features`) was pointed at a data directory that holds no such store: wrong --data-dir, or the cloud has not run there yet. Exit status 1.',
} as const satisfies Record<string, string>;
