/**
 * MqttTransport: the Transport over mqtt.js v5, for any MQTT 3.1.1 / 5 broker (mosquitto, EMQX, aedes, AWS IoT
 * Core over mqtts with X.509 client certificates).
 *
 * Semantics (docs/transports.md):
 * - publish() resolves on PUBACK (QoS 1) or once written (QoS 0); it rejects with EL_ERR_TRANSPORT_OFFLINE when
 *   called offline and with EL_ERR_TRANSPORT_DISCONNECTED when the connection drops before the ack. Nothing is
 *   queued offline inside mqtt.js and nothing un-acked is re-sent by it after a reconnect: the caller's outbox is
 *   the only queue, so a message is never both "failed" for the caller and silently delivered later by us.
 * - At most maxInFlight publishes wait for their PUBACK; more wait in a bounded FIFO (maxWaiting) for a slot and,
 *   with publishRatePerSecond > 0, for a token of the rate cap.
 * - mqtt.js's fixed-period reconnect is off (reconnectPeriod 0); we reconnect with exponential backoff and full
 *   jitter, and reset the backoff once a connection stayed up for stableAfterMs.
 * - Subscriptions are ours to restore: every topic ever subscribed is re-subscribed after each reconnect.
 */
import mqtt from 'mqtt';
import type { MqttClient, IClientPublishOptions, ISubscriptionGrant } from 'mqtt';
import type { z } from 'zod';
import { Backoff } from '../lib/backoff.ts';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { publishWithoutPayloadCopy } from './publish-without-copy.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import { DEFAULT_RECONNECT, INJECTED_KEYS, parseWith, publishGateFor, toBuffer } from './transport-options.ts';
import type { Transport, TransportMessage } from './transport.ts';
import { MqttTransportOptionsSchema, mqttClientOptions } from './mqtt-options.ts';
import { TransportBase } from './transport-base.ts';
import { subscribeBatches, type SendSubscribe } from './subscriptions.ts';

export type MqttTransportOptions = z.input<typeof MqttTransportOptionsSchema> & {
  /** timers for backoff, rate cap, publish timeouts (default: the system clock) */
  clock?: Clock;
  /** random source of the jitter (default Math.random) */
  random?: () => number;
  logger?: Logger;
};

export type { TransportStats } from './transport.ts';
export { MqttTlsSchema, MqttTransportOptionsSchema } from './mqtt-options.ts';

interface Pending {
  topic: string;
  payload: Buffer;
  opts: IClientPublishOptions;
  resolve: () => void;
  reject: (err: Error) => void;
  sentAt: number;
  done: boolean;
}

export class MqttTransport extends TransportBase<Pending> implements Transport {
  readonly options: Readonly<z.output<typeof MqttTransportOptionsSchema>>;
  readonly #backoff: Backoff;
  readonly #maxPayload: number;
  readonly #publishTimeoutMs: number;
  #client: MqttClient | undefined;
  #reconnectTimer: TimerHandle | undefined;
  #stableTimer: TimerHandle | undefined;
  #ackTimer: TimerHandle | undefined;

