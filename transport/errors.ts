/** Error codes raised by the agent's transports (MqttTransport, AwsIotTransport). See docs/transports.md. */
export const TRANSPORT_ERROR_CODES = {
  EL_ERR_TRANSPORT_OFFLINE:
    'publish() was called while the transport is not connected; nothing was sent (the caller keeps the data and retries after the next `connect` event).',
  EL_ERR_TRANSPORT_DISCONNECTED:
    'The connection dropped before the broker acknowledged the publish; it may or may not have arrived (the caller re-sends, ingest dedups).',
  EL_ERR_TRANSPORT_CLOSED: 'The transport was closed (or is closing) before the operation finished.',
  EL_ERR_TRANSPORT_TIMEOUT:
    'No PUBACK arrived within publishTimeoutMs (the connection is then dropped and re-established), or start() did not connect within startTimeoutMs.',
  EL_ERR_TRANSPORT_QUEUE_FULL:
    'Too many publishes are waiting for an in-flight slot or a rate token (maxWaiting); the publish was refused without being sent.',
  EL_ERR_TRANSPORT_REJECTED:
    'The broker refused a publish (MQTT 5 PUBACK reason code >= 0x80) or a subscription (SUBACK failure), e.g. not authorized by the policy.',
  EL_ERR_TRANSPORT_CONNECT:
    'The transport gave up connecting (reconnect.maxAttempts exhausted); the last connection error is the cause.',
} as const satisfies Record<string, string>;

export type TransportErrorCode = keyof typeof TRANSPORT_ERROR_CODES;
