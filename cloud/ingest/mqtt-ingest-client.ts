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
import { checkKnownOptions } from '../../lib/options.ts';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Topics } from '../../protocol/topics.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { AcceptInput, IngestOutcome } from './ingest.ts';

export interface MqttIngestClientOptions {
  /** broker URL, e.g. mqtt://broker:1883, mqtts://xxx-ats.iot.eu-west-1.amazonaws.com:8883 */
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  /** client id base; connection i uses `${clientId}-${i}`; default edgeloop-ingest */
  clientId?: string;
  /** TLS: CA, client certificate and key (PEM text) for mqtts:// */
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** shared subscription group, or null for plain subscriptions; default 'edgeloop-ingest' */
  sharedGroup?: string | null;
  /** parallel connections; default 1 */
  connections?: number;
  /** MQTT 5 session expiry (s) so unacknowledged messages survive an ingest restart; default 3600 */
  sessionExpirySeconds?: number;
  /** 5 (default) or 4 = MQTT 3.1.1 for brokers without MQTT 5 (aedes); 3.1.1 sessions persist until cleaned */
  protocolVersion?: 4 | 5;
  topicPrefix?: string;
  /** max time to wait for the first connection and subscription, ms; default 10000 */
  connectTimeoutMs?: number;
  ingest: { accept(msg: AcceptInput): Promise<IngestOutcome> };
  logger?: Logger;
}

export interface MqttIngestStats {
  connections: number;
  connected: number;
  received: number;
  acked: number;
  refused: number;
  reconnects: number;
}

const KNOWN = new Set([
  'url',
  'username',
  'password',
  'clientId',
  'ca',
  'cert',
  'key',
  'sharedGroup',
  'connections',
  'sessionExpirySeconds',
  'protocolVersion',
  'topicPrefix',
  'connectTimeoutMs',
  'ingest',
  'logger',
]);

export class MqttIngestClient {
  readonly #o: Required<
    Pick<MqttIngestClientOptions, 'url' | 'clientId' | 'connections' | 'sessionExpirySeconds' | 'connectTimeoutMs'>
  > & {
    sharedGroup: string | null;
    protocolVersion: 4 | 5;
  };
  readonly #opts: MqttIngestClientOptions;
  readonly #topics: Topics;
  readonly #log: Logger;
  readonly #clients: MqttClient[] = [];
  #state: 'new' | 'started' | 'closed' = 'new';
  readonly #s = { received: 0, acked: 0, refused: 0, reconnects: 0 };

  constructor(opts: MqttIngestClientOptions) {
    checkKnownOptions('MqttIngestClient', opts, KNOWN, 'EL_ERR_INVALID_ARGUMENT');
    if (typeof opts.url !== 'string' || !/^(mqtts?|wss?|tcp|ssl):\/\//.test(opts.url)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `MqttIngestClient: url must be mqtt://, mqtts://, ws:// or wss://, got ${JSON.stringify(opts.url)}`,
      );
    }
    if (!opts.ingest) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'MqttIngestClient: ingest is required');
    const connections = opts.connections ?? 1;
    if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `MqttIngestClient: connections must be 1-64, got ${connections}`,
      );
    }
    const sharedGroup = opts.sharedGroup === undefined ? 'edgeloop-ingest' : opts.sharedGroup;
    if (sharedGroup !== null && !/^[A-Za-z0-9_.-]+$/.test(sharedGroup)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `MqttIngestClient: sharedGroup must be [A-Za-z0-9_.-]+ or null, got ${JSON.stringify(sharedGroup)}`,
      );
    }
    if (sharedGroup === null && connections > 1) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        'MqttIngestClient: connections > 1 needs a sharedGroup (otherwise every connection receives every message)',
      );
    }
    this.#o = Object.freeze({
      url: opts.url,
      clientId: opts.clientId ?? 'edgeloop-ingest',
      connections,
      sessionExpirySeconds: opts.sessionExpirySeconds ?? 3600,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      sharedGroup,
      protocolVersion: opts.protocolVersion ?? 5,
    });
    if (this.#o.protocolVersion !== 4 && this.#o.protocolVersion !== 5) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `MqttIngestClient: protocolVersion must be 4 or 5, got ${opts.protocolVersion}`,
      );
    }
    this.#opts = opts;
    this.#topics = new Topics(opts.topicPrefix);
    this.#log = opts.logger ?? silentLogger;
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
    const o = this.#opts;
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
