/** MqttTransport's options: their schema and the mqtt.js client options built from them. Pure. */
import type { IClientOptions } from 'mqtt';
import { z } from 'zod';
import { bytes, commonShape, toBuffer } from './transport-options.ts';

const pem = z.union([z.string().min(1), bytes]);

export const MqttTlsSchema = z.strictObject({
  /** PEM of the CA(s) that signed the broker's certificate (default: Node's trust store) */
  ca: pem.optional(),
  /** PEM client certificate (mutual TLS, e.g. AWS IoT Core) */
  cert: pem.optional(),
  /** PEM private key of the client certificate */
  key: pem.optional(),
  rejectUnauthorized: z.boolean().optional(),
  /** SNI / name checked against the broker certificate when it differs from the URL host */
  servername: z.string().optional(),
});

export const MqttTransportOptionsSchema = z.strictObject({
  url: z
    .string()
    .refine((u) => /^(mqtts?|wss?):\/\/[^/]+/.test(u), 'url must be mqtt://, mqtts://, ws:// or wss:// with a host'),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: MqttTlsSchema.optional(),
  ...commonShape,
});

export type MqttTransportOutput = z.output<typeof MqttTransportOptionsSchema>;

/** mqtt.js options for a validated MqttTransportOptions: reconnects, resubscription and queueing are ours. */
export function mqttClientOptions(o: MqttTransportOutput): IClientOptions {
  const v5 = o.protocolVersion === 5;
  const opts: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion ?? 4,
    clean: o.clean ?? false,
    keepalive: o.keepaliveSeconds ?? 60,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    // ours: backoff with full jitter instead of mqtt.js's fixed period
    reconnectPeriod: 0,
    // ours: subscriptions are restored by us after every reconnect
    resubscribe: false,
    // no silent offline queue: we never call publish() offline; QoS 0 must not be parked either
    queueQoSZero: false,
    manualConnect: false,
    // mqtt-packet otherwise pre-builds 65,536 two-byte Buffers for message ids and lengths: ~6 MB of V8 heap,
    // half of what the rest of the agent keeps live; a packet's few header bytes are cheap to build per publish
    writeCache: false,
  };
  if (v5) opts.properties = { sessionExpiryInterval: o.clean ? 0 : (o.sessionExpirySeconds ?? 3600) };
  if (o.username !== undefined) opts.username = o.username;
  if (o.password !== undefined) opts.password = o.password;
  if (o.will) {
    opts.will = {
      topic: o.will.topic,
      payload: toBuffer(o.will.payload),
      qos: o.will.qos ?? 1,
      retain: o.will.retain ?? true,
    };
  }
  if (o.tls) {
    if (o.tls.ca !== undefined) opts.ca = toBuffer(o.tls.ca);
    if (o.tls.cert !== undefined) opts.cert = toBuffer(o.tls.cert);
    if (o.tls.key !== undefined) opts.key = toBuffer(o.tls.key);
    if (o.tls.rejectUnauthorized !== undefined) opts.rejectUnauthorized = o.tls.rejectUnauthorized;
    if (o.tls.servername !== undefined) opts.servername = o.tls.servername;
  }
  return opts;
}
