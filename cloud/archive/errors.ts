/** Error codes of the raw archive (cloud/archive/): the Parquet archive of every accepted device message. */
export const ARCHIVE_ERROR_CODES = {
  EL_ERR_ARCHIVE_WRITE:
    'The raw archive could not write or commit a Parquet file (its rows stay buffered and are retried; after a crash they are read again from the stream checkpoint).',
  EL_ERR_ARCHIVE_COMMIT:
    "The raw archive's _commit.json is unreadable or malformed (the archive refuses to start rather than guess which files and stream positions are committed).",
} as const satisfies Record<string, string>;
