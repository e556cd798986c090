/** Error codes of the shared helpers in lib/ (see protocol/errors.ts for the scheme). */
export const LIB_ERROR_CODES = {
  EL_ERR_USAGE:
    'A command-line flag or argument is wrong (unknown, missing a value, or a value out of range). The message reads `edgeloop <cmd>: --flag: what was wrong (expected …)`; the exit status is 2.',
  EL_ERR_DATA_DIR_LOCKED:
    'Another live process holds the data directory (its lock file names the PID and command). Stop that process, or give this one its own data directory.',
  EL_ERR_UNHANDLED_REJECTION:
    'A promise was rejected and nothing handled it: a bug. One-shot commands exit 1; long-running services (agent, cloud, up, recommend) log it and keep running.',
} as const satisfies Record<string, string>;
