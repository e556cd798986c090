/**
 * AwsIotTransport: the Transport over the AWS IoT Device SDK v2 MQTT 5 client (aws-crt, native).
 *
 * For AWS IoT Core: direct MQTT over TLS with an X.509 client certificate (mutual TLS) on port 8883, built with
 * `iot.AwsIotMqtt5ClientConfigBuilder`. For tests and local brokers it also connects to any MQTT 5 broker on
 * loopback, over TLS with test certificates or, with `insecurePlaintext: true`, plain TCP.
 *
 * Semantics match MqttTransport (docs/transports.md): publish() resolves on PUBACK and rejects with
 * EL_ERR_TRANSPORT_OFFLINE when offline and EL_ERR_TRANSPORT_DISCONNECTED when the connection drops before the
 * ack; flow control (maxInFlight, a publish-rate cap of 100/s by default like IoT Core's per-connection limit) is
 * ours. Reconnects are the SDK's: exponential backoff with full jitter (RetryJitterType.Full), min/max delay,
 * reset after minConnectedTimeToResetReconnectDelayMs (our stableAfterMs). One difference stays: with a resumed
 * session the SDK retransmits a QoS 1 publish that was un-acked at the disconnect (MQTT 5 requires it), after we
 * already rejected it; the caller's re-send is then a duplicate that ingest drops on (deviceId, seq).
 *
 * close() stops the client, waits for its 'stopped' event and calls close() on it to free the native handles.
 */
import { EventEmitter } from 'node:events';
import { channel } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import awsIot from 'aws-iot-device-sdk-v2';
import { z } from 'zod';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import type { TransportStats } from './mqtt-transport.ts';
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

const { mqtt5, iot } = awsIot;

const connectChannel = channel('edgeloop:transport:connect');
const offlineChannel = channel('edgeloop:transport:offline');
type Mqtt5Client = InstanceType<typeof mqtt5.Mqtt5Client>;
type Mqtt5ClientConfig = ConstructorParameters<typeof mqtt5.Mqtt5Client>[0];

const pem = z.union([z.string().min(1), bytes]);

export const AwsIotTransportOptionsSchema = z
  .strictObject({
    /** AWS IoT data endpoint (`xxxxxxxx-ats.iot.<region>.amazonaws.com`) or a broker host name */
    endpoint: z
      .string()
      .min(1)
      .refine((e) => !e.includes('://'), 'endpoint is a host name, without a scheme (mqtts://)'),
    /** 8883 (direct MQTT over TLS) by default */
    port: z.number().int().min(1).max(65_535).optional(),
    /** PEM contents of the device certificate, its private key and the CA (Amazon Root CA 1) */
    cert: pem.optional(),
    key: pem.optional(),
    ca: pem.optional(),
    /** the same, as file paths (read once in start()) */
    certPath: z.string().min(1).optional(),
    keyPath: z.string().min(1).optional(),
    caPath: z.string().min(1).optional(),
    /** plain TCP without TLS: only for a local test broker, never for AWS IoT Core */
    insecurePlaintext: z.boolean().optional(),
    /** run one full GC after close() so aws-crt frees its native handles and the process can exit (default true) */
    releaseNativeOnClose: z.boolean().optional(),
    ...commonShape,
  })
  .superRefine((o, ctx) => {
    if (o.insecurePlaintext) return;
    if (o.cert === undefined && o.certPath === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['certPath'],
        message: 'a device certificate is required (cert or certPath)',
      });
    }
    if (o.key === undefined && o.keyPath === undefined) {
      ctx.addIssue({ code: 'custom', path: ['keyPath'], message: 'the private key is required (key or keyPath)' });
    }
  });

export type AwsIotTransportOptions = z.input<typeof AwsIotTransportOptionsSchema> & {
  /** timers of the rate cap (the SDK runs its own reconnect timers) */
  clock?: Clock;
  /** accepted for symmetry with MqttTransport; the SDK draws its own jitter */
  random?: () => number;
  logger?: Logger;
};

interface Pending {
  packet: { topicName: string; payload: Buffer; qos: number; retain: boolean };
  resolve: () => void;
  reject: (err: Error) => void;
  done: boolean;
}

interface SubWaiter {
  topics: string[];
  resolve: () => void;
  reject: (err: Error) => void;
}

