/**
 * MqttTransport beyond the contract: option validation, TLS with client certificates and password auth on a real
 * mosquitto, PUBACK timeouts, queue bounds, giving up, and that close() leaves no timer behind.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../lib/clock.ts';
import { isEdgeloopError } from '../../protocol/errors.ts';
import { MqttTransport, type MqttTransportOptions } from '../../transport/mqtt-transport.ts';
import { startTestBroker, type TestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { MqttProxy } from './mqtt-proxy.ts';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return isEdgeloopError(err) ? err.code : `not an EdgeloopError: ${String(err)}`;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

function transport(opts: MqttTransportOptions): MqttTransport {
  const t = new MqttTransport(opts);
  onTestFinished(() => t.close());
  return t;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('MqttTransport options', () => {
  it('rejects misspelled options with a hint, and bad values naming the field', () => {
    expect(messageOf(() => new MqttTransport({ url: 'mqtt://h', clientId: 'd1', maxInflight: 5 } as never))).toMatch(
      /unknown option "maxInflight" \(did you mean "maxInFlight"\?\)/,
    );
    expect(
      messageOf(
        () =>
          new MqttTransport({
            url: 'mqtt://h',
            clientId: 'd1',
            will: { topic: 't', payload: 'x', retian: true },
          } as never),
      ),
    ).toMatch(/unknown option "will.retian" \(did you mean "will.retain"\?\)/);
    expect(messageOf(() => new MqttTransport({ url: 'http://h', clientId: 'd1' }))).toMatch(
      /MqttTransport: url: url must be mqtt:/,
    );
    expect(messageOf(() => new MqttTransport({ url: 'mqtt://h', clientId: 'a/b' }))).toMatch(/clientId/);
    expect(messageOf(() => new MqttTransport({ url: 'mqtt://h', clientId: 'd1', maxInFlight: 0 }))).toMatch(
      /maxInFlight/,
    );
    expect(
      messageOf(() => new MqttTransport({ url: 'mqtt://h', clientId: 'd1', will: { topic: 'a/#', payload: 'x' } })),
    ).toMatch(/wildcards/);
    const err = (() => {
      try {
        new MqttTransport({ url: 'mqtt://h', clientId: 'd1', reconnect: { minMs: -1 } });
      } catch (e) {
        return e;
      }
    })();
    expect(isEdgeloopError(err, 'EL_ERR_CONFIG_INVALID')).toBe(true);
    // the options are validated and frozen; the constructor does no I/O
    const t = new MqttTransport({ url: 'mqtt://127.0.0.1:1', clientId: 'd1' });
    expect(Object.isFrozen(t.options)).toBe(true);
    expect(t.connected).toBe(false);
  });
});

describe('MqttTransport on aedes', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(() => broker.close());

  it('PUBACK timeout: rejects with EL_ERR_TRANSPORT_TIMEOUT, drops the connection and reconnects', async () => {
    const proxy = new MqttProxy('127.0.0.1', broker.port);
    await proxy.start();
    onTestFinished(() => proxy.close());
    const clock = new ManualClock(0);
    const t = transport({
      url: `mqtt://127.0.0.1:${proxy.port}`,
      clientId: 'timeout-1',
      clock,
      random: () => 0,
      publishTimeoutMs: 10_000,
    });
    await t.start();
    proxy.hold();
    const first = t.publish({ topic: 'x/t', payload: Buffer.from('a'), qos: 1 });
    await proxy.waitFor(() => proxy.counters.publishes === 1);
    clock.advance(5_000);
    const second = t.publish({ topic: 'x/t', payload: Buffer.from('b'), qos: 1 });
    await proxy.waitFor(() => proxy.counters.publishes === 2);
    const offline = new Promise<string>((r) => t.once('offline', r));
    clock.advance(5_000); // the first is 10 s old: timeout; the second goes with the dropped connection
    expect(await codeOf(first)).toBe('EL_ERR_TRANSPORT_TIMEOUT');
    expect(await codeOf(second)).toBe('EL_ERR_TRANSPORT_DISCONNECTED');
    expect(await offline).toMatch(/PUBACK timeout/);
    proxy.release();
    const back = new Promise<void>((r) => t.once('connect', () => r()));
    clock.advance(0); // random() = 0: the first reconnect is immediate
    await back;
    await t.publish({ topic: 'x/t', payload: Buffer.from('c'), qos: 1 });
    expect(t.stats).toMatchObject({ acked: 1, failed: 2, connects: 2, inFlight: 0, waiting: 0 });
  });

  it('a subscription the broker refuses rejects with EL_ERR_TRANSPORT_REJECTED and is not restored', async () => {
    const original = broker.aedes.authorizeSubscribe;
    broker.aedes.authorizeSubscribe = (client, sub, done) => done(null, sub.topic.startsWith('denied/') ? null : sub);
    onTestFinished(() => {
      broker.aedes.authorizeSubscribe = original;
    });
    const t = transport({ url: broker.url, clientId: 'refused-1' });
    await t.start();
    expect(await codeOf(t.subscribe(['ok/a', 'denied/b'], 1))).toBe('EL_ERR_TRANSPORT_REJECTED');
    await t.subscribe(['ok/c'], 1);
  });

  it('refuses publishes beyond maxWaiting with EL_ERR_TRANSPORT_QUEUE_FULL, QoS 0 resolves when written', async () => {
    const t = transport({ url: broker.url, clientId: 'queue-1', maxInFlight: 1, maxWaiting: 2 });
    await t.start();
    const ps = [0, 1, 2].map((i) => t.publish({ topic: 'x/q', payload: Buffer.from([i]), qos: 1 }));
    expect(await codeOf(t.publish({ topic: 'x/q', payload: Buffer.from([3]), qos: 1 }))).toBe(
      'EL_ERR_TRANSPORT_QUEUE_FULL',
    );
    await Promise.all(ps);
    await t.publish({ topic: 'x/q', payload: new Uint8Array([9, 9]).subarray(1), qos: 0 });
    expect(t.stats.acked).toBe(4);
  });

  it('start() with startTimeoutMs rejects EL_ERR_TRANSPORT_TIMEOUT while retrying; maxAttempts gives up', async () => {
    const port = await closedPort();
    const clock = new ManualClock(0);
    const t = transport({
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'st-1',
      clock,
      startTimeoutMs: 3000,
      reconnect: { minMs: 100 },
    });
    const started = t.start();
    const attempts: number[] = [];
    await new Promise<void>((resolve) =>
      t.on('reconnecting', (_d: number, attempt: number) => {
        attempts.push(attempt);
        resolve();
      }),
    );
    clock.advance(3000);
    expect(await codeOf(started)).toBe('EL_ERR_TRANSPORT_TIMEOUT');
    await t.close();
    expect(clock.pendingTimers).toBe(0);

    const t2 = transport({
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'st-2',
      reconnect: { minMs: 1, maxMs: 2, maxAttempts: 2 },
    });
    const err = await t2.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isEdgeloopError(err, 'EL_ERR_TRANSPORT_CONNECT')).toBe(true);
    expect((err as Error).message).toMatch(/after 3 failed attempts/);
    expect((err as Error).cause).toBeInstanceOf(Error);

    // start() again after giving up begins a fresh round of attempts (here: the broker is now there)
    const late = await startTestBroker(port);
    onTestFinished(() => late.close());
    await t2.start();
    expect(t2.connected).toBe(true);
  });

  it('close() leaves no timer of its own and is safe while disconnected or during start()', async () => {
    const clock = new ManualClock(0);
    const t = transport({ url: broker.url, clientId: 'close-1', clock, publishRatePerSecond: 1, publishBurst: 1 });
    await t.start();
    await t.subscribe(['x/c/#'], 1);
    const ps = [0, 1, 2].map((i) => t.publish({ topic: 'x/c', payload: Buffer.from([i]), qos: 1 }));
    const codes = Promise.all(ps.map((p) => codeOf(p)));
    await ps[0];
    expect(clock.pendingTimers).toBeGreaterThan(0); // the stable timer and the refill timer
    await t.close();
    expect(await codes).toEqual([undefined, 'EL_ERR_TRANSPORT_CLOSED', 'EL_ERR_TRANSPORT_CLOSED']);
    expect(clock.pendingTimers).toBe(0);

    const t2 = transport({ url: broker.url, clientId: 'close-2' });
    const starting = t2.start();
    await t2.close();
    expect(['EL_ERR_TRANSPORT_CLOSED', undefined]).toContain(await codeOf(starting));
  });
});

describe('MqttTransport on mosquitto: TLS with client certificates, passwords', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ tls: true, users: { device: 's3cret' } });
  });
  afterAll(() => broker.close());

  it('connects over mqtts:// with a client certificate signed by the test CA, and publishes/subscribes', async () => {
    const c = broker.certs!;
    const t = transport({
      url: broker.tlsUrl!,
      clientId: 'tls-dev-1',
      protocolVersion: 5,
      startTimeoutMs: 10_000,
      tls: { ca: c.ca, cert: c.clientCert, key: Buffer.from(c.clientKey) },
    });
    await t.start();
    const got = new Promise<[string, Buffer]>((r) => t.once('message', (topic, payload) => r([topic, payload])));
    await t.subscribe(['tls/echo'], 1);
    await t.publish({ topic: 'tls/echo', payload: Buffer.from('over tls'), qos: 1 });
    const [topic, payload] = await got;
    expect(topic).toBe('tls/echo');
    expect(payload.toString()).toBe('over tls');
    expect(broker.log()).toMatch(/New client connected .* as tls-dev-1/);
  });

  it('does not connect without a client certificate, or when the CA does not match', async () => {
    const c = broker.certs!;
    const noCert = transport({
      url: broker.tlsUrl!,
      clientId: 'tls-nocert',
      tls: { ca: c.ca },
      reconnect: { minMs: 1, maxMs: 2, maxAttempts: 1 },
    });
    expect(await codeOf(noCert.start())).toBe('EL_ERR_TRANSPORT_CONNECT');
    const wrongCa = transport({
      url: broker.tlsUrl!,
      clientId: 'tls-wrongca',
      tls: { cert: c.clientCert, key: c.clientKey }, // Node's public trust store does not know the test CA
      reconnect: { minMs: 1, maxMs: 2, maxAttempts: 1 },
    });
    const err = await wrongCa.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isEdgeloopError(err, 'EL_ERR_TRANSPORT_CONNECT')).toBe(true);
    expect(String((err!.cause as Error).message)).toMatch(/certificate/i);
  });

  it('authenticates with username/password; wrong credentials are refused (CONNACK) and retried until maxAttempts', async () => {
    const ok = transport({ url: broker.url, clientId: 'pw-ok', username: 'device', password: 's3cret' });
    await ok.start();
    await ok.publish({ topic: 'pw/t', payload: Buffer.from('x'), qos: 1 });
    const bad = transport({
      url: broker.url,
      clientId: 'pw-bad',
      username: 'device',
      password: 'wrong',
      reconnect: { minMs: 1, maxMs: 2, maxAttempts: 2 },
    });
    const errors: Error[] = [];
    bad.on('error', (e) => errors.push(e));
    const err = await bad.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isEdgeloopError(err, 'EL_ERR_TRANSPORT_CONNECT')).toBe(true);
    expect(errors.some((e) => /Not authorized|Bad username or password/i.test(e.message))).toBe(true);
  });

  it('MQTT 5 persistent session: messages published while the device is offline arrive after it reconnects', async () => {
    const t = transport({
      url: broker.url,
      clientId: 'sess-1',
      protocolVersion: 5,
      sessionExpirySeconds: 600,
      username: 'device',
      password: 's3cret',
    });
    await t.start();
    await t.subscribe(['sess/models/+'], 1);
    await t.close();
    const pub = await mqtt.connectAsync(broker.url, { username: 'device', password: 's3cret', reconnectPeriod: 0 });
    onTestFinished(() => pub.endAsync(true));
    await pub.publishAsync('sess/models/m1', 'while-offline', { qos: 1 });
    const t2 = transport({
      url: broker.url,
      clientId: 'sess-1',
      protocolVersion: 5,
      sessionExpirySeconds: 600,
      username: 'device',
      password: 's3cret',
    });
    const got = new Promise<string>((r) => t2.once('message', (_topic, payload) => r(payload.toString())));
    await t2.start();
    expect(await got).toBe('while-offline');
  });
});
