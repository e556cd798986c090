/**
 * Transport: the owned interface between the agent and a broker. MqttTransport (mqtt.js, any broker) and
 * AwsIotTransport (aws-iot-device-sdk-v2 MQTT5, AWS IoT Core) implement it and pass one contract suite.
 * Vendor types stay inside the adapters.
 */
export interface TransportMessage {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1;
  retain?: boolean;
}

export interface TransportEvents {
  connect: [];
  /** connection lost or closed; the transport reconnects on its own with backoff unless closed */
  offline: [reason: string];
  message: [topic: string, payload: Buffer];
  error: [err: Error];
  /** a reconnect is scheduled in `delayMs` (backoff with full jitter); `attempt` counts from 0 since the last stable connection */
  reconnecting: [delayMs: number, attempt: number];
}

/** Counters of a transport, for health reports and tests. */
export interface TransportStats {
  /** publishes sent and not yet acknowledged */
  inFlight: number;
  /** publishes waiting for an in-flight slot or a rate token */
  waiting: number;
  /** publishes acknowledged since start */
  acked: number;
  /** publishes that failed (offline, disconnected, timeout, rejected, closed) */
  failed: number;
  /** successful connections since start (1 = never reconnected) */
  connects: number;
  /** reconnect attempts scheduled since the last stable connection */
  reconnectAttempt: number;
}

export interface Transport {
  readonly connected: boolean;
  /** Connect (resolves on first successful connection; keeps retrying with backoff in the background). */
  start(): Promise<void>;
  /** Disconnect cleanly (no last will), free every timer and socket. Idempotent. */
  close(): Promise<void>;
  /**
   * Publish; for QoS 1 resolves on PUBACK from the broker. Rejects if the connection drops before the ack
   * (the caller keeps the data and retries: nothing is deleted before an ack).
   */
  publish(msg: TransportMessage): Promise<void>;
  subscribe(topics: string[], qos: 0 | 1): Promise<void>;
  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this;
  off<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this;
}