  constructor(options: MqttTransportOptions) {
    const o = parseWith(MqttTransportOptionsSchema, options, 'MqttTransport', INJECTED_KEYS);
    const clock = options.clock ?? systemClock;
    const log = (options.logger ?? silentLogger).child({ component: 'transport', kind: 'mqtt', clientId: o.clientId });
    super({ clock, log, clientId: o.clientId, target: o.url });
    this.options = Object.freeze(o);
    this.#backoff = new Backoff({ ...DEFAULT_RECONNECT, ...o.reconnect }, options.random);
    this.#maxPayload = o.maxPayloadBytes ?? 128 * 1024;
    this.#publishTimeoutMs = o.publishTimeoutMs ?? 30_000;
    // no rate cap by default: generic brokers do not throttle
    this.flight.attach(publishGateFor<Pending>(o, 0, clock, (p) => this.#send(p)));
  }

  protected get reconnectAttempt(): number {
    return this.#backoff.attempt;
  }

  protected override holdForStart(): void {
    this.#reconnectTimer?.ref?.();
  }

  protected retryAfterGivingUp(): void {
    this.conn.gaveUp = false;
    this.#backoff.reset();
    this.#client?.reconnect();
  }

  protected connect(): void {
    const conn = this.conn;
    conn.armStartTimeout(this.options.startTimeoutMs ?? 0);
    this.#client = mqtt.connect(this.options.url, mqttClientOptions(this.options));
    if (!publishWithoutPayloadCopy(this.#client)) {
      this.log.warn(
        'this mqtt.js is not the one transport/publish-without-copy.ts knows: QoS 1 payloads are copied into its outgoing store',
      );
    }
    this.#wire(this.#client);
  }

  #wire(client: MqttClient): void {
    client.on('connect', (connack) => this.#onConnect(connack.sessionPresent === true));
    client.on('close', () => this.#onClose());
    client.on('error', (err) => {
      // connection-level errors (refused, TLS, CONNACK refused) are followed by 'close'; we retry there
      this.conn.lastError = err;
      this.log.warn({ err: err.message }, 'mqtt connection error');
      this.conn.emitError(err);
    });
    client.on('message', (topic, payload) => this.emit('message', topic, payload));
  }

  #onConnect(sessionPresent: boolean): void {
    if (this.conn.closing) return;
    this.conn.markConnected({ url: this.options.url });
    const stable = this.options.stableAfterMs ?? 30_000;
    this.#stableTimer = this.clock.setTimeout(() => {
      this.#stableTimer = undefined;
      this.#backoff.reset();
    }, stable);
    this.#stableTimer.unref?.();
    this.subs.restore(sessionPresent, this.sendSubscribe);
    this.conn.announceConnected();
  }

  #onClose(): void {
    const conn = this.conn;
    const wasConnected = conn.connected;
    conn.connected = false;
    this.#clearTimer('stable');
    this.#clearTimer('ack');
    // nothing un-acked stays in mqtt.js: the caller re-sends from its outbox (no duplicate from a stale store)
    this.#failInFlight(conn.closing ? 'EL_ERR_TRANSPORT_CLOSED' : 'EL_ERR_TRANSPORT_DISCONNECTED');
    if (conn.closing) return;
    const reason = conn.lastError?.message ?? 'connection closed';
    if (wasConnected) conn.announceOffline(reason);
    this.#scheduleReconnect(reason);
  }

