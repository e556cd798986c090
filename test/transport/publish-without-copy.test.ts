/**
 * publishWithoutPayloadCopy against a real mqtt.js client and aedes: the outgoing store shares the caller's payload
 * instead of deep-copying it, the broker still receives every byte, PUBACK settles the publish and empties the
 * store, and topic-alias publishes keep mqtt.js's own copying path. MqttTransport applies it and turns off
 * mqtt-packet's 65,536-buffer number cache.
 */
import { createRequire } from 'node:module';
import mqtt, { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  STORE_AND_SEND_SHA256,
  publishWithoutPayloadCopy,
  sourceFingerprint,
} from '../../transport/publish-without-copy.ts';
import { MqttTransport } from '../../transport/mqtt-transport.ts';
import { startTestBroker, type TestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';

let broker: TestBroker;
beforeAll(async () => {
  broker = await startTestBroker();
});
afterAll(async () => {
  await broker.close();
});

interface Stored {
  cmd: string;
  payload?: Buffer;
  topic?: string;
}

function captureStore(client: MqttClient): Stored[] {
  const stored: Stored[] = [];
  const store = (client as unknown as { outgoingStore: { put(p: Stored, cb: () => void): unknown } }).outgoingStore;
  const put = store.put.bind(store);
  store.put = (p, cb) => {
    stored.push(p);
    return put(p, cb);
  };
  return stored;
}

async function received(topic: string, n: number): Promise<{ done: Promise<Buffer[]>; close(): Promise<void> }> {
  const sub = await mqtt.connectAsync(broker.url, { clientId: `sub-${topic}` });
  await sub.subscribeAsync(topic, { qos: 1 });
  const got: Buffer[] = [];
  const done = new Promise<Buffer[]>((resolve) =>
    sub.on('message', (_t, payload) => {
      got.push(payload);
      if (got.length === n) resolve(got);
    }),
  );
  return { done, close: () => sub.endAsync() };
}

describe('publishWithoutPayloadCopy', () => {
  it("stores the caller's payload by reference, delivers it intact and empties the store on PUBACK", async () => {
    const sub = await received('nocopy/a', 3);
    const client = await mqtt.connectAsync(broker.url, { clientId: 'nocopy-1' });
    expect(publishWithoutPayloadCopy(client)).toBe(true);
    const stored = captureStore(client);
    const payloads = [0, 1, 2].map((i) => Buffer.alloc(100_000 + i, 65 + i));
    await Promise.all(payloads.map((p) => client.publishAsync('nocopy/a', p, { qos: 1 })));
    expect(stored).toHaveLength(3);
    stored.forEach((s, i) => {
      expect(s.payload).toBe(payloads[i]); // the same Buffer: no 100 KB copy
      expect(s.topic).toBe('nocopy/a');
    });
    // PUBACK deleted them from the store before the callbacks ran
    const inStore = await new Promise<number>((resolve) => {
      let n = 0;
      const st = (
        client as unknown as { outgoingStore: { createStream(): NodeJS.ReadableStream } }
      ).outgoingStore.createStream();
      st.on('data', () => n++);
      st.on('end', () => resolve(n));
    });
    expect(inStore).toBe(0);
    const got = await sub.done;
    expect(got.map((b) => b.length).sort()).toEqual([100_000, 100_001, 100_002]);
    expect(got.every((b) => b.every((x) => x === b[0]))).toBe(true);
    await client.endAsync();
    await sub.close();
  });

  it('leaves QoS 0, non-publish packets and topic-alias publishes to mqtt.js (which copies)', async () => {
    // topic aliases are MQTT 5: mosquitto (aedes speaks 3.1.1)
    const mosq = await startMosquitto();
    const client = await mqtt.connectAsync(mosq.url, { clientId: 'nocopy-2', protocolVersion: 5 });
    publishWithoutPayloadCopy(client);
    const stored = captureStore(client);
    const p = Buffer.from('aliased');
    await client.publishAsync('nocopy/b', p, { qos: 1, properties: { topicAlias: 1 } });
    expect(stored).toHaveLength(1);
    expect(stored[0]!.payload).not.toBe(p);
    expect(stored[0]!.payload).toEqual(p);
    await client.publishAsync('nocopy/b', Buffer.from('q0'), { qos: 0 });
    expect(stored).toHaveLength(1);
    await client.endAsync();
    await mosq.close();
  });

  it('does nothing to a client without the internals it relies on', () => {
    expect(publishWithoutPayloadCopy({} as MqttClient)).toBe(false);
  });

  it('is written against the installed mqtt.js: _storeAndSend has the fingerprint it was checked against', () => {
    const storeAndSend = (MqttClient.prototype as unknown as { _storeAndSend: (...a: never[]) => unknown })
      ._storeAndSend;
    expect(
      sourceFingerprint(storeAndSend),
      'mqtt.js changed MqttClient.prototype._storeAndSend: re-read it, carry the change into transport/publish-without-copy.ts ' +
        `and update STORE_AND_SEND_SHA256. The method now reads:\n${Function.prototype.toString.call(storeAndSend)}`,
    ).toBe(STORE_AND_SEND_SHA256);
  });

  it('leaves a client alone whose _storeAndSend is not the method it replaces (another mqtt.js)', async () => {
    const client = await mqtt.connectAsync(broker.url, { clientId: 'nocopy-other' });
    const internals = client as unknown as {
      _storeAndSend: (packet: unknown, cb: unknown, cbStorePut: () => void) => void;
    };
    // same shape, different body: what a new mqtt.js release would look like
    const changed = function (this: MqttClient, _packet: unknown, _cb: unknown, cbStorePut: () => void): void {
      cbStorePut();
    };
    internals._storeAndSend = changed;
    expect(publishWithoutPayloadCopy(client)).toBe(false);
    expect(internals._storeAndSend).toBe(changed);
    await client.endAsync();
  });

  it("MqttTransport publishes through it and without mqtt-packet's number cache", async () => {
    const sub = await received('nocopy/t', 1);
    const t = new MqttTransport({ url: broker.url, clientId: 'nocopy-t', clean: true });
    await t.start();
    const payload = Buffer.alloc(50_000, 7);
    await t.publish({ topic: 'nocopy/t', payload, qos: 1 });
    expect((await sub.done)[0]!.equals(payload)).toBe(true);
    const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } };
    expect(mqttPacket.writeToStream.cacheNumbers).toBe(false);
    await t.close();
    await sub.close();
  });
});
