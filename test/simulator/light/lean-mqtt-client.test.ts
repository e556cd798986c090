import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { LeanMqttClient } from '../../../simulator/light/lean-mqtt-client.ts';

async function subscriber(url: string, topic: string): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const c = await mqtt.connectAsync(url, { clientId: `sub-${Math.random()}`, clean: false, reconnectPeriod: 100 });
  onTestFinished(() => c.endAsync(true));
  c.on('message', (_t, p) => got.push(p));
  await c.subscribeAsync(topic, { qos: 1 });
  return got;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LeanMqttClient', () => {
  it('publishes QoS 1 to a real broker and gets every PUBACK', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const got = await subscriber(broker.url, 't/#');
    const acks: number[] = [];
    const c = new LeanMqttClient({
      host: '127.0.0.1',
      port: broker.port,
      clientId: 'dev-1',
      onAck: (_c, tag) => acks.push(tag),
    });
    onTestFinished(() => c.close());
    await c.connect();
    const big = Buffer.alloc(200_000, 7); // remaining length needs 3 varint bytes
    for (let i = 0; i < 100; i++) c.publish('t/a', Buffer.from(String(i)), i);
    c.publish('t/big', big, 100);
    await until(() => acks.length === 101 && got.length === 101, 'acks and deliveries');
    expect(acks).toEqual(Array.from({ length: 101 }, (_, i) => i));
    expect(got.slice(0, 100).map(String)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    expect(got[100]!.equals(big)).toBe(true);
    expect(c.backlog).toBe(0);
  });

  it('queues while the broker is down and re-sends after reconnecting, nothing lost', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const got = await subscriber(broker.url, 't/#');
    const c = new LeanMqttClient({
      host: '127.0.0.1',
      port: broker.port,
      clientId: 'dev-2',
      retry: { minMs: 20, maxMs: 100 },
    });
    onTestFinished(() => c.close());
    await c.connect();
    for (let i = 0; i < 10; i++) c.publish('t/x', Buffer.from(String(i)));
    await until(() => got.length === 10, 'first batch');
    await broker.stop();
    await until(() => !c.connected, 'disconnect');
    for (let i = 10; i < 20; i++) c.publish('t/x', Buffer.from(String(i)));
    expect(c.backlog).toBeGreaterThan(0);
    await broker.restart();
    await until(() => new Set(got.map(String)).size === 20 && c.backlog === 0, 'resend after restart');
    expect(c.connects).toBe(2);
  });

  it('rejects connect() with the broker reason when credentials are refused', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    broker.aedes.authenticate = (_client, user, _pw, done) => done(null, user === 'ok');
    const bad = new LeanMqttClient({
      host: '127.0.0.1',
      port: broker.port,
      clientId: 'dev-3',
      username: 'nope',
      password: 'x',
    });
    onTestFinished(() => bad.close());
    await expect(bad.connect()).rejects.toMatchObject({
      code: 'EL_ERR_SIM_CONNECT',
      message: expect.stringMatching(/bad user name or password|not authorized/),
    });
    const good = new LeanMqttClient({
      host: '127.0.0.1',
      port: broker.port,
      clientId: 'dev-4',
      username: 'ok',
      password: 'x',
    });
    onTestFinished(() => good.close());
    await good.connect();
    expect(good.connected).toBe(true);
  });
});
