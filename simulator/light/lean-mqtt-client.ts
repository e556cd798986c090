/**
 * A lean MQTT 3.1.1 publisher for load generation: CONNECT (clean session, optional credentials and last will),
 * PUBLISH at QoS 1 with a bounded in-flight window, PUBACK, PINGREQ, DISCONNECT. Nothing else: no subscriptions,
 * no QoS 2, no stores, no per-client timers while connected (the fleet's one ticker drives keep-alive).
 *
 * Why not mqtt.js: a simulated device is one TCP connection; 10,000 mqtt.js clients in one process cost ~10x the
 * memory and several timers each (see docs/load-testing.md "Why a lean client"). The wire is the same MQTT, so
 * the broker and ingest see what a real fleet sends.
 *
 * Delivery: at-least-once. Unacknowledged publishes are re-sent with DUP after a reconnect; messages published
 * while disconnected wait in a queue bounded by `maxQueued` (overflow drops the oldest and counts it).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Backoff, type RetryPolicy } from '../../lib/backoff.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface LeanMqttClientOptions {
  host: string;
  port: number;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveSec?: number;
  will?: { topic: string; payload: Buffer; retain: boolean } | undefined;
  /** unacknowledged QoS 1 publishes on the wire (default 32) */
  maxInflight?: number;
  /** messages waiting while disconnected or while the window is full (default 10,000; overflow drops oldest) */
  maxQueued?: number;
  /** reconnect policy (default 200 ms .. 10 s, full jitter); reconnect: false to stay down */
  retry?: Partial<RetryPolicy>;
  reconnect?: boolean;
  connectTimeoutMs?: number;
  onConnect?: (client: LeanMqttClient) => void;
  onClose?: (client: LeanMqttClient, hadError: boolean) => void;
  onAck?: (client: LeanMqttClient, tag: number) => void;
  onConnectFailed?: (client: LeanMqttClient, err: Error) => void;
}

interface Pending {
  topic: string;
  payload: Buffer;
  tag: number;
  retain: boolean;
}

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

export class LeanMqttClient {
  readonly clientId: string;
  readonly #o: Required<
    Omit<
      LeanMqttClientOptions,
      'username' | 'password' | 'will' | 'retry' | 'onConnect' | 'onClose' | 'onAck' | 'onConnectFailed'
    >
  > &
    LeanMqttClientOptions;
  #socket: Socket | undefined;
  #connected = false;
  #closed = false;
  #writable = true;
  #buf: Buffer | undefined;
  #nextId = 1;
  readonly #inflight = new Map<number, Pending>();
  #queue: Pending[] = [];
  #queueHead = 0;
  #lastWrite = 0;
  #pingSentAt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #backoff: Backoff;
  #connectWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** counters */
  dropped = 0;
  connects = 0;
  connectFailures = 0;

