/**
 * The checks of the Eclipse Paho MQTT 3.1.1 interoperability client test (paho.mqtt.testing,
 * interoperability/client_test.py), written for the embedded broker with real mqtt.js clients (and a raw socket
 * where a client library would not send the packet). Topics and client ids follow that test; both clients log in as
 * services (which may use any topic), a device is used where the check needs a refusal. docs/broker.md lists the
 * results. Absence is checked with a sentinel message published after the one that must not arrive.
 */
import type { MqttClient, IClientOptions, IPublishPacket } from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../../../cloud/broker/embedded-broker.ts';
import { connect, disconnect, memoryLogger, publish, startBroker, subscribe } from './broker-helpers.ts';
import { connectPacket, publishes, rawConnect, splitPackets, subscribePacket } from './raw-mqtt.ts';

const topics = ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'] as const;
const wildtopics = ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'] as const;
const A = { clientId: 'myclientid', username: 'svc-a', password: 'pw-a' } satisfies IClientOptions;
const B = { clientId: 'myclientid2', username: 'svc-b', password: 'pw-b' } satisfies IClientOptions;
const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

/** Messages a client receives, and a wait for the nth one. */
function collect(c: MqttClient): { messages: Received[]; count(n: number): Promise<Received[]> } {
  const messages: Received[] = [];
  const waiters: Array<() => void> = [];
  c.on('message', (topic, payload, p: IPublishPacket) => {
    messages.push({ topic, payload: payload.toString(), qos: p.qos, retain: p.retain, dup: p.dup });
    for (const w of waiters.splice(0)) w();
  });
  const count = async (n: number): Promise<Received[]> => {
    while (messages.length < n) await new Promise<void>((r) => waiters.push(r));
    return messages;
  };
  return { messages, count };
}

/** Publish a sentinel that `watcher` receives, and resolve once it has: everything sent before it has arrived. */
async function settle(
  broker: EmbeddedBroker,
  watcher: { messages: Received[]; count(n: number): Promise<Received[]> },
  topic = 'TopicA/sentinel',
): Promise<Received[]> {
  const before = watcher.messages.length;
  await new Promise<void>((r) =>
    broker.aedes!.publish(
      { cmd: 'publish', topic, payload: Buffer.from('sentinel'), qos: 0, retain: false, dup: false },
      () => r(),
    ),
  );
  const all = await watcher.count(before + 1);
  const i = all.findIndex((m, k) => k >= before && m.payload === 'sentinel');
  expect(i).toBeGreaterThanOrEqual(0);
  return all.filter((m) => m.payload !== 'sentinel');
}

/** Retained messages at QoS 0, 1 and 2 on TopicA/B, Topic/C and TopicA/C. */
async function publishRetained(c: MqttClient, payload: (qos: 0 | 1 | 2) => string): Promise<void> {
  for (const qos of [0, 1, 2] as const) await publish(c, topics[qos + 1]!, payload(qos), { qos, retain: true });
}

const url = (broker: EmbeddedBroker): string => broker.url!;

