/** Error codes raised by the edge agent (agent/ except model-updater/; the transports are in transport/). */
export const AGENT_ERROR_CODES = {
  EL_ERR_OUTBOX_FULL:
    'The outbox refuses new records (HTTP 507): it is at its byte bound with only events left (events are never dropped), or its volume would keep less than outbox.minFreeBytes free (or is full). Accepted again once delivered records free space.',
  EL_ERR_OUTBOX_CORRUPT:
    'The outbox file failed its integrity check at open (or SQLite found it malformed): it was renamed <path>.corrupt-<timestamp>, what was readable was copied into a fresh outbox, and the agent runs on.',
  EL_ERR_OUTBOX_SEQ_ROLLBACK:
    'The outbox seq counter was below its high-water mark file at open: committed transactions were lost (a deleted or lost WAL). Seqs continue above the mark so none is reused; the lost readings are gone.',
  EL_ERR_OUTBOX_SCHEMA:
    'The outbox database was written by a newer agent (unknown schema version) or is not an outbox.',
  EL_ERR_READING_INVALID: 'An input reading or line is malformed; the message names the field and the reason.',
  EL_ERR_AGENT_STOPPING: 'The agent is stopping (or stopped) and no longer accepts readings.',
  EL_ERR_AGENT_SOURCE:
    'A reading source could not start (port in use, socket path taken, CSV file unreadable or malformed header).',
  EL_ERR_AGENT_MODEL_DIR: 'The configured model directory has no readable manifest.json or model file.',
} as const satisfies Record<string, string>;
