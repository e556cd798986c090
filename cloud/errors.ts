/**
 * Error codes of the cloud pipeline parts (broker, ingest, DLQ, stream, processor, feature store).
 * Shared by two owners: each adds codes only inside its own section below.
 */
export const CLOUD_ERROR_CODES = {
  // --- section: cloud ingest (broker, ingest, dlq, create-cloud) ---
  EL_ERR_BROKER_AUTH:
    'A client failed broker authentication (unknown user, wrong password, bad client certificate, or client id not equal to the device id).',
  EL_ERR_BROKER_NOT_AUTHORIZED:
    "A client published or subscribed to a topic it is not allowed to (another device's topic).",
  EL_ERR_BROKER_CREDENTIALS: 'The broker credentials file or a password hash is unreadable or malformed.',
  EL_ERR_BROKER_TLS: 'The TLS certificate, key or CA file of the embedded broker could not be read.',
  EL_ERR_BROKER_LISTEN: 'The embedded broker could not listen on its port (in use, no permission).',
  EL_ERR_BROKER_PROTOCOL:
    'The embedded broker (MQTT 3.1.1) refused a CONNECT for its protocol: MQTT 5 (CONNACK 0x84; use mosquitto or AWS IoT Core) or an empty client id with CleanSession=0 (CONNACK 0x02).',
  EL_ERR_INGEST_STREAM_PUT:
    'The stream rejected a batch after retries; the batch was not acknowledged upstream and will be redelivered.',
  EL_ERR_INGEST_CONNECT: 'The ingest could not connect or subscribe to the external MQTT broker.',
  EL_ERR_DLQ_OPEN: 'The dead-letter store could not be opened (path, permissions, newer schema).',
  EL_ERR_CLOUD_PART: 'A cloud part is unknown, not available in this build, or failed to start (the message names it).',
  // --- end section: cloud ingest ---
  // --- section: cloud stores (stream, processor, feature store, lambda) ---
  // --- end section: cloud stores ---
} as const satisfies Record<string, string>;
