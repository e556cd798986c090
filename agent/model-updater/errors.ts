/** Error codes of the device-side model updater (agent/model-updater/). */
export const MODEL_UPDATER_ERROR_CODES = {
  EL_ERR_UPDATE_DOWNLOAD:
    'The model artifact could not be downloaded (HTTP error, size mismatch, connection lost after retries).',
  EL_ERR_UPDATE_REJECTED: 'A desired-model message was refused (invalid message, name mismatch, stale seq).',
  EL_ERR_UPDATE_LATENCY: 'The new model exceeded its latency budget (manifest.latencyBudgetMs, p95) and was reverted.',
} as const satisfies Record<string, string>;