export class AwsIotTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly options: Readonly<z.output<typeof AwsIotTransportOptionsSchema>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #gate: PublishGate<Pending>;
  readonly #maxPayload: number;
  readonly #maxAttempts: number;
  #client: Mqtt5Client | undefined;
  #connected = false;
  #started = false;
  #closing = false;
  #closePromise: Promise<void> | undefined;
  #startWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #startTimer: TimerHandle | undefined;
  #inFlight = new Set<Pending>();
  #subs = new Map<string, 0 | 1>();
  #subWaiters: SubWaiter[] = [];
  #failures = 0;
  #gaveUp = false;
  #lastError: Error | undefined;
  #acked = 0;
  #failed = 0;
  #connects = 0;
  #stopped: Promise<void> | undefined;
  #onStopped: (() => void) | undefined;
  /** close() waits on this for in-flight publishes to finish */
  #onIdle: (() => void) | undefined;

  constructor(options: AwsIotTransportOptions) {
    super();
    const o = parseWith(AwsIotTransportOptionsSchema, options, 'AwsIotTransport', INJECTED_KEYS);
    this.options = Object.freeze(o);
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? silentLogger).child({
      component: 'transport',
      kind: 'aws-iot',
      clientId: o.clientId,
    });
    this.#maxPayload = o.maxPayloadBytes ?? 128 * 1024;
    this.#maxAttempts = o.reconnect?.maxAttempts ?? Infinity;
    // AWS IoT Core throttles a connection above 100 publishes/s: capped there by default
    this.#gate = publishGateFor<Pending>(o, 100, this.#clock, (p) => this.#send(p));
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
      reconnectAttempt: this.#failures,
    };
  }

  #config(): Mqtt5ClientConfig {
    const o = this.options;
    const clean = o.clean ?? false;
    const r = { ...DEFAULT_RECONNECT, ...o.reconnect };
    const connectProperties: NonNullable<Mqtt5ClientConfig['connectProperties']> = {
      clientId: o.clientId,
      keepAliveIntervalSeconds: o.keepaliveSeconds ?? 60,
      sessionExpiryIntervalSeconds: clean ? 0 : (o.sessionExpirySeconds ?? 3600),
    };
    if (o.will) {
      connectProperties.will = {
        topicName: o.will.topic,
        payload: toBuffer(o.will.payload),
        qos: (o.will.qos ?? 1) === 1 ? mqtt5.QoS.AtLeastOnce : mqtt5.QoS.AtMostOnce,
        retain: o.will.retain ?? true,
      };
    }
    const read = (
      what: string,
      inline: string | Uint8Array | undefined,
      path: string | undefined,
    ): string | undefined => {
      if (inline !== undefined) return toBuffer(inline).toString('utf8');
      if (path === undefined) return undefined;
      try {
        return readFileSync(path, 'utf8');
      } catch (cause) {
        throw new EdgeloopError(
          'EL_ERR_CONFIG_INVALID',
          `AwsIotTransport: cannot read ${what} ${path}: ${(cause as Error).message}`,
          { cause },
        );
      }
    };
    let config: Mqtt5ClientConfig;
    if (o.insecurePlaintext) {
      config = { hostName: o.endpoint, port: o.port ?? 1883, connectProperties };
    } else {
      const cert = read('certPath', o.cert, o.certPath)!;
      const key = read('keyPath', o.key, o.keyPath)!;
      const ca = read('caPath', o.ca, o.caPath);
      const b = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromMemory(o.endpoint, cert, key);
      if (ca !== undefined) b.withCertificateAuthority(ca);
      b.withPort(o.port ?? 8883);
      b.withConnectProperties(connectProperties);
      config = b.build();
    }
    config.sessionBehavior = clean ? mqtt5.ClientSessionBehavior.Clean : mqtt5.ClientSessionBehavior.RejoinPostSuccess;
    config.retryJitterMode = r.jitter === 'none' ? mqtt5.RetryJitterType.None : mqtt5.RetryJitterType.Full;
    config.minReconnectDelayMs = r.minMs;
    config.maxReconnectDelayMs = r.maxMs;
    config.minConnectedTimeToResetReconnectDelayMs = o.stableAfterMs ?? 30_000;
    config.connackTimeoutMs = o.connectTimeoutMs ?? 10_000;
    // fail everything but un-acked QoS 1 publishes on a disconnect, and refuse them offline (we check first)
    config.offlineQueueBehavior = mqtt5.ClientOperationQueueBehavior.FailAllOnDisconnect;
    config.ackTimeoutSeconds = Math.max(1, Math.ceil((o.publishTimeoutMs ?? 30_000) / 1000));
    return config;
  }

  start(): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError('start'));
    if (this.#connected) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.#startWaiters.push({ resolve, reject }));
    if (this.#started) {
      if (this.#gaveUp && this.#client) {
        // start() again after giving up: a fresh round of attempts
        this.#gaveUp = false;
        this.#failures = 0;
        this.#stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
        this.#client.start();
      }
      return p;
    }
    this.#started = true;
    let client: Mqtt5Client;
    try {
      client = new mqtt5.Mqtt5Client(this.#config());
    } catch (err) {
      this.#started = false;
      this.#settleStart(
        err instanceof EdgeloopError
          ? err
          : new EdgeloopError('EL_ERR_CONFIG_INVALID', `AwsIotTransport: ${(err as Error).message}`, { cause: err }),
      );
      return p;
    }
    this.#client = client;
    this.#stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
    client.on('connectionSuccess', (e) => this.#onConnect(e.settings.rejoinedSession));
    client.on('connectionFailure', (e) => this.#onFailure(toError(e.error)));
    client.on('disconnection', (e) => this.#onDisconnect(toError(e.error)));
    client.on('stopped', () => this.#onStopped?.());
    client.on('error', (e) => {
      const err = toError(e);
      this.#lastError = err;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    client.on('messageReceived', (e) => {
      const m = e.message;
      let payload: Buffer;
      try {
        payload = m.payload === undefined ? Buffer.alloc(0) : toPayloadBuffer(m.payload);
      } catch (cause) {
        // never crash the process from inside the SDK's event: report the lost message instead
        const err = new EdgeloopError(
          'EL_ERR_MESSAGE_INVALID',
          `message on ${m.topicName}: payload unreadable (${(cause as Error).message})`,
          { cause },
        );
        this.#log.error({ topic: m.topicName, err: err.message }, 'received payload unreadable');
        if (this.listenerCount('error') > 0) this.emit('error', err);
        return;
      }
      this.emit('message', m.topicName, payload);
    });
    const startTimeout = this.options.startTimeoutMs ?? 0;
    if (startTimeout > 0) {
      this.#startTimer = this.#clock.setTimeout(() => {
        this.#startTimer = undefined;
        this.#settleStart(
          new EdgeloopError(
            'EL_ERR_TRANSPORT_TIMEOUT',
            `not connected to ${this.options.endpoint} within startTimeoutMs ${startTimeout} ms`,
            {
              cause: this.#lastError,
            },
          ),
        );
      }, startTimeout);
      this.#startTimer.unref?.();
    }
    client.start();
    return p;
  }

  #onConnect(rejoined: boolean): void {
    if (this.#closing) return;
    this.#connected = true;
    this.#connects++;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#log.info({ endpoint: this.options.endpoint, connects: this.#connects, rejoined }, 'connected');
    if (connectChannel.hasSubscribers)
      connectChannel.publish({ clientId: this.options.clientId, connects: this.#connects });
    this.#resubscribe(rejoined);
    this.#settleStart();
    this.emit('connect');
  }

  #onFailure(error: Error): void {
    this.#lastError = error;
    this.#failures++;
    this.#log.warn({ err: error.message, attempt: this.#failures }, 'connection attempt failed');
    // maxAttempts counts retries after the first failed attempt, as in MqttTransport
    if (this.#failures > this.#maxAttempts && !this.#closing && !this.#gaveUp) {
      this.#gaveUp = true;
      const err = new EdgeloopError(
        'EL_ERR_TRANSPORT_CONNECT',
        `gave up connecting to ${this.options.endpoint} after ${this.#failures} failed attempts (reconnect.maxAttempts ${this.#maxAttempts}): ${error.message}`,
        { cause: error },
      );
      this.#client?.stop();
      if (this.#startWaiters.length > 0) this.#settleStart(err);
      else if (this.listenerCount('error') > 0) this.emit('error', err);
    }
  }

  #onDisconnect(error: Error): void {
    const was = this.#connected;
    this.#connected = false;
    this.#lastError = error;
    const err = this.#closing
      ? this.#closedError('publish')
      : new EdgeloopError(
          'EL_ERR_TRANSPORT_DISCONNECTED',
          `connection dropped before the broker acknowledged the publish: ${error.message}`,
          {
            cause: error,
          },
        );
    for (const p of this.#inFlight) this.#fail(p, err);
    this.#inFlight.clear();
    this.#gate.resetInFlight();
    for (const p of this.#gate.drain()) this.#fail(p, err);
    if (was && !this.#closing) {
      this.#log.warn({ reason: error.message }, 'offline');
      if (offlineChannel.hasSubscribers)
        offlineChannel.publish({ clientId: this.options.clientId, reason: error.message });
      this.emit('offline', error.message);
    }
  }

  #settleStart(err?: Error): void {
    if (this.#startTimer !== undefined) {
      this.#clock.clearTimeout(this.#startTimer);
      this.#startTimer = undefined;
    }
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
        new EdgeloopError('EL_ERR_TRANSPORT_OFFLINE', `publish: not connected to ${this.options.endpoint}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        packet: {
          topicName: topic,
          payload: toBuffer(payload),
          qos: qos === 1 ? mqtt5.QoS.AtLeastOnce : mqtt5.QoS.AtMostOnce,
          retain: msg.retain === true,
        },
        resolve,
        reject,
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
    this.#inFlight.add(p);
    client.publish(p.packet).then(
      (puback) => {
        if (!this.#inFlight.delete(p)) return;
        this.#gate.release();
        const rc = puback?.reasonCode ?? 0;
        if (rc >= 0x80) {
          this.#fail(
            p,
            new EdgeloopError(
              'EL_ERR_TRANSPORT_REJECTED',
              `broker refused the publish to ${p.packet.topicName}: reason code ${rc}`,
            ),
          );
        } else if (!p.done) {
          p.done = true;
          this.#acked++;
          p.resolve();
          this.#checkIdle();
        }
      },
      (err: Error) => {
        if (!this.#inFlight.delete(p)) return;
        this.#gate.release();
        const timeout = /TIMEOUT/i.test(String((err as { name?: string }).name) + err.message);
        this.#fail(
          p,
          this.#closing
            ? this.#closedError('publish', err)
            : new EdgeloopError(
                timeout ? 'EL_ERR_TRANSPORT_TIMEOUT' : 'EL_ERR_TRANSPORT_DISCONNECTED',
                `publish to ${p.packet.topicName} failed: ${err.message}`,
                {
                  cause: err,
                },
              ),
        );
      },
    );
  }

  #fail(p: Pending, err: Error): void {
    if (p.done) return;
    p.done = true;
    this.#failed++;
    p.reject(err);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#onIdle !== undefined && (this.#inFlight.size === 0 || !this.#connected)) this.#onIdle();
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
      if (this.#connected)
        this.#sendSubscribe(
          topics.map((t) => [t, qos] as const),
          [w],
          false,
        );
    });
  }

  #resubscribe(rejoined: boolean): void {
    if (this.#subs.size === 0) return;
    this.#sendSubscribe([...this.#subs], [...this.#subWaiters], rejoined);
  }

  /** SUBSCRIBE in packets of at most 8 filters (IoT Core's limit); waiters settle once every packet is acked. */
  #sendSubscribe(entries: readonly (readonly [string, 0 | 1])[], waiters: SubWaiter[], onlyIfNew: boolean): void {
    const client = this.#client!;
    const refused = new Set<string>();
    const chunks: (readonly (readonly [string, 0 | 1])[])[] = [];
    for (let i = 0; i < entries.length; i += 8) chunks.push(entries.slice(i, i + 8));
    Promise.all(
      chunks.map((chunk) =>
        client
          .subscribe({
            subscriptions: chunk.map(([topicFilter, q]) => ({
              topicFilter,
              qos: q === 1 ? mqtt5.QoS.AtLeastOnce : mqtt5.QoS.AtMostOnce,
              // after a resumed session the broker still has them: do not replay retained messages again
              retainHandlingType: onlyIfNew
                ? mqtt5.RetainHandlingType.SendOnSubscribeIfNew
                : mqtt5.RetainHandlingType.SendOnSubscribe,
            })),
          })
          .then((suback) => {
            suback.reasonCodes.forEach((rc, k) => {
              if (rc >= 0x80 && chunk[k]) refused.add(chunk[k][0]);
            });
          }),
      ),
    ).then(
      () => {
        for (const t of refused) this.#subs.delete(t);
        for (const w of waiters) {
          const i = this.#subWaiters.indexOf(w);
          if (i < 0) continue;
          this.#subWaiters.splice(i, 1);
          const bad = w.topics.filter((t) => refused.has(t));
          if (bad.length > 0)
            w.reject(
              new EdgeloopError('EL_ERR_TRANSPORT_REJECTED', `broker refused the subscription to ${bad.join(', ')}`),
            );
          else w.resolve();
        }
      },
      () => {
        // failed by the disconnect: the waiters stay and are served by the re-subscription after the reconnect
      },
    );
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
    const closed = this.#closedError('operation');
    for (const p of this.#gate.drain()) this.#fail(p, closed);
    this.#settleStart(closed);
    for (const w of this.#subWaiters.splice(0)) w.reject(closed);
    if (this.#client) {
      await this.#stopClient();
      this.#client = undefined;
      if (this.options.releaseNativeOnClose ?? true) {
        // the wrapper is unreachable now: collect it so aws-crt releases its native handles (see collectGarbage)
        await new Promise<void>((resolve) => setImmediate(resolve));
        collectGarbage();
      }
    }
    this.#connected = false;
    for (const p of this.#inFlight) this.#fail(p, closed);
    this.#inFlight.clear();
    this.#log.info('closed');
  }

  /** Finish in-flight publishes (bounded by closeTimeoutMs), DISCONNECT (reason 0: no last will), stop, close. */
  async #stopClient(): Promise<void> {
    const client = this.#client!;
    if (this.#connected && this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        timer = setTimeout(resolve, this.options.closeTimeoutMs ?? 5000);
      });
      clearTimeout(timer);
      this.#onIdle = undefined;
    }
    client.stop({ reasonCode: mqtt5.DisconnectReasonCode.NormalDisconnection });
    // bounded: under load the CRT has been seen not to emit 'stopped' (a close() that never returns is worse than
    // releasing the client without the event)
    let stopTimer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.#stopped?.then(() => false),
      new Promise<boolean>(
        (resolve) => (stopTimer = setTimeout(() => resolve(true), this.options.closeTimeoutMs ?? 5000)),
      ),
    ]);
    clearTimeout(stopTimer);
    if (gaveUp) this.#log.warn('the MQTT5 client did not report stopped in time; releasing it anyway');
    client.removeAllListeners();
    client.close();
  }

  #closedError(what: string, cause?: unknown): EdgeloopError {
    return new EdgeloopError(
      'EL_ERR_TRANSPORT_CLOSED',
      `${what}: the transport is closed`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/*
 * aws-crt (1.33) frees a client's native side -- including the N-API thread-safe functions that keep Node's event
 * loop alive -- only when the JS wrapper is garbage-collected, even after stop() and close()
 * (awslabs/aws-crt-nodejs#600). An idle process never collects it, so it never exits. After close() we drop our
 * last reference and run one full GC. `gc` is taken from globalThis (node --expose-gc) or obtained the way Jest's
 * leak detector does (v8.setFlagsFromString('--expose-gc') + vm.runInNewContext('gc')). One full GC per close()
 * costs tens of milliseconds, once, at shutdown; set releaseNativeOnClose: false to skip it.
 */
let gcFn: (() => void) | null | undefined;
function collectGarbage(): void {
  if (gcFn === undefined) {
    gcFn = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gcFn) {
      try {
        v8.setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  gcFn?.();
}

function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  const o = (e ?? {}) as { error_name?: string; message?: string };
  return new Error(o.message ?? o.error_name ?? String(e));
}

function toPayloadBuffer(p: unknown): Buffer {
  if (Buffer.isBuffer(p)) return p;
  // aws-crt 1.33 hands an empty payload (e.g. a retained message being cleared) over as a *detached* zero-length
  // ArrayBuffer, which Buffer.from() cannot wrap: "Cannot perform Construct on a detached ArrayBuffer"
  if (p instanceof ArrayBuffer) return p.byteLength === 0 ? Buffer.alloc(0) : Buffer.from(p);
  if (ArrayBuffer.isView(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.from(JSON.stringify(p));
}
