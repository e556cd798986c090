/**
 * Ingest from an external broker (mosquitto, EMQX, AWS IoT Core, or another edgeloop broker) as an MQTT client.
 *
 * At-least-once: the client uses a persistent session (clean start off, MQTT 5 session expiry) and mqtt.js's
 * `handleMessage` hook: the PUBACK of each QoS 1 message is sent only after `ingest.accept()` resolved (the message
 * is in the stream, a known duplicate, or in the DLQ). (mqtt.js honours `customHandleAcks` only with MQTT 5;
 * `handleMessage` runs before the PUBACK with both 3.1.1 and 5.) If accept() rejects, no PUBACK is sent and the connection
 * is recycled, so the broker redelivers the message on the new connection.
 *
 * Scaling: mqtt.js handles a connection's messages one after another (the next is read after the PUBACK), so one
 * connection carries one stream put per message round trip. `connections` opens N clients; with shared
 * subscriptions (`$share/<group>/...`, MQTT 5: mosquitto ≥ 1.6, EMQX, HiveMQ, AWS IoT Core) the broker spreads
 * messages over them, and several ingest processes can share the group. Without shared subscriptions
 * (`sharedGroup: null`, e.g. aedes) use one connection, or every member receives every message (dedup keeps the
 * stream clean but the work is repeated).
 *
 * mosquitto: set `max_queued_messages 0` (or a large bound that you monitor) — the default of 1000 silently
 * drops QoS 1 messages to a subscriber that falls behind while still acknowledging the publisher.
 */
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Topics } from '../../protocol/topics.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import {
  resolveMqttIngestClientOptions,
  type MqttIngestClientOptions,
  type ResolvedMqttIngestClientOptions,
} from './mqtt-ingest-options.ts';

export type { MqttIngestClientOptions } from './mqtt-ingest-options.ts';

export interface MqttIngestStats {
  connections: number;
  connected: number;
  received: number;
  acked: number;
  refused: number;
  reconnects: number;
}

export class MqttIngestClient {
  readonly #o: ResolvedMqttIngestClientOptions;
  readonly #topics: Topics;
  readonly #log: Logger;
  readonly #clients: MqttClient[] = [];
  #state: 'new' | 'started' | 'closed' = 'new';
  readonly #s = { received: 0, acked: 0, refused: 0, reconnects: 0 };

  constructor(opts: MqttIngestClientOptions) {
    this.#o = resolveMqttIngestClientOptions(opts);
    this.#topics = new Topics(this.#o.topicPrefix);
    this.#log = this.#o.logger ?? silentLogger;
  }

  /** The subscriptions used (with the $share prefix when shared). */
  get subscriptions(): string[] {
    const g = this.#o.sharedGroup;
    return this.#topics.ingestSubscriptions().map((t) => (g ? `$share/${g}/${t}` : t));
  }

  async start(): Promise<void> {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', 'MqttIngestClient is closed');
    if (this.#state === 'started') return;
    this.#state = 'started';
    try {
      await Promise.all(Array.from({ length: this.#o.connections }, (_, i) => this.#connect(i)));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  stats(): MqttIngestStats {
    return {
      connections: this.#clients.length,
      connected: this.#clients.filter((c) => c.connected).length,
      ...this.#s,
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const clients = this.#clients.splice(0);
    // unacknowledged messages stay in the broker session and come back to the next ingest
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #connect(i: number): Promise<void> {
    const o = this.#o;
    const clientId = this.#o.connections === 1 ? this.#o.clientId : `${this.#o.clientId}-${i}`;
    const options: IClientOptions = {
      clientId,
      protocolVersion: this.#o.protocolVersion,
      clean: false,
      ...(this.#o.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: this.#o.sessionExpirySeconds, receiveMaximum: 1000 } }
        : {}),
      reconnectPeriod: 1000,
      connectTimeout: this.#o.connectTimeoutMs,
      resubscribe: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.cert ? { cert: o.cert } : {}),
      ...(o.key ? { key: o.key } : {}),
    };
    const client = mqtt.connect(this.#o.url, options);
    // mqtt.js sends a QoS 1 PUBACK only after handleMessage calls back (MQTT 3.1.1 and 5 alike; customHandleAcks
    // is honoured only with MQTT 5 and runs before it), so this is where the ingest runs.
    client.handleMessage = (packet, callback) => {
      const topic = packet.topic;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      this.#s.received++;
      o.ingest.accept({ topic, payload, clientId }).then(
        () => {
          this.#s.acked++;
          callback();
        },
        (err: Error) => {
          this.#s.refused++;
          this.#log.error({ err: err.message, topic }, 'ingest refused a message; reconnecting for redelivery');
          // no PUBACK: drop the connection so the broker redelivers from the session
          client.stream?.destroy();
          callback(err);
        },
      );
    };
    this.#clients.push(client);
    client.on('error', (err) => this.#log.warn({ clientId, err: err.message }, 'ingest mqtt client error'));
    client.on('reconnect', () => this.#s.reconnects++);
    let settle: { ok: () => void; fail: (err: Error) => void } | undefined;
    client.on('connect', (connack) => {
      // subscribe on every connect without a session (first connect, or session expired on the broker)
      if (!connack.sessionPresent) {
        client.subscribe(this.subscriptions, { qos: 1 }, (err, granted) => {
          const bad = granted?.filter((g) => g.qos >= 0x80) ?? [];
          if (err || bad.length > 0) {
            this.#log.error(
              { clientId, err: err?.message, refused: bad.map((b) => b.topic) },
              'ingest subscription refused',
            );
            settle?.fail(err ?? new Error(`subscription refused: ${bad.map((b) => b.topic).join(', ')}`));
          } else settle?.ok();
        });
      } else settle?.ok();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`no connection within ${this.#o.connectTimeoutMs} ms`)),
        this.#o.connectTimeoutMs,
      );
      const done = (): void => {
        clearTimeout(timer);
        settle = undefined;
        client.off('error', fail);
      };
      const ok = (): void => {
        done();
        resolve();
      };
      const fail = (err: Error): void => {
        done();
        reject(
          new EdgeloopError(
            'EL_ERR_INGEST_CONNECT',
            `ingest cannot connect/subscribe to ${this.#o.url}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      settle = { ok, fail };
      client.once('error', fail);
    });
  }
}