describe('Paho interoperability checks against the embedded broker', () => {
  it('basic: connect, disconnect, reconnect and a QoS 0/1/2 round trip; a second CONNECT or a wrong protocol name closes the connection', async () => {
    const { broker } = await startBroker();
    await disconnect(await connect(url(broker), A));
    const a = await connect(url(broker), A);
    const got = collect(a);
    expect(await subscribe(a, topics[0], 2)).toBe(2);
    await publish(a, topics[0], 'qos 0', { qos: 0 });
    await publish(a, topics[0], 'qos 1', { qos: 1 });
    await publish(a, topics[0], 'qos 2', { qos: 2 });
    const m = await got.count(3);
    expect(m.map((x) => [x.payload, x.qos])).toEqual([
      ['qos 0', 0],
      ['qos 1', 1],
      ['qos 2', 2],
    ]);
    await disconnect(a);

    // [MQTT-3.1.0-2]: a second CONNECT on one network connection is a protocol violation
    const cred = { clientId: 'raw', username: 'svc-a', password: 'pw-a' };
    const twice = await rawConnect(broker.port!, connectPacket(cred), connectPacket(cred));
    await twice.closed;
    expect(twice.received()).toEqual(CONNACK_OK);
    // [MQTT-3.1.2-1]: a protocol name other than "MQTT" may be closed without a CONNACK
    const wrong = await rawConnect(broker.port!, connectPacket({ ...cred, protocolName: 'hj' }));
    await wrong.closed;
    expect(wrong.received()).toHaveLength(0);
  });

  it('retained messages: delivered on subscribe with the retain flag; an empty retained payload clears them', async () => {
    const { broker } = await startBroker();
    const a = await connect(url(broker), A);
    await publishRetained(a, (qos) => `qos ${qos}`);
    const got = collect(a);
    await subscribe(a, wildtopics[5], 2);
    const m = await got.count(3);
    expect(m.map((x) => [x.topic, x.payload, x.qos, x.retain]).sort()).toEqual([
      ['Topic/C', 'qos 1', 1, true],
      ['TopicA/B', 'qos 0', 0, true],
      ['TopicA/C', 'qos 2', 2, true],
    ]);
    await disconnect(a);

    const a2 = await connect(url(broker), A);
    await publishRetained(a2, () => '');
    const got2 = collect(a2);
    await subscribe(a2, wildtopics[5], 2);
    expect(await settle(broker, got2)).toEqual([]);
  });

  it('offline message queueing: a persistent session gets the QoS 1 and 2 messages published while it was away (QoS 0 is not queued)', async () => {
    const { broker } = await startBroker();
    const a = await connect(url(broker), { ...A, clean: false });
    await subscribe(a, wildtopics[5], 2);
    await disconnect(a);
    const b = await connect(url(broker), B);
    await publish(b, topics[1], 'qos 0', { qos: 0 });
    await publish(b, topics[2], 'qos 1', { qos: 1 });
    await publish(b, topics[3], 'qos 2', { qos: 2 });
    await disconnect(b);
    let got!: ReturnType<typeof collect>;
    await connect(url(broker), { ...A, clean: false }, (c) => (got = collect(c)));
    await got.count(2);
    const m = await settle(broker, got);
    // Paho accepts 2 or 3 here; this broker does not queue QoS 0 for offline clients
    // first deliveries of messages queued while offline: not DUP
    expect(m.map((x) => [x.topic, x.payload, x.qos, x.dup])).toEqual([
      ['Topic/C', 'qos 1', 1, false],
      ['TopicA/C', 'qos 2', 2, false],
    ]);
  });

  it('will message: published when the client goes away without DISCONNECT', async () => {
    const { broker } = await startBroker();
    const a = await connect(url(broker), {
      ...A,
      keepalive: 2,
      will: { topic: topics[2], payload: Buffer.from('client not disconnected'), qos: 0, retain: false },
    });
    const b = await connect(url(broker), { ...B, clean: false });
    const got = collect(b);
    await subscribe(b, topics[2], 2);
    a.stream.destroy(); // terminate the socket: no DISCONNECT packet
    expect((await got.count(1)).map((x) => [x.topic, x.payload])).toEqual([['Topic/C', 'client not disconnected']]);
  });

  it('overlapping subscriptions: one message, at the highest QoS of the matching subscriptions', async () => {
    const { broker } = await startBroker();
    const a = await connect(url(broker), A);
    const got = collect(a);
    await new Promise<void>((resolve, reject) =>
      a.subscribe({ [wildtopics[6]]: { qos: 2 }, [wildtopics[0]]: { qos: 1 } }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await publish(a, topics[3], 'overlapping topic filters', { qos: 2 });
    const m = await settle(broker, got);
    // Paho accepts one message at QoS 2, or one per subscription (QoS 2 and 1)
    expect(m.map((x) => [x.topic, x.qos])).toEqual([['TopicA/C', 2]]);
  });

  it('keepalive: a client that stops sending is disconnected after 1.5 x keepalive and its will is published', async () => {
    const { broker } = await startBroker();
    const b = await connect(url(broker), { ...B, keepalive: 0 });
    const got = collect(b);
    await subscribe(b, topics[4], 2);
    const t0 = Date.now();
    const silent = await rawConnect(
      broker.port!,
      connectPacket({
        clientId: 'myclientid',
        username: 'svc-a',
        password: 'pw-a',
        keepalive: 1,
        will: { topic: topics[4], payload: 'keepalive expiry' },
      }),
    );
    await silent.closed; // the raw client never sends PINGREQ
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(silent.received()).toEqual(CONNACK_OK);
    expect((await got.count(1)).map((x) => [x.topic, x.payload])).toEqual([['/TopicA', 'keepalive expiry']]);
  });

  it('redelivery on reconnect: unacknowledged QoS 1 and 2 messages are sent again, flagged DUP (MQTT-3.3.1-1)', async () => {
    const { broker } = await startBroker();
    // a raw client that receives but never acknowledges (no PUBACK, no PUBREC)
    const login = connectPacket({ ...B, clean: false });
    const b = await rawConnect(broker.port!, login, subscribePacket(1, wildtopics[6], 2));
    await b.waitFor((r) => splitPackets(r).some((p) => p.type === 9)); // SUBACK
    const a = await connect(url(broker), A);
    await publish(a, topics[1], 'qos 1', { qos: 1 });
    await publish(a, topics[3], 'qos 2', { qos: 2 });
    const first = publishes(await b.waitFor((r) => publishes(r).length === 2));
    expect(first).toEqual([
      { topic: 'TopicA/B', qos: 1, dup: false },
      { topic: 'TopicA/C', qos: 2, dup: false },
    ]);
    b.socket.destroy();
    await b.closed;
    const again = await rawConnect(broker.port!, login);
    const redelivered = publishes(await again.waitFor((r) => publishes(r).length === 2));
    expect(redelivered).toEqual([
      { topic: 'TopicA/B', qos: 1, dup: true },
      { topic: 'TopicA/C', qos: 2, dup: true },
    ]);
  });

  it('zero-length client id: refused with CONNACK 0x02 when CleanSession=0 (MQTT-3.1.3-8), accepted when CleanSession=1', async () => {
    const { logger, lines } = memoryLogger();
    const { broker } = await startBroker({ logger });
    const cred = { clientId: '', username: 'svc-a', password: 'pw-a' };
    const refused = await rawConnect(broker.port!, connectPacket({ ...cred, clean: false }));
    await refused.closed;
    expect(refused.received()).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x02]));
    expect(broker.stats().protocolRefusals).toBe(1);
    expect(lines.find((l) => l.code === 2)?.msg).toMatch(/empty client id and CleanSession=0/);

    const accepted = await connect(url(broker), { ...cred, clean: true });
    expect(accepted.connected).toBe(true);
  });

  it('subscribe failure: a refused subscription gets SUBACK 0x80', async () => {
    const { broker } = await startBroker();
    const d = await connect(url(broker), { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
    expect(await subscribe(d, 'edgeloop/v1/dev-2/models/+', 2)).toBe(0x80);
    expect(await subscribe(d, 'edgeloop/v1/dev-1/models/+', 2)).toBe(2);
  });

  it('$-topics: wildcard filters do not match topics starting with $; clients may not publish to them', async () => {
    const { broker } = await startBroker();
    const b = await connect(url(broker), { ...B, keepalive: 0 });
    const got = collect(b);
    await subscribe(b, wildtopics[5], 2);
    await subscribe(b, wildtopics[2], 2);
    await new Promise<void>((r) =>
      broker.aedes!.publish(
        { cmd: 'publish', topic: '$' + topics[1], payload: Buffer.from('x'), qos: 1, retain: false, dup: false },
        () => r(),
      ),
    );
    expect(await settle(broker, got)).toEqual([]);
    // the broker keeps $-topics for itself (Paho: a server may refuse them): the publisher is disconnected
    const a = await connect(url(broker), A);
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    a.publish('$' + topics[1], 'x', { qos: 1 });
    await closed;
  });
});
