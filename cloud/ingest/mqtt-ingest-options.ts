/**
 * The MqttIngestClient's options: one lib/options.ts schema with what each option means and its default (an
 * unknown option is refused with a suggestion, a bad value names the field; EL_ERR_INVALID_ARGUMENT). The cloud
 * config's `broker.external` section is built from its fields.
 */
import { z } from 'zod';
import type { Logger } from '../../lib/logger.ts';
import { dependency, optionRuleError, optionsParser } from '../../lib/options.ts';
import type { AcceptInput, IngestOutcome } from './ingest-options.ts';

const W = 'MqttIngestClient';
const CODE = 'EL_ERR_INVALID_ARGUMENT';

export const MqttIngestClientOptionsSchema = z.strictObject({
  /** broker URL, e.g. mqtt://broker:1883, mqtts://xxx-ats.iot.eu-west-1.amazonaws.com:8883 */
  url: z
    .string({ error: 'required' })
    .regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'),
  username: z.string().optional(),
  password: z.string().optional(),
  /** client id base; connection i uses `${clientId}-${i}` when there are several */
  clientId: z.string().min(1).default('edgeloop-ingest'),
  /** TLS: CA, client certificate and key (PEM text) for mqtts:// */
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  /** MQTT 5 shared subscription group; null = plain subscriptions (brokers without $share, e.g. aedes) */
  sharedGroup: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .nullable()
    .default('edgeloop-ingest'),
  /** parallel connections (more than one needs a sharedGroup) */
  connections: z.number().int().min(1).max(64).default(1),
  /** MQTT 5 session expiry, s, so unacknowledged messages survive an ingest restart */
  sessionExpirySeconds: z.number().int().min(0).default(3600),
  /** 5, or 4 = MQTT 3.1.1 for brokers without MQTT 5 (aedes); 3.1.1 sessions persist until cleaned */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  topicPrefix: z.string().optional(),
  /** max time to wait for the first connection and subscription, ms */
  connectTimeoutMs: z.number().min(0).default(10_000),
  ingest: dependency<{ accept(msg: AcceptInput): Promise<IngestOutcome> }>('an Ingest'),
  logger: dependency<Logger>('a Logger').optional(),
});

export type MqttIngestClientOptions = z.input<typeof MqttIngestClientOptionsSchema>;
export type ResolvedMqttIngestClientOptions = Readonly<z.output<typeof MqttIngestClientOptionsSchema>>;

/** The defaults (the cloud config's `broker.external` section reads the ones it does not take as fields). */
export const MQTT_INGEST_DEFAULTS = Object.freeze(
  MqttIngestClientOptionsSchema.omit({ url: true, ingest: true }).parse({}),
);

const parse = optionsParser(MqttIngestClientOptionsSchema, { where: W, code: CODE });

/** Check `opts` (see the header) and fill in the defaults; frozen. */
export function resolveMqttIngestClientOptions(opts: MqttIngestClientOptions): ResolvedMqttIngestClientOptions {
  const o = parse(opts);
  if (o.sharedGroup === null && o.connections > 1) {
    throw optionRuleError(
      W,
      'connections',
      'connections > 1 needs a sharedGroup (otherwise every connection receives every message)',
      CODE,
    );
  }
  return Object.freeze(o);
}
