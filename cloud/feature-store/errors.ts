/** Error codes of the feature-store part (cloud/feature-store/): SQLite online store, Parquet offline store, SageMaker adapter. */
export const FEATURE_STORE_ERROR_CODES = {
  EL_ERR_FEATURE_RECORD_INVALID:
    'A feature record is malformed: empty entity id, event time not a finite ms timestamp, a feature value that is not a finite number, string or null.',
  EL_ERR_FEATURE_NAME_INVALID:
    'A feature group or feature name does not match [a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63} (the SageMaker rule, enforced by every store).',
  EL_ERR_FEATURE_STORE_NOT_STARTED: 'A feature store was used before start() resolved.',
  EL_ERR_FEATURE_STORE_SCHEMA: 'The feature store database has a newer schema version than this edgeloop understands.',
  EL_ERR_FEATURE_STORE_BACKEND:
    'The feature store backend (SageMaker Feature Store API) failed a request after retries.',
  EL_ERR_FEATURE_GROUP_NOT_FOUND: 'The feature group does not exist in SageMaker Feature Store (ResourceNotFound).',
  EL_ERR_OFFLINE_STORE_WRITE:
    'The Parquet offline store could not write or rename a part file (rows stay buffered for the next flush).',
  EL_ERR_OFFLINE_STORE_COMMIT:
    "A feature group's _commit.json in the Parquet offline store is unreadable or malformed (the store refuses to start rather than guess which files and stream positions are committed).",
} as const satisfies Record<string, string>;