  constructor(opts: LeanMqttClientOptions) {
    this.clientId = opts.clientId;
    this.#o = {
      keepaliveSec: 60,
      maxInflight: 32,
      maxQueued: 10_000,
      reconnect: true,
      connectTimeoutMs: 10_000,
      ...opts,
    };
    this.#backoff = new Backoff({ minMs: 200, maxMs: 10_000, ...opts.retry });
  }

  get connected(): boolean {
    return this.#connected;
  }
  get inflight(): number {
    return this.#inflight.size;
  }
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }
  /** messages not yet acknowledged by the broker */
  get backlog(): number {
    return this.#inflight.size + this.queued;
  }

  /** Connect; resolves on the first successful CONNACK (retrying per policy). */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', `client ${this.clientId} is closed`));
    if (this.#connected) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (!this.#socket && !this.#reconnectTimer) this.#open();
    return p;
  }

  #open(): void {
    this.#reconnectTimer = undefined;
    if (this.#closed) return;
    const s = netConnect({ host: this.#o.host, port: this.#o.port, noDelay: true });
    this.#socket = s;
    this.#buf = undefined;
    this.#writable = true;
    const timer = setTimeout(() => s.destroy(new Error('connect timeout')), this.#o.connectTimeoutMs);
    timer.unref();
    s.once('connect', () => {
      s.write(this.#connectPacket());
    });
    s.on('data', (chunk: Buffer) => {
      if (!this.#connected) clearTimeout(timer);
      this.#onData(chunk);
    });
    s.on('drain', () => {
      this.#writable = true;
      this.#pump();
    });
    s.on('error', () => {
      /* close follows */
    });
    s.once('close', (hadError) => {
      clearTimeout(timer);
      const was = this.#connected;
      this.#connected = false;
      this.#socket = undefined;
      if (!was) this.connectFailures++;
      this.#o.onClose?.(this, hadError);
      if (this.#closed) return;
      if (!this.#o.reconnect) {
        this.#rejectWaiters(new EdgeloopError('EL_ERR_SIM_CONNECT', `${this.clientId}: connection closed`));
        return;
      }
      const delay = this.#backoff.next();
      if (delay === undefined) {
        this.#rejectWaiters(
          new EdgeloopError('EL_ERR_SIM_CONNECT', `${this.clientId}: gave up after ${this.#backoff.attempt} attempts`),
        );
        return;
      }
      this.#reconnectTimer = setTimeout(() => this.#open(), delay);
      this.#reconnectTimer.unref();
    });
  }

  #rejectWaiters(err: Error): void {
    const w = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const x of w) x.reject(err);
    this.#o.onConnectFailed?.(this, err);
  }

  /** Publish at QoS 1. `tag` comes back in onAck. Never throws while open; queues when it cannot send now. */
  publish(topic: string, payload: Buffer, tag = 0, retain = false): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', `client ${this.clientId} is closed`);
    if (this.queued >= this.#o.maxQueued) {
      this.#queueHead++;
      this.dropped++;
    }
    this.#queue.push({ topic, payload, tag, retain });
    this.#pump();
  }

  /** Called by the fleet's ticker about once a second: keep-alive and dead-peer detection. */
  tick(now: number): void {
    const s = this.#socket;
    if (!s || !this.#connected) return;
    const ka = this.#o.keepaliveSec * 1000;
    if (this.#pingSentAt > 0 && now - this.#pingSentAt > ka) {
      s.destroy(new Error('keep-alive timeout'));
      return;
    }
    if (this.#pingSentAt === 0 && now - this.#lastWrite > ka / 2) {
      this.#pingSentAt = now;
      this.#write(PINGREQ);
    }
  }

  #pump(): void {
    if (!this.#connected || !this.#writable) return;
    while (this.#inflight.size < this.#o.maxInflight && this.#queueHead < this.#queue.length) {
      const p = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead] = undefined as unknown as Pending;
      this.#queueHead++;
      const id = this.#allocId();
      this.#inflight.set(id, p);
      if (!this.#write(publishPacket(p.topic, p.payload, id, false, p.retain))) break;
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #allocId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      if (!this.#inflight.has(id)) return id;
    }
  }

  #write(b: Buffer): boolean {
    const s = this.#socket;
    if (!s) return false;
    this.#lastWrite = Date.now();
    const ok = s.write(b);
    if (!ok) this.#writable = false;
    return ok;
  }

  #onData(chunk: Buffer): void {
    const b = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    let off = 0;
    while (b.length - off >= 2) {
      const type = b[off]! >> 4;
      let len = 0;
      let mul = 1;
      let i = off + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < b.length; k++) {
        const byte = b[i++]!;
        len += (byte & 127) * mul;
        mul *= 128;
        if ((byte & 128) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || b.length - i < len) break;
      this.#packet(type, b.subarray(i, i + len));
      off = i + len;
    }
    this.#buf = off < b.length ? Buffer.from(b.subarray(off)) : undefined;
  }

  #packet(type: number, body: Buffer): void {
    switch (type) {
      case 2: {
        // CONNACK
        const rc = body[1] ?? 255;
        if (rc !== 0) {
          const err = new EdgeloopError(
            'EL_ERR_SIM_CONNECT',
            `${this.clientId}: broker refused the connection (${CONNACK_REASONS[rc] ?? `code ${rc}`})`,
            {
              details: { returnCode: rc },
            },
          );
          if (rc === 4 || rc === 5 || rc === 2) {
            this.#closed = true; // credentials will not get better by retrying
            this.#rejectWaiters(err);
          }
          this.#socket?.destroy();
          return;
        }
        this.#connected = true;
        this.connects++;
        this.#pingSentAt = 0;
        this.#backoff.reset();
        // re-send what the broker never acknowledged, in order, flagged DUP
        for (const [id, p] of this.#inflight) this.#write(publishPacket(p.topic, p.payload, id, true, p.retain));
        const w = this.#connectWaiters;
        this.#connectWaiters = [];
        for (const x of w) x.resolve();
        this.#o.onConnect?.(this);
        this.#pump();
        return;
      }
      case 4: {
        // PUBACK
        const id = body.readUInt16BE(0);
        const p = this.#inflight.get(id);
        if (p) {
          this.#inflight.delete(id);
          this.#o.onAck?.(this, p.tag);
          this.#pump();
        }
        return;
      }
      case 13:
        this.#pingSentAt = 0;
        return;
      default:
        return; // nothing else is expected by a publisher
    }
  }

  #connectPacket(): Buffer {
    const o = this.#o;
    let flags = 0x02; // clean session: the simulator owns its resend state
    const parts: Buffer[] = [
      str('MQTT'),
      Buffer.from([4, 0, (o.keepaliveSec >> 8) & 255, o.keepaliveSec & 255]),
      str(o.clientId),
    ];
    if (o.will) {
      flags |= 0x04 | 0x08; // will, QoS 1
      if (o.will.retain) flags |= 0x20;
      parts.push(str(o.will.topic), bin(o.will.payload));
    }
    if (o.username !== undefined) {
      flags |= 0x80;
      parts.push(str(o.username));
      if (o.password !== undefined) {
        flags |= 0x40;
        parts.push(str(o.password));
      }
    }
    parts[1]![1] = flags;
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
  }

  /** Abrupt drop of the TCP connection (a network fault); reconnects per policy. */
  drop(): void {
    this.#socket?.destroy();
  }

  /** Graceful: DISCONNECT, close the socket, stop reconnecting. Queued messages are abandoned (see `backlog`). */
  async close(): Promise<void> {
    if (this.#closed && !this.#socket) return;
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#rejectWaiters(new EdgeloopError('EL_ERR_CLOSED', `client ${this.clientId} closed`));
    const s = this.#socket;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      if (this.#connected) s.end(DISCONNECT);
      else s.destroy();
      setTimeout(() => s.destroy(), 1000).unref();
    });
  }
}

const PINGREQ = Buffer.from([0xc0, 0]);
const DISCONNECT = Buffer.from([0xe0, 0]);

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 128;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}
function str(s: string): Buffer {
  return bin(Buffer.from(s, 'utf8'));
}
function bin(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

export function publishPacket(topic: string, payload: Buffer, id: number, dup: boolean, retain: boolean): Buffer {
  const tlen = Buffer.byteLength(topic);
  const remaining = 2 + tlen + 2 + payload.length;
  const vi = varint(remaining);
  const out = Buffer.allocUnsafe(1 + vi.length + remaining);
  out[0] = 0x32 | (dup ? 0x08 : 0) | (retain ? 0x01 : 0);
  vi.copy(out, 1);
  let o = 1 + vi.length;
  out.writeUInt16BE(tlen, o);
  o += 2;
  out.write(topic, o, 'utf8');
  o += tlen;
  out.writeUInt16BE(id, o);
  o += 2;
  payload.copy(out, o);
  return out;
}
