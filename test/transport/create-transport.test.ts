import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isEdgeloopError } from '../../protocol/errors.ts';
import { createTransport, parseTransportConfig, TransportConfigSchema } from '../../transport/create-transport.ts';
import { MqttTransport } from '../../transport/mqtt-transport.ts';
import { AwsIotTransport } from '../../transport/aws-iot-transport.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseTransportConfig / TransportConfigSchema', () => {
  it('accepts both kinds and keeps the parsed values', () => {
    expect(parseTransportConfig({ kind: 'mqtt', url: 'mqtt://broker:1883', maxInFlight: 50 })).toMatchObject({
      kind: 'mqtt',
      maxInFlight: 50,
    });
    const aws = {
      kind: 'aws-iot',
      endpoint: 'abc-ats.iot.eu-west-1.amazonaws.com',
      certPath: '/c',
      keyPath: '/k',
      caPath: '/ca',
    };
    expect(parseTransportConfig(aws)).toMatchObject(aws);
    expect(TransportConfigSchema.safeParse(aws).success).toBe(true);
  });

  it('names the field in every error, and suggests the right name for a misspelled one', () => {
    const e1 = errorOf(() => parseTransportConfig({ kind: 'aws-iot', endpoint: 'e' }, 'agent.yaml: transport'));
    expect(isEdgeloopError(e1, 'EL_ERR_CONFIG_INVALID')).toBe(true);
    expect(e1.message).toMatch(/agent\.yaml: transport\.certPath: required.*transport\.keyPath: required/);
    expect(errorOf(() => parseTransportConfig({ kind: 'mqtt', url: 'mqtt://h', keepAlive: 30 })).message).toMatch(
      /transport: unknown field "keepAlive" \(did you mean "keepaliveSeconds"\?\)/,
    );
    expect(
      errorOf(() => parseTransportConfig({ kind: 'mqtt', url: 'mqtt://h', reconnect: { maxMS: 1 } })).message,
    ).toMatch(/unknown field "reconnect.maxMS" \(did you mean "reconnect.maxMs"\?\)/);
    expect(errorOf(() => parseTransportConfig({ kind: 'awsiot', endpoint: 'e' })).message).toMatch(
      /transport\.kind: expected "mqtt" or "aws-iot", got "awsiot" \(did you mean "aws-iot"\?\)/,
    );
    expect(errorOf(() => parseTransportConfig({ kind: 'mqtt', url: 'tcp://h' })).message).toMatch(
      /transport\.url: expected mqtt:/,
    );
    expect(
      errorOf(() => parseTransportConfig({ kind: 'mqtt', url: 'mqtt://h', publishRatePerSecond: 'fast' })).message,
    ).toMatch(/transport\.publishRatePerSecond: /);
    expect(errorOf(() => parseTransportConfig('mqtt://h')).message).toMatch(/expected a mapping/);
  });

  it('createTransport needs a clientId from the config or at run time, and names unreadable files', async () => {
    await expect(createTransport({ kind: 'mqtt', url: 'mqtt://h' })).rejects.toThrow(/transport\.clientId: required/);
    await expect(
      createTransport({ kind: 'mqtt', url: 'mqtts://h', tls: { caFile: '/nonexistent/ca.pem' } }, { clientId: 'd1' }),
    ).rejects.toThrow(/transport\.tls\.caFile: cannot read \/nonexistent\/ca\.pem/);
    expect(
      errorOf(() => parseTransportConfig({ kind: 'mqtt', url: 'mqtts://h', tls: { certfile: '/x' } })).message,
    ).toMatch(/unknown field "tls.certfile" \(did you mean "tls.certFile"\?\)/);
    await expect(
      createTransport(
        { kind: 'aws-iot', endpoint: 'e', certPath: '/nonexistent/c.pem', keyPath: '/nonexistent/k.pem' },
        { clientId: 'd1' },
      ),
    ).rejects.toThrow(/transport\.certPath: cannot read \/nonexistent\/c\.pem/);
    const t = await createTransport(
      { kind: 'aws-iot', endpoint: '127.0.0.1', insecurePlaintext: true },
      { clientId: 'd1' },
    );
    expect(t).toBeInstanceOf(AwsIotTransport);
    expect((t as AwsIotTransport).options.publishRatePerSecond).toBeUndefined(); // default 100/s applies
  });
});

describe('createTransport against mosquitto', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ tls: true });
  });
  afterAll(() => broker.close());

  it('builds an MqttTransport with TLS files from the config, and the will from run time', async () => {
    const c = broker.certs!;
    const t = await createTransport(
      {
        kind: 'mqtt',
        url: broker.tlsUrl!,
        tls: { caFile: c.caPath, certFile: c.clientCertPath, keyFile: c.clientKeyPath },
        protocolVersion: 5,
      },
      { clientId: 'cfg-dev-1', will: { topic: 'edgeloop/v1/cfg-dev-1/status', payload: '{"online":false}' } },
    );
    onTestFinished(() => t.close());
    expect(t).toBeInstanceOf(MqttTransport);
    await t.start();
    await t.publish({ topic: 'edgeloop/v1/cfg-dev-1/telemetry', payload: Buffer.from('x'), qos: 1 });
    expect(t.stats.acked).toBe(1);
  });

  it('builds an AwsIotTransport (mutual TLS) from file paths', async () => {
    const c = broker.certs!;
    const t = await createTransport(
      {
        kind: 'aws-iot',
        endpoint: 'localhost',
        port: broker.tlsPort!,
        certPath: c.clientCertPath,
        keyPath: c.clientKeyPath,
        caPath: c.caPath,
      },
      { clientId: 'cfg-thing-1' },
    );
    onTestFinished(() => t.close());
    await t.start();
    await t.publish({ topic: 'edgeloop/v1/cfg-thing-1/telemetry', payload: Buffer.from('x'), qos: 1 });
    expect(t.stats.acked).toBe(1);
  });
});
