/**
 * Embedded MQTT broker (aedes) for one-machine runs, with per-device authentication, topic authorisation and an
 * in-path ingest hook.
 *
 * Authentication (checked in this order):
 *   1. TLS client certificate verified against `tls.ca`: CN = deviceId (or a service name listed in
 *      `credentials.certificateServices` / `credentials.services`). A username, if sent, must equal the CN.
 *   2. username + password: username = deviceId (under `credentials.devices`) or a service name (under
 *      `credentials.services`), password checked against its scrypt hash.
 *   3. `allowAnonymous: true` only: no credentials → a device whose id is the MQTT client id (development only).
 * Devices must connect with client id = deviceId (`requireClientIdMatch`, default true), so one device cannot
 * take over another's session. Failed logins are rate-limited per client address (loopback exempt) and per
 * username (LoginRateLimiter); a locked-out address or username is refused without a password check.
 *
 * Exposure: a listener on a non-loopback host with `allowAnonymous` is refused (EL_ERR_INSECURE_LISTENER) unless
 * `insecure: true` is set, which is then logged as a warning.
 *
 * Protocol: the broker speaks MQTT 3.1.1 (and 3.1). `preConnect` refuses what aedes would accept against the
 * standard (connect-check.ts): an MQTT 5 CONNECT gets a v5 CONNACK 0x84 and a log line naming where MQTT 5 devices
 * should connect; an empty client id with CleanSession=0 gets CONNACK 0x02. Messages resent to a persistent
 * session on reconnect carry DUP (redelivery-dup.ts).
 *
 * Authorisation (TopicAuthorizer): a device publishes only under its own deviceId and subscribes only to its own
 * and the fleet's model topics; services may do anything. An unauthorised publish is written to the dead-letter
 * store (`onRefused`) and then, by default (`unauthorizedPublish: 'quarantine'`), acknowledged and re-routed to
 * `$edgeloop/quarantine/<clientId>` so no subscriber sees it and the device does not loop on reconnects;
 * `'disconnect'` closes the connection instead (MQTT 3.1.1 has no negative PUBACK). An unauthorised subscription
 * is refused with SUBACK failure (0x80).
 *
 * Ingest in the publish path: aedes writes the PUBACK of a QoS 1 publish right after `authorizePublish`, so that
 * hook is where `ingest.accept()` runs; the PUBACK goes back only once the message is in the stream (or the DLQ).
 * If the ingest refuses (stream down), the client is disconnected without a PUBACK and redelivers on reconnect.
 */
