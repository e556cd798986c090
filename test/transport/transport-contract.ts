/**
 * The Transport contract: every implementation (MqttTransport on aedes and mosquitto, AwsIotTransport on
 * mosquitto over MQTT 5) passes the same suite against a real broker. The transport under test connects through
 * an MqttProxy, so the suite can kill its connection uncleanly, hold PUBACKs and count packets on the wire
 * independently of the transport; an observer (a plain mqtt.js client) checks what the broker delivered.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { ManualClock, type Clock } from '../../lib/clock.ts';
import { isEdgeloopError } from '../../protocol/errors.ts';
import type { Transport } from '../../transport/transport.ts';
import type { TransportStats } from '../../transport/mqtt-transport.ts';
import { MqttProxy } from './mqtt-proxy.ts';

export interface ContractBroker {
  host: string;
  port: number;
  /** mqtt://host:port, for the observer */
  url: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ContractTransportOptions {
  host: string;
  port: number;
  clientId: string;
  will?: { topic: string; payload: Uint8Array; qos: 0 | 1; retain: boolean };
  maxInFlight?: number;
  publishRatePerSecond?: number;
  publishBurst?: number;
  clock?: Clock;
  random?: () => number;
  reconnect?: Partial<RetryPolicy>;
  stableAfterMs?: number;
}

export type ContractTransport = Transport & { readonly stats: TransportStats };

export interface TransportContractSetup {
  startBroker(): Promise<ContractBroker>;
  create(opts: ContractTransportOptions): ContractTransport;
  /** true when reconnect timers run on the injected clock (exact backoff test); false: real time, small delays */
  clockDrivesReconnect: boolean;
  /**
   * true when the client library itself retransmits a QoS 1 publish un-acked at a disconnect once the session is
   * resumed (the AWS IoT SDK's MQTT 5 client does, as MQTT 5 requires): the broker may then get a duplicate.
   */
  retransmitsUnackedOnResume?: boolean;
}

interface Observer {
  client: MqttClient;
  received: { topic: string; payload: Buffer; retain: boolean }[];
  waitFor(n: number, topic?: string): Promise<{ topic: string; payload: Buffer; retain: boolean }[]>;
}

