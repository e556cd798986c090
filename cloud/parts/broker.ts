import { Counter, Gauge, type Registry } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import { loadCredentialsFile } from '../broker/credentials.ts';
import { EmbeddedBroker } from '../broker/embedded-broker.ts';
import type { CloudContext, CloudPart } from './context.ts';
import { dlqPart } from './dlq.ts';
import { ingestPart } from './ingest.ts';

/**
 * The embedded MQTT broker (aedes) with per-device authentication. When the ingest runs, the broker ingests inside
 * its publish path (a device's PUBACK waits for the stream); refused publishes go to the dead-letter store.
 */
export const brokerPart = definePart({
  name: 'broker',
  enabled: (ctx: CloudContext) => ctx.config.broker.mode === 'embedded',
  requires: { dlq: dlqPart },
  optional: { ingest: ingestPart },
  create: ({ dlq, ingest }, ctx: CloudContext): CloudPart<EmbeddedBroker> => {
    const c = ctx.config.broker.embedded;
    const broker = new EmbeddedBroker({
      host: c.host,
      port: c.port,
      tls: c.tls
        ? {
            port: c.tls.port,
            cert: c.tls.certFile,
            key: c.tls.keyFile,
            ca: c.tls.caFile,
            requireClientCert: c.tls.requireClientCert,
          }
        : undefined,
      ...(c.credentialsFile ? { credentials: loadCredentialsFile(c.credentialsFile) } : {}),
      allowAnonymous: c.allowAnonymous,
      insecure: c.insecure,
      loginRateLimit: c.loginRateLimit,
      requireClientIdMatch: c.requireClientIdMatch,
      requireRegisteredDevices: c.requireRegisteredDevices,
      unauthorizedPublish: c.unauthorizedPublish,
      drainTimeoutMs: c.drainTimeoutMs,
      topicPrefix: ctx.config.topicPrefix,
      ingest: ingest?.instance,
      onRefused: (d) => dlq.instance.add(d),
      logger: ctx.logger.child({ part: 'broker' }),
    });
    registerBrokerMetrics(ctx.registry, broker);
    return {
      name: 'broker',
      instance: broker,
      start: () => broker.start(),
      close: () => broker.close(),
      health: () => ({ ok: broker.url !== undefined || broker.tlsUrl !== undefined, ...broker.stats() }),
    };
  },
});

function registerBrokerMetrics(registry: Registry, broker: EmbeddedBroker): void {
  const keys = [
    ['messagesIn', 'edgeloop_broker_messages_in_total', 'PUBLISH packets received from clients.'],
    ['messagesOut', 'edgeloop_broker_messages_out_total', 'Messages forwarded to subscribers.'],
    ['bytesIn', 'edgeloop_broker_bytes_in_total', 'Payload bytes received.'],
    ['authFailures', 'edgeloop_broker_auth_failures_total', 'Refused connections (authentication).'],
    ['refusedPublishes', 'edgeloop_broker_refused_publishes_total', 'Unauthorised publishes (dead-lettered).'],
    [
      'refusedSubscriptions',
      'edgeloop_broker_refused_subscriptions_total',
      'Unauthorised subscriptions (SUBACK 0x80).',
    ],
    [
      'ingestRefusals',
      'edgeloop_broker_ingest_refusals_total',
      'Messages not acknowledged because the ingest could not store them.',
    ],
    [
      'loginsRateLimited',
      'edgeloop_broker_logins_rate_limited_total',
      'Connections refused unchecked: their address or username was locked out.',
    ],
    [
      'loginLockouts',
      'edgeloop_broker_login_lockouts_total',
      'Addresses or usernames locked out after repeated failed logins.',
    ],
    [
      'protocolRefusals',
      'edgeloop_broker_protocol_refusals_total',
      'CONNECTs refused for their protocol (MQTT 5, empty client id with CleanSession=0).',
    ],
  ] as const;
  for (const [key, name, help] of keys) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(broker.stats()[key]);
      },
    });
  }
  new Gauge({
    name: 'edgeloop_broker_connected_clients',
    help: 'Connected MQTT clients.',
    registers: [registry],
    collect() {
      this.set(broker.stats().connectedClients);
    },
  });
  new Gauge({
    name: 'edgeloop_broker_connected_devices',
    help: 'Connected devices.',
    registers: [registry],
    collect() {
      this.set(broker.stats().connectedDevices);
    },
  });
}
