/** Error codes of the drift monitors (cloud/drift/). */
export const DRIFT_ERROR_CODES = {
  EL_ERR_DRIFT_REFERENCE:
    'A drift reference set is malformed (schema, unsorted values, a feature without finite values); the message names the field.',
  EL_ERR_DRIFT_STORE:
    'The drift store could not be opened (path, permissions, a schema version newer than this build).',
  EL_ERR_DRIFT_CONFIG: 'The drift part configuration is invalid; the message names the field.',
} as const satisfies Record<string, string>;
