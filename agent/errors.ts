/** Error codes raised by the edge agent (agent/ except transport/ and model-updater/). */
export const AGENT_ERROR_CODES = {
  EL_ERR_OUTBOX_FULL:
    'The outbox is at its byte bound and only events are left in it: new telemetry is refused (events are never dropped) until the outbox drains.',
  EL_ERR_OUTBOX_SCHEMA: 'The outbox database was written by a newer agent (unknown schema version) or is not an outbox.',
  EL_ERR_READING_INVALID: 'An input reading or line is malformed; the message names the field and the reason.',
  EL_ERR_AGENT_STOPPING: 'The agent is stopping (or stopped) and no longer accepts readings.',
  EL_ERR_AGENT_SOURCE: 'A reading source could not start (port in use, socket path taken, CSV file unreadable or malformed header).',
  EL_ERR_AGENT_MODEL_DIR: 'The configured model directory has no readable manifest.json or model file.',
} as const satisfies Record<string, string>;
