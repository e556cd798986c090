/** Error codes of the `edgeloop` command itself (see protocol/errors.ts for the scheme). */
export const CLI_ERROR_CODES = {
  EL_ERR_CLI_NO_STORE:
    'An inspection command (`edgeloop dlq`, `edgeloop features`) was pointed at a data directory that holds no such store: wrong --data-dir, or the cloud has not run there yet. Exit status 1.',
} as const satisfies Record<string, string>;