async function observe(url: string, topics: string[]): Promise<Observer> {
  const client = mqtt.connect(url, {
    clientId: `obs-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const received: Observer['received'] = [];
  let waiters: { n: number; topic: string | undefined; resolve: () => void }[] = [];
  const count = (topic?: string): number =>
    topic ? received.filter((m) => m.topic === topic).length : received.length;
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload, retain: packet.retain });
    waiters = waiters.filter((w) => {
      if (count(w.topic) < w.n) return true;
      w.resolve();
      return false;
    });
  });
  if (topics.length) await client.subscribeAsync(topics, { qos: 1 });
  onTestFinished(() => client.endAsync(true));
  return {
    client,
    received,
    waitFor: async (n, topic) => {
      if (count(topic) < n) await new Promise<void>((resolve) => waiters.push({ n, topic, resolve }));
      return topic ? received.filter((m) => m.topic === topic) : received;
    },
  };
}

function once<T extends unknown[]>(t: Transport, event: 'connect' | 'offline' | 'message'): Promise<T> {
  return new Promise((resolve) => {
    const fn = (...args: unknown[]): void => {
      t.off(event, fn as never);
      resolve(args as T);
    };
    t.on(event, fn as never);
  });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeInstanceOf(Error);
  expect(isEdgeloopError(err) ? err.code : (err as Error).message).toBe(code);
}

const enc = (s: string): Buffer => Buffer.from(s);

export function describeTransportContract(name: string, setup: TransportContractSetup): void {
  describe(`Transport contract: ${name}`, () => {
    let broker: ContractBroker;
    beforeAll(async () => {
      broker = await setup.startBroker();
    });
    afterAll(async () => {
      await broker?.close();
    });

    /** a proxy to the broker, a transport through it, unique ids; everything closed after the test */
    async function rig(extra: Partial<ContractTransportOptions> = {}, start = true) {
      const proxy = new MqttProxy(broker.host, broker.port);
      await proxy.start();
      onTestFinished(() => proxy.close());
      const id = `dev-${randomUUID().slice(0, 8)}`;
      const prefix = `contract/${id}`;
      const transport = setup.create({ host: '127.0.0.1', port: proxy.port, clientId: id, ...extra });
      onTestFinished(() => transport.close());
      if (start) await transport.start();
      return { proxy, transport, id, prefix };
    }

    it('connects, and a QoS 1 publish resolves after the PUBACK with the message at the broker', async () => {
      const { transport, prefix, proxy } = await rig();
      expect(transport.connected).toBe(true);
      const obs = await observe(broker.url, [`${prefix}/#`]);
      const payload = Buffer.from([0, 1, 2, 250, 255]);
      await transport.publish({ topic: `${prefix}/telemetry`, payload, qos: 1 });
      expect(proxy.counters.pubacks).toBe(1);
      expect(transport.stats.acked).toBe(1);
      const [m] = await obs.waitFor(1);
      expect(m!.topic).toBe(`${prefix}/telemetry`);
      expect(Buffer.compare(m!.payload, payload)).toBe(0);
    });

    it('keeps the order of publishes issued back to back', async () => {
      const { transport, prefix } = await rig({ maxInFlight: 8 });
      const obs = await observe(broker.url, [`${prefix}/seq`]);
      const n = 120;
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          transport.publish({ topic: `${prefix}/seq`, payload: enc(String(i)), qos: 1 }),
        ),
      );
      const got = await obs.waitFor(n);
      expect(got.map((m) => Number(m.payload.toString()))).toEqual(Array.from({ length: n }, (_, i) => i));
    });

    it('subscribes and delivers messages, including retained ones, as Buffers', async () => {
      const { transport, prefix } = await rig();
      const obs = await observe(broker.url, []);
      await obs.client.publishAsync(`${prefix}/models/m1`, 'manifest-v1', { qos: 1, retain: true });
      onTestFinished(() =>
        obs.client.publishAsync(`${prefix}/models/m1`, '', { qos: 1, retain: true }).then(() => undefined),
      );
      const first = once<[string, Buffer]>(transport, 'message');
      await transport.subscribe([`${prefix}/models/+`], 1);
      const [topic, payload] = await first;
      expect(topic).toBe(`${prefix}/models/m1`);
      expect(Buffer.isBuffer(payload)).toBe(true);
      expect(payload.toString()).toBe('manifest-v1');
      const second = once<[string, Buffer]>(transport, 'message');
      await obs.client.publishAsync(`${prefix}/models/m2`, 'manifest-m2', { qos: 1 });
      expect((await second)[1].toString()).toBe('manifest-m2');
      // clearing a retained message delivers an empty payload: an empty Buffer, not a crash
      const cleared = once<[string, Buffer]>(transport, 'message');
      await obs.client.publishAsync(`${prefix}/models/m1`, '', { qos: 1, retain: true });
      const [clearedTopic, empty] = await cleared;
      expect(clearedTopic).toBe(`${prefix}/models/m1`);
      expect(Buffer.isBuffer(empty)).toBe(true);
      expect(empty.length).toBe(0);
    });

    it('subscribes to more than 8 filters at once (sent in SUBSCRIBE packets of at most 8)', async () => {
      const { transport, prefix } = await rig();
      const topics = Array.from({ length: 19 }, (_, i) => `${prefix}/models/m${i}`);
      await transport.subscribe(topics, 1);
      const seen = new Set<string>();
      const all = new Promise<void>((resolve) =>
        transport.on('message', (topic: string) => {
          seen.add(topic);
          if (seen.size === topics.length) resolve();
        }),
      );
      const obs = await observe(broker.url, []);
      for (const t of topics) await obs.client.publishAsync(t, 'x', { qos: 1 });
      await all;
      expect([...seen].sort()).toEqual([...topics].sort());
    });

    it('rejects bad input precisely, and rejects offline publishes without sending them', async () => {
      const { transport, prefix, proxy } = await rig({}, false);
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: enc('x'), qos: 1 }),
        'EL_ERR_TRANSPORT_OFFLINE',
      );
      await transport.start();
      await expectCode(
        transport.publish({ topic: `${prefix}/+`, payload: enc('x'), qos: 1 }),
        'EL_ERR_INVALID_ARGUMENT',
      );
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: 'x' as never, qos: 1 }),
        'EL_ERR_INVALID_ARGUMENT',
      );
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: enc('x'), qos: 2 as never }),
        'EL_ERR_INVALID_ARGUMENT',
      );
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: Buffer.alloc(128 * 1024 + 1), qos: 1 }),
        'EL_ERR_MESSAGE_TOO_LARGE',
      );
      await expectCode(transport.subscribe([], 1), 'EL_ERR_INVALID_ARGUMENT');
      expect(proxy.counters.publishes).toBe(0);
      await transport.close();
      await transport.close(); // idempotent
      expect(transport.connected).toBe(false);
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: enc('x'), qos: 1 }),
        'EL_ERR_TRANSPORT_CLOSED',
      );
      await expectCode(transport.start(), 'EL_ERR_TRANSPORT_CLOSED');
    });

    it('rejects a publish whose connection drops before the PUBACK, and does not re-send it itself', async () => {
      const { transport, prefix, proxy } = await rig({ reconnect: { minMs: 20, maxMs: 100 } });
      const obs = await observe(broker.url, [`${prefix}/t`]);
      proxy.hold();
      const p = transport.publish({ topic: `${prefix}/t`, payload: enc('lost-ack'), qos: 1 });
      await proxy.waitFor(() => proxy.counters.publishes === 1);
      await obs.waitFor(1); // the broker has it; only the ack is missing
      const offline = once<[string]>(transport, 'offline');
      const reconnected = new Promise<void>((resolve) =>
        offline.then(() => once(transport, 'connect').then(() => resolve())),
      );
      proxy.release();
      proxy.hold(); // new connections are held too until we release again
      proxy.killConnections();
      await expectCode(p, 'EL_ERR_TRANSPORT_DISCONNECTED');
      const [reason] = await offline;
      expect(typeof reason).toBe('string');
      proxy.release();
      await reconnected;
      // a marker published after the reconnect arrives right after the single copy of the first message
      await transport.publish({ topic: `${prefix}/t`, payload: enc('marker'), qos: 1 });
      const got = (await obs.waitFor(2)).map((m) => m.payload.toString());
      if (setup.retransmitsUnackedOnResume && got[1] === 'lost-ack') {
        expect((await obs.waitFor(3)).map((m) => m.payload.toString())).toEqual(['lost-ack', 'lost-ack', 'marker']);
      } else {
        expect(got).toEqual(['lost-ack', 'marker']);
      }
    });

    it('never has more than maxInFlight publishes waiting for PUBACK; callers wait for a slot', async () => {
      const { transport, prefix, proxy } = await rig({ maxInFlight: 3 });
      const obs = await observe(broker.url, [`${prefix}/f`]);
      const n = 40;
      const all = Array.from({ length: n }, (_, i) =>
        transport.publish({ topic: `${prefix}/f`, payload: enc(String(i)), qos: 1 }),
      );
      expect(transport.stats.inFlight).toBe(3);
      expect(transport.stats.waiting).toBe(n - 3);
      await Promise.all(all);
      expect(proxy.counters.publishes).toBe(n);
      expect(proxy.counters.maxOutstanding).toBeLessThanOrEqual(3);
      expect(proxy.counters.maxOutstanding).toBeGreaterThanOrEqual(1);
      expect((await obs.waitFor(n)).map((m) => Number(m.payload.toString()))).toEqual(
        Array.from({ length: n }, (_, i) => i),
      );
    });

    it('caps the publish rate (token bucket on the injected clock)', async () => {
      const clock = new ManualClock(1_000_000);
      const { transport, prefix, proxy } = await rig({ clock, publishRatePerSecond: 10, publishBurst: 2 });
      const obs = await observe(broker.url, [`${prefix}/r`]);
      const n = 12;
      let resolved = 0;
      const all = Array.from({ length: n }, (_, i) =>
        transport.publish({ topic: `${prefix}/r`, payload: enc(String(i)), qos: 1 }).then(() => void resolved++),
      );
      const settled = async (k: number): Promise<void> => {
        await proxy.waitFor(() => proxy.counters.pubacks >= k);
        while (resolved < k) await new Promise((r) => setImmediate(r));
      };
      // the burst goes at once, the rest waits for tokens: 10/s = one per 100 ms of the (manual) clock
      await settled(2);
      expect(transport.stats.waiting).toBe(10);
      clock.advance(100);
      await settled(3);
      expect(transport.stats.waiting).toBe(9);
      clock.advance(500);
      await settled(8);
      expect(transport.stats.waiting).toBe(4);
      expect(proxy.counters.publishes).toBe(8);
      clock.advance(400);
      await Promise.all(all);
      expect(proxy.counters.publishes).toBe(n);
      expect((await obs.waitFor(n)).map((m) => Number(m.payload.toString()))).toEqual(
        Array.from({ length: n }, (_, i) => i),
      );
    });

    it('publishes the retained last will when the connection dies uncleanly, not on close()', async () => {
      const statusOf = (id: string): string => `contract/${id}/status`;
      const id = `dev-${randomUUID().slice(0, 8)}`;
      const will = { topic: statusOf(id), payload: enc('{"online":false}'), qos: 1 as const, retain: true };
      const { transport, proxy } = await rig({ clientId: id, will, reconnect: { minMs: 60_000, maxMs: 60_000 } });
      onTestFinished(() =>
        observe(broker.url, [])
          .then((o) => o.client.publishAsync(statusOf(id), '', { qos: 1, retain: true }))
          .then(() => undefined),
      );
      await transport.publish({ topic: statusOf(id), payload: enc('{"online":true}'), qos: 1, retain: true });
      const obs = await observe(broker.url, [statusOf(id)]);
      await obs.waitFor(1);
      const offline = once(transport, 'offline');
      proxy.killConnections();
      await offline;
      const got = await obs.waitFor(2);
      expect(got.map((m) => m.payload.toString())).toEqual(['{"online":true}', '{"online":false}']);
      // a client that comes later sees the retained will
      const late = await observe(broker.url, [statusOf(id)]);
      const [retained] = await late.waitFor(1);
      expect(retained!.payload.toString()).toBe('{"online":false}');
      expect(retained!.retain).toBe(true);

      // a clean close sends DISCONNECT: no will (checked with a marker published after close)
      const id2 = `dev-${randomUUID().slice(0, 8)}`;
      const will2 = { topic: statusOf(id2), payload: enc('will'), qos: 1 as const, retain: false };
      const obs2 = await observe(broker.url, [statusOf(id2)]);
      const r2 = await rig({ clientId: id2, will: will2 });
      await r2.transport.close();
      await obs2.client.publishAsync(statusOf(id2), 'marker', { qos: 1 });
      const got2 = await obs2.waitFor(1);
      expect(got2.map((m) => m.payload.toString())).toEqual(['marker']);
    });

    it('broker outage: offline event, publishes rejected, reconnect with backoff, subscriptions restored', async () => {
      const clock = setup.clockDrivesReconnect ? new ManualClock(0) : undefined;
      const { transport, prefix } = await rig({
        ...(clock ? { clock, random: () => 0.5 } : {}),
        reconnect: clock ? { minMs: 100, maxMs: 1000, factor: 2 } : { minMs: 50, maxMs: 200 },
        stableAfterMs: 5000,
      });
      await transport.subscribe([`${prefix}/models/+`], 1);
      const delays: number[] = [];
      let onDelay: (() => void) | undefined;
      transport.on('reconnecting', (delay: number) => {
        delays.push(delay);
        onDelay?.();
      });
      const nextDelay = (): Promise<void> => new Promise((resolve) => (onDelay = resolve));
      const offline = once(transport, 'offline');
      let delayed = nextDelay();
      await broker.stop();
      await offline;
      expect(transport.connected).toBe(false);
      await expectCode(
        transport.publish({ topic: `${prefix}/t`, payload: enc('x'), qos: 1 }),
        'EL_ERR_TRANSPORT_OFFLINE',
      );
      if (clock) {
        // exact full-jitter backoff with random() = 0.5: cap 100, 200, 400 ms -> delays 50, 100, 200
        await delayed;
        for (let i = 0; i < 2; i++) {
          delayed = nextDelay();
          clock.advance(delays.at(-1)!);
          await delayed; // the attempt failed (broker down) and the next one is scheduled
        }
        expect(delays).toEqual([50, 100, 200]);
        expect(transport.stats.reconnectAttempt).toBe(3);
      }
      await broker.restart();
      const connected = once(transport, 'connect');
      if (clock) clock.advance(delays.at(-1)!);
      await connected;
      expect(transport.connected).toBe(true);
      // the subscription is back (the broker lost its state on restart: the transport re-subscribed)
      const obs = await observe(broker.url, []);
      const msg = once<[string, Buffer]>(transport, 'message');
      const marker = setInterval(() => void obs.client.publish(`${prefix}/models/m`, 'after-restart', { qos: 1 }), 50);
      onTestFinished(() => clearInterval(marker));
      const [topic, payload] = await msg;
      clearInterval(marker);
      expect(topic).toBe(`${prefix}/models/m`);
      expect(payload.toString()).toBe('after-restart');
      await transport.publish({ topic: `${prefix}/t`, payload: enc('y'), qos: 1 });
      if (clock) {
        // a connection that stays up for stableAfterMs resets the backoff
        expect(transport.stats.reconnectAttempt).toBe(3);
        clock.advance(5000);
        expect(transport.stats.reconnectAttempt).toBe(0);
      }
    });

    it('close() frees everything: no reconnect after close, in-flight publishes settle', async () => {
      const { transport, prefix, proxy } = await rig();
      proxy.hold();
      const p = transport.publish({ topic: `${prefix}/c`, payload: enc('x'), qos: 1 });
      await proxy.waitFor(() => proxy.counters.publishes === 1);
      const closing = transport.close();
      // close waits for in-flight acks (bounded by closeTimeoutMs): release them
      proxy.release();
      await closing;
      await p; // acked before the DISCONNECT
      expect(transport.connected).toBe(false);
      const conns = proxy.counters.connections;
      await expectCode(transport.subscribe([`${prefix}/x`], 1), 'EL_ERR_TRANSPORT_CLOSED');
      expect(proxy.counters.connections).toBe(conns);
    });
  });
}