  #failInFlight(code: 'EL_ERR_TRANSPORT_CLOSED' | 'EL_ERR_TRANSPORT_DISCONNECTED'): void {
    const client = this.#client;
    if (client) {
      for (const id of Object.keys(client.outgoing)) {
        const entry = client.outgoing[Number(id)];
        if (entry && entry.volatile === false) client.removeOutgoingMessage(Number(id));
      }
    }
    this.flight.failAll(
      new EdgeloopError(
        code,
        code === 'EL_ERR_TRANSPORT_CLOSED'
          ? 'transport closed before the broker acknowledged the publish'
          : 'connection dropped before the broker acknowledged the publish',
      ),
    );
  }

  #scheduleReconnect(reason: string): void {
    if (this.#reconnectTimer !== undefined || this.conn.closing) return;
    const delay = this.#backoff.next();
    if (delay === undefined) {
      this.log.error({ reason }, 'gave up reconnecting');
      this.conn.giveUp(this.#backoff.attempt + 1, this.#backoff.policy.maxAttempts, reason, this.conn.lastError);
      return;
    }
    this.log.debug({ delay, attempt: this.#backoff.attempt }, 'reconnect scheduled');
    this.emit('reconnecting', delay, this.#backoff.attempt);
    this.#reconnectTimer = this.clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.conn.closing) this.#client?.reconnect();
    }, delay);
    // while a start() waits for this attempt, the timer holds the process open (connection-state.ts awaitingStart)
    if (!this.conn.awaitingStart) this.#reconnectTimer.unref?.();
  }

  publish(msg: TransportMessage): Promise<void> {
    return this.flight.submit(msg, this.conn, this.#maxPayload, (resolve, reject) => ({
      topic: msg.topic,
      payload: toBuffer(msg.payload),
      opts: { qos: msg.qos, retain: msg.retain === true },
      resolve,
      reject,
      sentAt: 0,
      done: false,
    }));
  }

  #send(p: Pending): void {
    const client = this.#client;
    if (!this.conn.connected || !client) {
      this.flight.dropUnsent(p);
      return;
    }
    p.sentAt = this.clock.now();
    this.flight.sent.add(p);
    if (this.#ackTimer === undefined) this.#armAckTimer(p.sentAt);
    client.publish(p.topic, p.payload, p.opts, (err) => this.#onAck(p, err));
  }

  #onAck(p: Pending, err: Error | undefined): void {
    if (p.done) return;
    if (!this.flight.answered(p)) return;
    if (!err) {
      this.flight.succeed(p);
      return;
    }
    const rc = (err as { code?: unknown }).code;
    if (typeof rc === 'number' && rc >= 0x80) {
      this.flight.fail(
        p,
        new EdgeloopError('EL_ERR_TRANSPORT_REJECTED', `broker refused the publish to ${p.topic}: ${err.message}`, {
          cause: err,
        }),
      );
    } else if (this.conn.closing) {
      this.flight.fail(p, this.conn.closedError('publish', err));
    } else {
      this.flight.fail(
        p,
        new EdgeloopError('EL_ERR_TRANSPORT_DISCONNECTED', `publish to ${p.topic} failed: ${err.message}`, {
          cause: err,
        }),
      );
    }
  }

  /** One timer for all PUBACK deadlines: it fires for the oldest in-flight publish only. */
  #armAckTimer(oldestSentAt: number): void {
    const ms = Math.max(1, oldestSentAt + this.#publishTimeoutMs - this.clock.now());
    this.#ackTimer = this.clock.setTimeout(() => {
      this.#ackTimer = undefined;
      this.#checkAckTimeouts();
    }, ms);
    this.#ackTimer.unref?.();
  }

  #checkAckTimeouts(): void {
    const now = this.clock.now();
    let expired = 0;
    for (const p of this.flight.sent) {
      if (p.sentAt + this.#publishTimeoutMs > now) break;
      expired++;
      this.flight.fail(
        p,
        new EdgeloopError(
          'EL_ERR_TRANSPORT_TIMEOUT',
          `no PUBACK for the publish to ${p.topic} within publishTimeoutMs ${this.#publishTimeoutMs} ms`,
        ),
      );
    }
    if (expired > 0) {
      // a broker that does not ack is a broken connection: drop it, the caller re-sends after the reconnect
      this.conn.lastError = new Error(`PUBACK timeout (${this.#publishTimeoutMs} ms)`);
      this.log.warn({ expired }, 'PUBACK timeout: dropping the connection');
      this.#client?.stream?.destroy();
      return;
    }
    const first = this.flight.sent.values().next();
    if (!first.done) this.#armAckTimer(first.value.sentAt);
  }

  /**
   * SUBSCRIBE in packets of at most 8 filters (AWS IoT Core's limit per SUBSCRIBE); the waiters settle once every
   * packet is acknowledged. `onlyIfNew` (MQTT 5, session resumed): retain handling 1, retained messages are not
   * replayed for subscriptions the broker still has.
   */
  protected readonly sendSubscribe: SendSubscribe = (entries, waiters, onlyIfNew) => {
    const client = this.#client!;
    const v5 = this.options.protocolVersion === 5;
    const refused = new Set<string>();
    const batches = subscribeBatches(entries);
    let left = batches.length;
    let dropped = false;
    for (const chunk of batches) {
      const map: Record<string, { qos: 0 | 1; rh?: number }> = {};
      for (const [t, q] of chunk) map[t] = v5 ? { qos: q, rh: onlyIfNew ? 1 : 0 } : { qos: q };
      client.subscribe(map, (err, granted) => {
        if (err) {
          const codes = (err as { packet?: { granted?: number[] } }).packet?.granted;
          // no SUBACK: the connection dropped; the waiters stay and are served after the reconnect
          if (!codes) dropped = true;
          else codes.forEach((rc, k) => rc >= 0x80 && chunk[k] && refused.add(chunk[k][0]));
        } else {
          for (const g of (granted ?? []) as ISubscriptionGrant[]) if (g.qos >= 0x80) refused.add(g.topic);
        }
        if (--left === 0 && !dropped) this.subs.settle(refused, waiters);
      });
    }
  };

  protected async closeClient(): Promise<void> {
    const conn = this.conn;
    this.#clearTimer('reconnect');
    this.beginClose();
    const client = this.#client;
    if (client) {
      const wasConnected = conn.connected;
      await new Promise<void>((resolve) => {
        let forced: TimerHandle | undefined;
        const done = (): void => {
          if (forced !== undefined) clearTimeout(forced as NodeJS.Timeout);
          resolve();
        };
        if (wasConnected) {
          // finish in-flight publishes (mqtt.js waits for their acks), then DISCONNECT: no last will
          client.end(false, {}, done);
          forced = setTimeout(() => client.end(true, {}, done), this.options.closeTimeoutMs ?? 5000);
          forced.unref?.();
        } else {
          client.end(true, {}, done);
        }
      });
      client.removeAllListeners('message');
    }
    conn.connected = false;
    this.#clearTimer('stable');
    this.#clearTimer('ack');
    this.#failInFlight('EL_ERR_TRANSPORT_CLOSED');
    this.log.info('closed');
  }

  #clearTimer(which: 'reconnect' | 'stable' | 'ack'): void {
    let h: TimerHandle | undefined;
    switch (which) {
      case 'reconnect':
        h = this.#reconnectTimer;
        this.#reconnectTimer = undefined;
        break;
      case 'stable':
        h = this.#stableTimer;
        this.#stableTimer = undefined;
        break;
      case 'ack':
        h = this.#ackTimer;
        this.#ackTimer = undefined;
        break;
    }
    if (h !== undefined) this.clock.clearTimeout(h);
  }
}
