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
import { EventEmitter } from 'node:events';
import { channel } from 'node:diagnostics_channel';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient, IClientPublishOptions, ISubscriptionGrant } from 'mqtt';
import { z } from 'zod';
import { Backoff } from '../lib/backoff.ts';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { publishWithoutPayloadCopy } from './publish-without-copy.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import type { PublishGate } from './publish-gate.ts';
import {
  DEFAULT_RECONNECT,
  INJECTED_KEYS,
  bytes,
  commonShape,
  parseWith,
  publishGateFor,
  toBuffer,
} from './transport-options.ts';
import type { Transport, TransportEvents, TransportMessage } from './transport.ts';
import { publishArgumentError } from './publish-checks.ts';

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

export type MqttTransportOptions = z.input<typeof MqttTransportOptionsSchema> & {
  /** timers for backoff, rate cap, publish timeouts (default: the system clock) */
  clock?: Clock;
  /** random source of the jitter (default Math.random) */
  random?: () => number;
  logger?: Logger;
};

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

interface Pending {
  topic: string;
  payload: Buffer;
  opts: IClientPublishOptions;
  resolve: () => void;
  reject: (err: Error) => void;
  sentAt: number;
  done: boolean;
}

interface SubWaiter {
  topics: string[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/** AWS IoT Core accepts at most 8 topic filters per SUBSCRIBE */
const SUBSCRIBE_BATCH = 8;

const connectChannel = channel('edgeloop:transport:connect');
const offlineChannel = channel('edgeloop:transport:offline');

export class MqttTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly options: Readonly<z.output<typeof MqttTransportOptionsSchema>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #gate: PublishGate<Pending>;
  readonly #maxPayload: number;
  readonly #publishTimeoutMs: number;
  #client: MqttClient | undefined;
  #connected = false;
  #started = false;
  #closing = false;
  #closePromise: Promise<void> | undefined;
  #startWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** sent, not yet acked, in send order (the oldest is first: publish timeouts check it) */
  #inFlight = new Set<Pending>();
  #subs = new Map<string, 0 | 1>();
  #subWaiters: SubWaiter[] = [];
  #reconnectTimer: TimerHandle | undefined;
  #stableTimer: TimerHandle | undefined;
  #ackTimer: TimerHandle | undefined;
  #startTimer: TimerHandle | undefined;
  #lastError: Error | undefined;
  #gaveUp = false;
  #acked = 0;
  #failed = 0;
  #connects = 0;

  constructor(options: MqttTransportOptions) {
    super();
    const o = parseWith(MqttTransportOptionsSchema, options, 'MqttTransport', INJECTED_KEYS);
    this.options = Object.freeze(o);
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? silentLogger).child({ component: 'transport', kind: 'mqtt', clientId: o.clientId });
    this.#backoff = new Backoff({ ...DEFAULT_RECONNECT, ...o.reconnect }, options.random);
    this.#maxPayload = o.maxPayloadBytes ?? 128 * 1024;
    this.#publishTimeoutMs = o.publishTimeoutMs ?? 30_000;
    // no rate cap by default: generic brokers do not throttle
    this.#gate = publishGateFor<Pending>(o, 0, this.#clock, (p) => this.#send(p));
  }

  get connected(): boolean {
    return this.#connected;
  }

  get stats(): TransportStats {
    return {
      inFlight: this.#inFlight.size,
      waiting: this.#gate.waiting,
      acked: this.#acked,
      failed: this.#failed,
      connects: this.#connects,
      reconnectAttempt: this.#backoff.attempt,
    };
  }

