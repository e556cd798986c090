/**
 * AwsIotTransport beyond the contract: the AWS IoT config builder path (direct MQTT over mutual TLS, as with IoT
 * Core) against mosquitto with test certificates, option validation, giving up, and releasing the native client.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isEdgeloopError } from '../../protocol/errors.ts';
import { AwsIotTransport, type AwsIotTransportOptions } from '../../transport/aws-iot-transport.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

function transport(opts: AwsIotTransportOptions): AwsIotTransport {
  const t = new AwsIotTransport(opts);
  onTestFinished(() => t.close());
  return t;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return '';
}

describe('AwsIotTransport options', () => {
  it('requires a certificate and key unless insecurePlaintext, and rejects misspellings with a hint', () => {
    expect(
      messageOf(() => new AwsIotTransport({ endpoint: 'abc-ats.iot.eu-west-1.amazonaws.com', clientId: 'thing-1' })),
    ).toMatch(
      /EL_ERR_CONFIG_INVALID: AwsIotTransport: certPath: a device certificate is required.*keyPath: the private key is required/,
    );
    expect(
      messageOf(
        () => new AwsIotTransport({ endpoint: 'e', clientId: 't', insecurePlaintext: true, certPth: '/x' } as never),
      ),
    ).toMatch(/unknown option "certPth" \(did you mean "certPath"\?\)/);
    expect(
      messageOf(() => new AwsIotTransport({ endpoint: 'mqtts://e', clientId: 't', insecurePlaintext: true })),
    ).toMatch(/endpoint: endpoint is a host name/);
    const t = new AwsIotTransport({ endpoint: 'e', clientId: 't', insecurePlaintext: true });
    expect(t.connected).toBe(false);
  });

  it('start() rejects with EL_ERR_CONFIG_INVALID naming the field when a certificate file cannot be read', async () => {
    const t = transport({
      endpoint: 'localhost',
      clientId: 't',
      certPath: '/nonexistent/cert.pem',
      keyPath: '/nonexistent/key.pem',
    });
    const err = await t.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isEdgeloopError(err, 'EL_ERR_CONFIG_INVALID')).toBe(true);
    expect(err!.message).toMatch(/certPath \/nonexistent\/cert.pem/);
  });

  it('gives up after reconnect.maxAttempts with EL_ERR_TRANSPORT_CONNECT', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const { port } = s.address() as AddressInfo;
    await new Promise<void>((r) => s.close(() => r()));
    const t = transport({
      endpoint: '127.0.0.1',
      port,
      clientId: 'gives-up',
      insecurePlaintext: true,
      reconnect: { minMs: 10, maxMs: 20, maxAttempts: 2 },
    });
    const err = await t.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isEdgeloopError(err, 'EL_ERR_TRANSPORT_CONNECT')).toBe(true);
    expect(err!.message).toMatch(/after 3 failed attempts/);
  });
});

describe('AwsIotTransport over mutual TLS (the IoT Core path) on mosquitto', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ tls: true });
  });
  afterAll(() => broker.close());

  it('connects with the device certificate from files, publishes (PUBACK) and receives', async () => {
    const c = broker.certs!;
    const t = transport({
      endpoint: 'localhost',
      port: broker.tlsPort!,
      clientId: 'thing-tls-1',
      certPath: c.clientCertPath,
      keyPath: c.clientKeyPath,
      caPath: c.caPath,
      startTimeoutMs: 15_000,
    });
    await t.start();
    const got = new Promise<[string, Buffer]>((r) => t.once('message', (topic, payload) => r([topic, payload])));
    await t.subscribe(['iot/echo'], 1);
    await t.publish({ topic: 'iot/echo', payload: Buffer.from('mtls'), qos: 1 });
    const [topic, payload] = await got;
    expect(topic).toBe('iot/echo');
    expect(payload.toString()).toBe('mtls');
    // the client certificate's CN is the identity mosquitto saw
    expect(broker.log()).toMatch(/as thing-tls-1 .*u'edgeloop-test-device'/);
    await t.close();
    expect(t.connected).toBe(false);
  });
});
