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
import awsIot from 'aws-iot-device-sdk-v2';
import { z } from 'zod';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import { collectGarbage, readPem, toError, toPayloadBuffer } from './aws-crt-support.ts';
import { TransportBase } from './transport-base.ts';
import {
  DEFAULT_RECONNECT,
  INJECTED_KEYS,
  bytes,
  commonShape,
  parseWith,
  publishGateFor,
  toBuffer,
} from './transport-options.ts';
import { subscribeBatches, type SendSubscribe } from './subscriptions.ts';
import type { Transport, TransportMessage } from './transport.ts';

const { mqtt5, iot } = awsIot;

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

export class AwsIotTransport extends TransportBase<Pending> implements Transport {
  readonly options: Readonly<z.output<typeof AwsIotTransportOptionsSchema>>;
  readonly #maxPayload: number;
  readonly #maxAttempts: number;
  #client: Mqtt5Client | undefined;
  #failures = 0;
  #stopped: Promise<void> | undefined;
  #onStopped: (() => void) | undefined;

  constructor(options: AwsIotTransportOptions) {
    const o = parseWith(AwsIotTransportOptionsSchema, options, 'AwsIotTransport', INJECTED_KEYS);
    const clock = options.clock ?? systemClock;
    const log = (options.logger ?? silentLogger).child({
      component: 'transport',
      kind: 'aws-iot',
      clientId: o.clientId,
    });
    super({ clock, log, clientId: o.clientId, target: o.endpoint });
    this.options = Object.freeze(o);
    this.#maxPayload = o.maxPayloadBytes ?? 128 * 1024;
    this.#maxAttempts = o.reconnect?.maxAttempts ?? Infinity;
    // AWS IoT Core throttles a connection above 100 publishes/s: capped there by default
    this.flight.attach(publishGateFor<Pending>(o, 100, clock, (p) => this.#send(p)));
  }

  protected get reconnectAttempt(): number {
    return this.#failures;
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
    let config: Mqtt5ClientConfig;
    if (o.insecurePlaintext) {
      config = { hostName: o.endpoint, port: o.port ?? 1883, connectProperties };
    } else {
      const cert = readPem('certPath', o.cert, o.certPath)!;
      const key = readPem('keyPath', o.key, o.keyPath)!;
      const ca = readPem('caPath', o.ca, o.caPath);
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

  protected retryAfterGivingUp(): void {
    if (!this.#client) return;
    this.conn.gaveUp = false;
    this.#failures = 0;
    this.#stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
    this.#client.start();
  }

  protected connect(): void {
    const conn = this.conn;
    let client: Mqtt5Client;
    try {
      client = new mqtt5.Mqtt5Client(this.#config());
    } catch (err) {
      conn.started = false;
      conn.settleStart(
        err instanceof EdgeloopError
          ? err
          : new EdgeloopError('EL_ERR_CONFIG_INVALID', `AwsIotTransport: ${(err as Error).message}`, { cause: err }),
      );
      return;
    }
    this.#client = client;
    this.#stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
    client.on('connectionSuccess', (e) => this.#onConnect(e.settings.rejoinedSession));
    client.on('connectionFailure', (e) => this.#onFailure(toError(e.error)));
    client.on('disconnection', (e) => this.#onDisconnect(toError(e.error)));
    client.on('stopped', () => this.#onStopped?.());
    client.on('error', (e) => {
      const err = toError(e);
      conn.lastError = err;
      conn.emitError(err);
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
        this.log.error({ topic: m.topicName, err: err.message }, 'received payload unreadable');
        conn.emitError(err);
        return;
      }
      this.emit('message', m.topicName, payload);
    });
    conn.armStartTimeout(this.options.startTimeoutMs ?? 0);
    client.start();
  }

  #onConnect(rejoined: boolean): void {
    if (this.conn.closing) return;
    this.#failures = 0;
    this.conn.markConnected({ endpoint: this.options.endpoint, rejoined });
    this.subs.restore(rejoined, this.sendSubscribe);
    this.conn.announceConnected();
  }

  #onFailure(error: Error): void {
    const conn = this.conn;
    conn.lastError = error;
    this.#failures++;
    this.log.warn({ err: error.message, attempt: this.#failures }, 'connection attempt failed');
    // maxAttempts counts retries after the first failed attempt, as in MqttTransport
    if (this.#failures > this.#maxAttempts && !conn.closing && !conn.gaveUp) {
      this.#client?.stop();
      conn.giveUp(this.#failures, this.#maxAttempts, error.message, error);
    }
  }

  #onDisconnect(error: Error): void {
    const conn = this.conn;
    const was = conn.connected;
    conn.connected = false;
    conn.lastError = error;
    this.flight.failAll(
      conn.closing
        ? conn.closedError('publish')
        : new EdgeloopError(
            'EL_ERR_TRANSPORT_DISCONNECTED',
            `connection dropped before the broker acknowledged the publish: ${error.message}`,
            { cause: error },
          ),
    );
    if (was && !conn.closing) conn.announceOffline(error.message);
  }

  publish(msg: TransportMessage): Promise<void> {
    return this.flight.submit(msg, this.conn, this.#maxPayload, (resolve, reject) => ({
      packet: {
        topicName: msg.topic,
        payload: toBuffer(msg.payload),
        qos: msg.qos === 1 ? mqtt5.QoS.AtLeastOnce : mqtt5.QoS.AtMostOnce,
        retain: msg.retain === true,
      },
      resolve,
      reject,
      done: false,
    }));
  }

  #send(p: Pending): void {
    const client = this.#client;
    const flight = this.flight;
    if (!this.conn.connected || !client) {
      flight.dropUnsent(p);
      return;
    }
    flight.sent.add(p);
    client.publish(p.packet).then(
      (puback) => {
        if (!flight.answered(p)) return;
        const rc = puback?.reasonCode ?? 0;
        if (rc >= 0x80) {
          flight.fail(
            p,
            new EdgeloopError(
              'EL_ERR_TRANSPORT_REJECTED',
              `broker refused the publish to ${p.packet.topicName}: reason code ${rc}`,
            ),
          );
        } else flight.succeed(p);
      },
      (err: Error) => {
        if (!flight.answered(p)) return;
        const timeout = /TIMEOUT/i.test(String((err as { name?: string }).name) + err.message);
        flight.fail(
          p,
          this.conn.closing
            ? this.conn.closedError('publish', err)
            : new EdgeloopError(
                timeout ? 'EL_ERR_TRANSPORT_TIMEOUT' : 'EL_ERR_TRANSPORT_DISCONNECTED',
                `publish to ${p.packet.topicName} failed: ${err.message}`,
                { cause: err },
              ),
        );
      },
    );
  }

  /** SUBSCRIBE in packets of at most 8 filters (IoT Core's limit); waiters settle once every packet is acked. */
  protected readonly sendSubscribe: SendSubscribe = (entries, waiters, onlyIfNew) => {
    const client = this.#client!;
    const refused = new Set<string>();
    Promise.all(
      subscribeBatches(entries).map((chunk) =>
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
      () => this.subs.settle(refused, waiters),
      () => {
        // failed by the disconnect: the waiters stay and are served by the re-subscription after the reconnect
      },
    );
  };

  protected async closeClient(): Promise<void> {
    const conn = this.conn;
    const closed = this.beginClose();
    if (this.#client) {
      await this.#stopClient();
      this.#client = undefined;
      if (this.options.releaseNativeOnClose ?? true) {
        // the wrapper is unreachable now: collect it so aws-crt releases its native handles (see collectGarbage)
        await new Promise<void>((resolve) => setImmediate(resolve));
        collectGarbage();
      }
    }
    conn.connected = false;
    for (const p of this.flight.sent) this.flight.fail(p, closed);
    this.flight.sent.clear();
    this.log.info('closed');
  }

  /** Finish in-flight publishes (bounded by closeTimeoutMs), DISCONNECT (reason 0: no last will), stop, close. */
  async #stopClient(): Promise<void> {
    const client = this.#client!;
    const closeTimeoutMs = this.options.closeTimeoutMs ?? 5000;
    if (this.conn.connected) await this.flight.idle(closeTimeoutMs, () => this.conn.connected);
    client.stop({ reasonCode: mqtt5.DisconnectReasonCode.NormalDisconnection });
    // bounded: under load the CRT has been seen not to emit 'stopped' (a close() that never returns is worse than
    // releasing the client without the event)
    let stopTimer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.#stopped?.then(() => false),
      new Promise<boolean>((resolve) => (stopTimer = setTimeout(() => resolve(true), closeTimeoutMs))),
    ]);
    clearTimeout(stopTimer);
    if (gaveUp) this.log.warn('the MQTT5 client did not report stopped in time; releasing it anyway');
    client.removeAllListeners();
    client.close();
  }
}