  start(): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError('start'));
    if (this.#connected) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.#startWaiters.push({ resolve, reject }));
    if (this.#started) {
      if (this.#gaveUp) {
        // start() again after giving up: a fresh round of attempts
        this.#gaveUp = false;
        this.#backoff.reset();
        this.#client?.reconnect();
      }
      return p;
    }
    this.#started = true;
    const o = this.options;
    const startTimeout = o.startTimeoutMs ?? 0;
    if (startTimeout > 0) {
      this.#startTimer = this.#clock.setTimeout(() => {
        this.#startTimer = undefined;
        this.#settleStart(
          new EdgeloopError(
            'EL_ERR_TRANSPORT_TIMEOUT',
            `not connected to ${o.url} within startTimeoutMs ${startTimeout} ms`,
            {
              cause: this.#lastError,
            },
          ),
        );
      }, startTimeout);
      this.#startTimer.unref?.();
    }
    this.#client = mqtt.connect(o.url, this.#clientOptions());
    if (!publishWithoutPayloadCopy(this.#client)) {
      this.#log.warn(
        'this mqtt.js is not the one transport/publish-without-copy.ts knows: QoS 1 payloads are copied into its outgoing store',
      );
    }
    this.#wire(this.#client);
    return p;
  }

  #clientOptions(): IClientOptions {
    const o = this.options;
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

  #wire(client: MqttClient): void {
    client.on('connect', (connack) => this.#onConnect(connack.sessionPresent === true));
    client.on('close', () => this.#onClose());
    client.on('error', (err) => {
      // connection-level errors (refused, TLS, CONNACK refused) are followed by 'close'; we retry there
      this.#lastError = err;
      this.#log.warn({ err: err.message }, 'mqtt connection error');
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    client.on('message', (topic, payload) => this.emit('message', topic, payload));
  }

  #onConnect(sessionPresent: boolean): void {
    if (this.#closing) return;
    this.#connected = true;
    this.#connects++;
    this.#lastError = undefined;
    this.#log.info({ url: this.options.url, connects: this.#connects }, 'connected');
    if (connectChannel.hasSubscribers)
      connectChannel.publish({ clientId: this.options.clientId, connects: this.#connects });
    const stable = this.options.stableAfterMs ?? 30_000;
    this.#stableTimer = this.#clock.setTimeout(() => {
      this.#stableTimer = undefined;
      this.#backoff.reset();
    }, stable);
    this.#stableTimer.unref?.();
    this.#resubscribe(sessionPresent);
    this.#settleStart();
    this.emit('connect');
  }

  #onClose(): void {
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#clearTimer('stable');
    this.#clearTimer('ack');
    // nothing un-acked stays in mqtt.js: the caller re-sends from its outbox (no duplicate from a stale store)
    this.#failInFlight(this.#closing ? 'EL_ERR_TRANSPORT_CLOSED' : 'EL_ERR_TRANSPORT_DISCONNECTED');
    if (this.#closing) return;
    const reason = this.#lastError?.message ?? 'connection closed';
    if (wasConnected) {
      this.#log.warn({ reason }, 'offline');
      if (offlineChannel.hasSubscribers) offlineChannel.publish({ clientId: this.options.clientId, reason });
      this.emit('offline', reason);
    }
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
    const err = new EdgeloopError(
      code,
      code === 'EL_ERR_TRANSPORT_CLOSED'
        ? 'transport closed before the broker acknowledged the publish'
        : 'connection dropped before the broker acknowledged the publish',
    );
    for (const p of this.#inFlight) this.#fail(p, err);
    this.#inFlight.clear();
    this.#gate.resetInFlight();
    for (const p of this.#gate.drain()) this.#fail(p, err);
  }

  #scheduleReconnect(reason: string): void {
    if (this.#reconnectTimer !== undefined || this.#closing) return;
    const delay = this.#backoff.next();
    if (delay === undefined) {
      const err = new EdgeloopError(
        'EL_ERR_TRANSPORT_CONNECT',
        `gave up connecting to ${this.options.url} after ${this.#backoff.attempt + 1} failed attempts (reconnect.maxAttempts ${this.#backoff.policy.maxAttempts}): ${reason}`,
        { cause: this.#lastError },
      );
      this.#log.error({ reason }, 'gave up reconnecting');
      this.#gaveUp = true;
      if (this.#startWaiters.length > 0) this.#settleStart(err);
      else if (this.listenerCount('error') > 0) this.emit('error', err);
      return;
    }
    this.#log.debug({ delay, attempt: this.#backoff.attempt }, 'reconnect scheduled');
    this.emit('reconnecting', delay, this.#backoff.attempt);
    this.#reconnectTimer = this.#clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closing) this.#client?.reconnect();
    }, delay);
    this.#reconnectTimer.unref?.();
  }

  #settleStart(err?: Error): void {
    this.#clearTimer('start');
    const waiters = this.#startWaiters;
    this.#startWaiters = [];
    for (const w of waiters) err ? w.reject(err) : w.resolve();
  }

  publish(msg: TransportMessage): Promise<void> {
    if (this.#closing) {
      this.#failed++;
      return Promise.reject(this.#closedError('publish'));
    }
    const bad = publishArgumentError(msg, this.#maxPayload);
    if (bad) return Promise.reject(bad);
    const { topic, payload, qos } = msg;
    if (!this.#connected) {
      this.#failed++;
      return Promise.reject(
        new EdgeloopError('EL_ERR_TRANSPORT_OFFLINE', `publish: not connected to ${this.options.url}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        topic,
        payload: toBuffer(payload),
        opts: { qos, retain: msg.retain === true },
        resolve,
        reject,
        sentAt: 0,
        done: false,
      };
      try {
        this.#gate.submit(p);
      } catch (err) {
        this.#failed++;
        reject(err as Error);
      }
    });
  }

  #send(p: Pending): void {
    const client = this.#client;
    if (!this.#connected || !client) {
      this.#gate.release();
      this.#fail(
        p,
        new EdgeloopError('EL_ERR_TRANSPORT_DISCONNECTED', 'connection dropped before the publish was sent'),
      );
      return;
    }
    p.sentAt = this.#clock.now();
    this.#inFlight.add(p);
    if (this.#ackTimer === undefined) this.#armAckTimer(p.sentAt);
    client.publish(p.topic, p.payload, p.opts, (err) => this.#onAck(p, err));
  }

  #onAck(p: Pending, err: Error | undefined): void {
    if (p.done) return;
    if (!this.#inFlight.delete(p)) return;
    this.#gate.release();
    if (!err) {
      p.done = true;
      this.#acked++;
      p.resolve();
      return;
    }
    const rc = (err as { code?: unknown }).code;
    if (typeof rc === 'number' && rc >= 0x80) {
      this.#fail(
        p,
        new EdgeloopError('EL_ERR_TRANSPORT_REJECTED', `broker refused the publish to ${p.topic}: ${err.message}`, {
          cause: err,
        }),
      );
    } else if (this.#closing) {
      this.#fail(p, this.#closedError('publish', err));
    } else {
      this.#fail(
        p,
        new EdgeloopError('EL_ERR_TRANSPORT_DISCONNECTED', `publish to ${p.topic} failed: ${err.message}`, {
          cause: err,
        }),
      );
    }
  }

  #fail(p: Pending, err: Error): void {
    if (p.done) return;
    p.done = true;
    this.#failed++;
    p.reject(err);
  }

  /** One timer for all PUBACK deadlines: it fires for the oldest in-flight publish only. */
  #armAckTimer(oldestSentAt: number): void {
    const ms = Math.max(1, oldestSentAt + this.#publishTimeoutMs - this.#clock.now());
    this.#ackTimer = this.#clock.setTimeout(() => {
      this.#ackTimer = undefined;
      this.#checkAckTimeouts();
    }, ms);
    this.#ackTimer.unref?.();
  }

  #checkAckTimeouts(): void {
    const now = this.#clock.now();
    let expired = 0;
    for (const p of this.#inFlight) {
      if (p.sentAt + this.#publishTimeoutMs > now) break;
      expired++;
      this.#fail(
        p,
        new EdgeloopError(
          'EL_ERR_TRANSPORT_TIMEOUT',
          `no PUBACK for the publish to ${p.topic} within publishTimeoutMs ${this.#publishTimeoutMs} ms`,
        ),
      );
    }
    if (expired > 0) {
      // a broker that does not ack is a broken connection: drop it, the caller re-sends after the reconnect
      this.#lastError = new Error(`PUBACK timeout (${this.#publishTimeoutMs} ms)`);
      this.#log.warn({ expired }, 'PUBACK timeout: dropping the connection');
      this.#client?.stream?.destroy();
      return;
    }
    const first = this.#inFlight.values().next();
    if (!first.done) this.#armAckTimer(first.value.sentAt);
  }

  subscribe(topics: string[], qos: 0 | 1): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError('subscribe'));
    if (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => typeof t !== 'string' || t.length === 0)) {
      return Promise.reject(
        new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'subscribe: topics must be a non-empty array of topic filters'),
      );
    }
    if (qos !== 0 && qos !== 1) {
      return Promise.reject(
        new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `subscribe: qos must be 0 or 1, got ${String(qos)}`),
      );
    }
    for (const t of topics) this.#subs.set(t, qos);
    return new Promise<void>((resolve, reject) => {
      const w: SubWaiter = { topics, resolve, reject };
      this.#subWaiters.push(w);
      // offline: it is sent, with every other subscription, right after the next connect
      if (this.#connected)
        this.#sendSubscribe(
          topics.map((t) => [t, qos] as const),
          [w],
        );
    });
  }

  #resubscribe(sessionPresent: boolean): void {
    if (this.#subs.size === 0) return;
    this.#sendSubscribe([...this.#subs], [...this.#subWaiters], sessionPresent);
  }

  /**
   * SUBSCRIBE in packets of at most 8 filters (AWS IoT Core's limit per SUBSCRIBE); the waiters settle once every
   * packet is acknowledged. `onlyIfNew` (MQTT 5, session resumed): retain handling 1, retained messages are not
   * replayed for subscriptions the broker still has.
   */
  #sendSubscribe(entries: readonly (readonly [string, 0 | 1])[], waiters: SubWaiter[], onlyIfNew = false): void {
    const client = this.#client!;
    const v5 = this.options.protocolVersion === 5;
    const refused = new Set<string>();
    let left = Math.ceil(entries.length / SUBSCRIBE_BATCH);
    let dropped = false;
    for (let i = 0; i < entries.length; i += SUBSCRIBE_BATCH) {
      const chunk = entries.slice(i, i + SUBSCRIBE_BATCH);
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
        if (--left === 0 && !dropped) this.#settleSubscribe(refused, waiters);
      });
    }
  }

  #settleSubscribe(refused: Set<string>, waiters: SubWaiter[]): void {
    for (const t of refused) this.#subs.delete(t);
    for (const w of waiters) {
      const i = this.#subWaiters.indexOf(w);
      if (i < 0) continue;
      this.#subWaiters.splice(i, 1);
      const bad = w.topics.filter((t) => refused.has(t));
      if (bad.length > 0) {
        w.reject(
          new EdgeloopError('EL_ERR_TRANSPORT_REJECTED', `broker refused the subscription to ${bad.join(', ')}`),
        );
      } else w.resolve();
    }
  }

  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#clearTimer('reconnect');
    this.#clearTimer('start');
    const closed = this.#closedError('operation');
    for (const p of this.#gate.drain()) this.#fail(p, closed);
    this.#settleStart(closed);
    for (const w of this.#subWaiters.splice(0)) w.reject(closed);
    const client = this.#client;
    if (client) {
      const wasConnected = this.#connected;
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
    this.#connected = false;
    this.#clearTimer('stable');
    this.#clearTimer('ack');
    this.#failInFlight('EL_ERR_TRANSPORT_CLOSED');
    this.#log.info('closed');
  }

  #clearTimer(which: 'reconnect' | 'stable' | 'ack' | 'start'): void {
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
      case 'start':
        h = this.#startTimer;
        this.#startTimer = undefined;
        break;
    }
    if (h !== undefined) this.#clock.clearTimeout(h);
  }

  #closedError(what: string, cause?: unknown): EdgeloopError {
    return new EdgeloopError(
      'EL_ERR_TRANSPORT_CLOSED',
      `${what}: the transport is closed`,
      cause === undefined ? undefined : { cause },
    );
  }
}