import { channel } from 'node:diagnostics_channel';
import { createServer as createNetServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { randomBytes } from 'node:crypto';
import {
  Aedes,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from 'aedes';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Topics } from '../../protocol/topics.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { assertSecureListener, isLoopbackHost } from '../../lib/listen-guard.ts';
import { TopicAuthorizer, type Identity } from './topic-authorizer.ts';
import { emptyCredentials, type Credentials } from './credentials.ts';
import {
  pem,
  resolveBrokerOptions,
  type ResolvedBrokerOptions,
  type BrokerStats,
  type BrokerTlsOptions,
  type EmbeddedBrokerOptions,
} from './broker-options.ts';
import { hashPassword, parsePasswordHash } from './password-hash.ts';
import { authError, identifyClient } from './identify-client.ts';
import { LoginRateLimiter } from './login-rate-limiter.ts';
import { checkConnect } from './connect-check.ts';
import { markRedeliveriesDup, type OutgoingQueue } from './redelivery-dup.ts';

export type { BrokerStats, BrokerTlsOptions, EmbeddedBrokerOptions };

const QUARANTINE_PREFIX = '$edgeloop/quarantine/';

/** diagnostics_channel events of the embedded broker. */
export const BROKER_CHANNELS = {
  /** { clientId, username, reason } when a connection is refused */
  authFailure: channel('edgeloop:broker:auth-failure'),
  /** { clientId, topic, reason, action: 'publish' | 'subscribe' } when an operation is not authorised */
  refused: channel('edgeloop:broker:refused'),
} as const;

export class EmbeddedBroker {
  readonly #o: ResolvedBrokerOptions;
  readonly #tls: ResolvedBrokerOptions['tls'];
  readonly #creds: Credentials;
  readonly #authz: TopicAuthorizer;
  readonly #topics: Topics;
  readonly #ingest: EmbeddedBrokerOptions['ingest'];
  readonly #onRefused: EmbeddedBrokerOptions['onRefused'];
  readonly #log: Logger;
  readonly #limitLoopback: boolean;
  readonly #limiter: LoginRateLimiter | undefined;
  readonly #ids = new WeakMap<Client, Identity>();
  readonly #sockets = new Set<Socket>();
  #aedes: Aedes | undefined;
  #server: Server | undefined;
  #tlsServer: Server | undefined;
  #port: number | undefined;
  #tlsPort: number | undefined;
  #state: 'new' | 'started' | 'closed' = 'new';
  #devices = 0;
  readonly #s = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    authFailures: 0,
    refusedPublishes: 0,
    refusedSubscriptions: 0,
    ingestRefusals: 0,
    loginsRateLimited: 0,
    loginLockouts: 0,
    protocolRefusals: 0,
  };

  constructor(opts: EmbeddedBrokerOptions = {}) {
    const o = (this.#o = resolveBrokerOptions(opts));
    this.#tls = o.tls;
    this.#creds = o.credentials ?? emptyCredentials();
    this.#topics = new Topics(o.topicPrefix);
    this.#authz = new TopicAuthorizer(this.#topics);
    this.#ingest = o.ingest;
    this.#onRefused = o.onRefused;
    this.#log = o.logger ?? silentLogger;
    const { limitLoopback, ...limits } = o.loginRateLimit === false ? { limitLoopback: false } : o.loginRateLimit;
    this.#limitLoopback = limitLoopback;
    this.#limiter = o.loginRateLimit === false ? undefined : new LoginRateLimiter(limits, o.clock);
  }

  /** mqtt://host:port of the plain listener (after start) */
  get url(): string | undefined {
    return this.#port === undefined ? undefined : `mqtt://${this.#displayHost()}:${this.#port}`;
  }
  get tlsUrl(): string | undefined {
    return this.#tlsPort === undefined ? undefined : `mqtts://${this.#displayHost()}:${this.#tlsPort}`;
  }
  get port(): number | undefined {
    return this.#port;
  }
  get tlsPort(): number | undefined {
    return this.#tlsPort;
  }

  async start(): Promise<void> {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', 'EmbeddedBroker is closed');
    if (this.#state === 'started') return;
    this.#assertSecureListener();
    this.#state = 'started';
    const tlsMaterial = this.#tls
      ? { cert: pem(this.#tls.cert, 'certificate')!, key: pem(this.#tls.key, 'key')!, ca: pem(this.#tls.ca, 'CA') }
      : undefined;
    const aedes = await Aedes.createBroker({
      preConnect: (client, packet, cb) => this.#preConnect(client, packet, cb),
      authenticate: (client, username, password, cb) => {
        const address = (client.conn as Partial<Socket>).remoteAddress;
        this.#authenticate(client, address, username, password).then(
          () => cb(null, true),
          (err: AuthenticateError) => {
            this.#s.authFailures++;
            if (BROKER_CHANNELS.authFailure.hasSubscribers)
              BROKER_CHANNELS.authFailure.publish({ clientId: client.id, username, reason: err.message });
            this.#log.warn(
              { clientId: client.id, username, address, reason: err.message },
              'broker authentication refused',
            );
            cb(err, false);
          },
        );
      },
      authorizePublish: (client, packet, cb) => this.#authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => {
        const id = client ? this.#ids.get(client) : undefined;
        const reason = id ? this.#authz.checkSubscribe(id, sub.topic) : 'not authenticated';
        if (reason) {
          this.#s.refusedSubscriptions++;
          if (BROKER_CHANNELS.refused.hasSubscribers)
            BROKER_CHANNELS.refused.publish({ clientId: client?.id, topic: sub.topic, reason, action: 'subscribe' });
          this.#log.warn({ clientId: client?.id, topic: sub.topic, reason }, 'subscription refused');
          cb(null, null as unknown as Subscription);
          return;
        }
        cb(null, sub);
      },
      authorizeForward: (_client, packet) => {
        this.#s.messagesOut++;
        return packet;
      },
    });
    markRedeliveriesDup((aedes as unknown as { persistence: OutgoingQueue }).persistence); // untyped in aedes' .d.ts
    this.#aedes = aedes;
    aedes.on('clientReady', (client) => {
      if (this.#ids.get(client)?.kind === 'device') this.#devices++;
    });
    aedes.on('clientDisconnect', (client) => {
      if (this.#ids.get(client)?.kind === 'device') this.#devices--;
    });
    aedes.on('clientError', (client, err) =>
      this.#log.debug({ clientId: client.id, err: err.message }, 'client error'),
    );
    try {
      if (this.#o.port !== null) {
        this.#server = createNetServer((s) => this.#handle(s));
        this.#port = await this.#listen(this.#server, this.#o.port);
      }
      if (this.#tls && tlsMaterial) {
        this.#tlsServer = createTlsServer(
          {
            cert: tlsMaterial.cert,
            key: tlsMaterial.key,
            ...(tlsMaterial.ca ? { ca: tlsMaterial.ca, requestCert: true } : {}),
            rejectUnauthorized: this.#tls.requireClientCert,
          },
          (s) => this.#handle(s),
        );
        this.#tlsPort = await this.#listen(this.#tlsServer, this.#tls.port);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#log.info({ url: this.url, tlsUrl: this.tlsUrl }, 'embedded broker listening');
  }

  stats(): BrokerStats {
    return { connectedClients: this.#aedes?.connectedClients ?? 0, connectedDevices: this.#devices, ...this.#s };
  }

  /**
   * A service identity for a part in the same process (the rollout controller, the simulator's observer): a random
   * password that lives only in memory and only for this broker's lifetime, so embedded set-ups need no
   * credentials file entry for their own services.
   */
  async addInProcessService(name: string): Promise<{ username: string; password: string }> {
    const password = randomBytes(24).toString('base64url');
    this.#creds.services.set(name, parsePasswordHash(await hashPassword(password, { N: 1024, r: 8, p: 1 })));
    return { username: name, password };
  }

  /** The aedes instance (for services in the same process, e.g. publishing retained manifests). */
  get aedes(): Aedes | undefined {
    return this.#aedes;
  }

  /** Stop listening, drop clients, close aedes. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const servers = [this.#tlsServer, this.#server].filter((s): s is Server => s !== undefined);
    this.#tlsServer = undefined;
    this.#server = undefined;
    const closing = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    const aedes = this.#aedes;
    this.#aedes = undefined;
    if (aedes) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.#o.drainTimeoutMs);
        t.unref();
        aedes.close(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await Promise.all(closing);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A non-loopback listener with anonymous access needs `insecure: true`. */
  #assertSecureListener(): void {
    const port = this.#o.port ?? this.#tls!.port; // a null port comes with a TLS listener
    try {
      assertSecureListener({
        host: this.#o.host,
        port,
        authConfigured: !this.#o.allowAnonymous,
        insecure: this.#o.insecure,
        what: 'the embedded MQTT broker (allowAnonymous: true)',
        logger: this.#log,
      });
    } catch (err) {
      const e = err as EdgeloopError;
      throw new EdgeloopError(
        e.code,
        `${e.message} (here: allowAnonymous: false, or the option insecure: true, broker.embedded.insecure in cloud.yaml)`,
        { cause: err, details: e.details ?? {} },
      );
    }
  }

  /** Refuse, with the CONNACK the standard asks for, what aedes would accept (connect-check.ts). */
  #preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    const refusal = checkConnect(packet);
    if (!refusal) {
      cb(null, true);
      return;
    }
    this.#s.protocolRefusals++;
    this.#log.warn(
      { clientId: packet.clientId, protocolVersion: packet.protocolVersion, code: refusal.code },
      refusal.reason,
    );
    // aedes closes the connection once the callback has an error; answer first
    client.conn.write(refusal.connack, () => cb(new EdgeloopError('EL_ERR_BROKER_PROTOCOL', refusal.reason), false));
  }

  /** Rate limit, then identify; a failure counts against the address and the username. */
  async #authenticate(
    client: Client,
    address: string | undefined,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    const limiter = this.#limiter;
    // loopback clients are this machine's own processes (in-process services, a local simulator): a misconfigured
    // one must not lock the others out, so only their usernames are limited
    const limitedAddress =
      address !== undefined && (this.#limitLoopback || !isLoopbackHost(address)) ? address : undefined;
    const decision = limiter?.check(limitedAddress, username);
    if (decision && !decision.allowed) {
      this.#s.loginsRateLimited++;
      throw authError(
        `too many failed logins for ${decision.key} ${decision.value}; retry in ${Math.ceil(decision.retryAfterMs / 1000)} s`,
        5,
      );
    }
    let id: Identity;
    try {
      id = await identifyClient(client, username, password, { ...this.#o, credentials: this.#creds });
    } catch (err) {
      for (const l of limiter?.recordFailure(limitedAddress, username) ?? []) {
        this.#s.loginLockouts++;
        this.#log.warn(
          { [l.key]: l.value, failures: l.failures, lockoutMs: l.lockoutMs },
          `broker logins locked out: ${l.failures} failed logins for ${l.key} ${l.value}`,
        );
      }
      throw err;
    }
    limiter?.recordSuccess(username);
    this.#ids.set(client, id);
  }

  #displayHost(): string {
    return this.#o.host === '0.0.0.0' || this.#o.host === '::' ? '127.0.0.1' : this.#o.host;
  }

  #handle(s: Socket): void {
    const aedes = this.#aedes;
    if (!aedes) {
      s.destroy();
      return;
    }
    this.#sockets.add(s);
    s.on('close', () => this.#sockets.delete(s));
    s.on('error', () => {});
    aedes.handle(s);
  }

  async #listen(server: Server, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onErr = (err: Error): void =>
        reject(
          new EdgeloopError('EL_ERR_BROKER_LISTEN', `broker cannot listen on ${this.#o.host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      server.once('error', onErr);
      server.listen(port, this.#o.host, () => {
        server.off('error', onErr);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  #authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    if (!client) {
      cb(null); // will of a client gone before this broker knew it
      return;
    }
    if (packet.topic.startsWith('$')) {
      // $SYS and quarantine topics are the broker's own
      cb(new Error(`publishing to ${packet.topic} is not allowed`));
      return;
    }
    this.#s.messagesIn++;
    const payload = packet.payload as Buffer;
    this.#s.bytesIn += payload.byteLength;
    const id = this.#ids.get(client);
    const reason = id ? this.#authz.checkPublish(id, packet.topic) : 'not authenticated';
    if (reason) {
      this.#s.refusedPublishes++;
      if (BROKER_CHANNELS.refused.hasSubscribers)
        BROKER_CHANNELS.refused.publish({ clientId: client.id, topic: packet.topic, reason, action: 'publish' });
      this.#log.warn({ clientId: client.id, topic: packet.topic, reason }, 'publish refused');
      try {
        this.#onRefused?.({
          reason: 'unauthorized',
          code: 'EL_ERR_BROKER_NOT_AUTHORIZED',
          detail: reason,
          topic: packet.topic,
          clientId: client.id,
          deviceId: id?.kind === 'device' ? id.deviceId : undefined,
          payload,
        });
      } catch (err) {
        // could not record it: do not acknowledge, the client is disconnected and may retry
        cb(err as Error);
        return;
      }
      if (this.#o.unauthorizedPublish === 'disconnect') {
        cb(new EdgeloopError('EL_ERR_BROKER_NOT_AUTHORIZED', reason));
        return;
      }
      this.#quarantine(client, packet);
      cb(null);
      return;
    }
    const ingest = this.#ingest;
    if (!ingest) {
      cb(null);
      return;
    }
    const t = this.#topics.parse(packet.topic);
    if (!t || t.kind === 'model-desired') {
      cb(null);
      return;
    }
    ingest.accept({ topic: packet.topic, payload, clientId: client.id }).then(
      (outcome) => {
        if (outcome === 'dead-letter') this.#quarantine(client, packet);
        cb(null);
      },
      (err: Error) => {
        this.#s.ingestRefusals++;
        this.#log.error(
          { clientId: client.id, topic: packet.topic, err: err.message },
          'ingest refused a message; disconnecting client for redelivery',
        );
        cb(err);
      },
    );
  }

  #quarantine(client: Client, packet: PublishPacket): void {
    packet.topic = QUARANTINE_PREFIX + client.id;
    packet.retain = false;
  }
}
