/**
 * A TCP proxy between a transport and a broker, for the transport contract tests. It lets a test
 *   - kill connections uncleanly (destroy the sockets: the broker publishes the last will),
 *   - hold the broker → client direction (PUBACKs stay in flight),
 *   - observe MQTT packets independently of the transport: PUBLISH packets sent by the client, PUBACKs forwarded
 *     to it, and the largest number of QoS 1 publishes outstanding at once (sent and not yet acknowledged).
 * It parses only the fixed header (packet type + remaining length), which is the same in MQTT 3.1.1 and 5.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const PUBLISH = 3;
const PUBACK = 4;

/** Splits a byte stream into MQTT packet headers: calls onPacket(type, flags) per complete packet. */
class PacketScanner {
  #buf: Buffer = Buffer.alloc(0);
  readonly #onPacket: (type: number, flags: number) => void;
  constructor(onPacket: (type: number, flags: number) => void) {
    this.#onPacket = onPacket;
  }
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;;) {
        if (i >= b.length) return;
        const byte = b[i]!;
        len += (byte & 0x7f) * mul;
        mul *= 128;
        i++;
        if ((byte & 0x80) === 0) break;
        if (i > 4) throw new Error('malformed MQTT remaining length');
      }
      if (b.length < i + len) return;
      this.#onPacket(b[0]! >> 4, b[0]! & 0x0f);
      this.#buf = b.subarray(i + len);
    }
  }
}

export interface ProxyCounters {
  /** QoS >= 1 PUBLISH packets from clients to the broker */
  publishes: number;
  /** PUBACK packets forwarded from the broker to clients */
  pubacks: number;
  /** largest (publishes - pubacks) seen on one connection */
  maxOutstanding: number;
  /** client connections accepted */
  connections: number;
}

export class MqttProxy {
  readonly #targetHost: string;
  readonly #targetPort: number;
  #server: Server | undefined;
  #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #held = false;
  #port = 0;
  readonly counters: ProxyCounters = { publishes: 0, pubacks: 0, maxOutstanding: 0, connections: 0 };
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(targetHost: string, targetPort: number) {
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    this.#server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  #accept(client: Socket): void {
    this.counters.connections++;
    const upstream = createConnection({ host: this.#targetHost, port: this.#targetPort });
    const pair = { client, upstream };
    this.#pairs.add(pair);
    let outstanding = 0;
    const up = new PacketScanner((type, flags) => {
      if (type === PUBLISH && ((flags >> 1) & 3) > 0) {
        this.counters.publishes++;
        outstanding++;
        if (outstanding > this.counters.maxOutstanding) this.counters.maxOutstanding = outstanding;
      }
    });
    const down = new PacketScanner((type) => {
      if (type === PUBACK) {
        this.counters.pubacks++;
        outstanding--;
      }
    });
    client.on('data', (chunk: Buffer) => {
      up.push(chunk);
      upstream.write(chunk);
      this.#notify();
    });
    upstream.on('data', (chunk: Buffer) => {
      down.push(chunk);
      client.write(chunk);
      this.#notify();
    });
    if (this.#held) upstream.pause();
    const end = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  }

  /** Hold everything the broker sends (PUBACKs, SUBACKs, messages) until release(). */
  hold(): void {
    this.#held = true;
    for (const { upstream } of this.#pairs) upstream.pause();
  }

  release(): void {
    this.#held = false;
    for (const { upstream } of this.#pairs) upstream.resume();
  }

  /** Destroy every connection on both sides without an MQTT DISCONNECT (the broker sends the last will). */
  killConnections(): void {
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Resolves once `check()` holds after some traffic (or at once). */
  waitFor(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    this.killConnections();
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
