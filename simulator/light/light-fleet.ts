/**
 * Light mode: the simulator speaks the wire protocol itself. Each device is a VirtualDevice; devices publish
 * through LeanMqttClient connections (one per device by default, like a real fleet; `connections` < devices
 * multiplexes devices over fewer connections for load tests where the broker authorises it). One ticker drives
 * every device: no per-device timers, so 10,000 devices cost one timer.
 */
import { encodeMessage, type Reading, type StatusMessage } from '../../protocol/messages.ts';
import { Topics } from '../../protocol/topics.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { VirtualDevice } from '../virtual-device.ts';
import { LeanMqttClient } from './lean-mqtt-client.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface LightFleetOptions {
  devices: readonly VirtualDevice[];
  /** where device i connects (its group's proxy, or the broker) */
  endpointFor: (deviceIndex: number) => Endpoint;
  topics?: Topics;
  /** messages per second per device (default 1) */
  messageRate?: number;
  /** samples per message per sensor: readings are batched (default 1) */
  samplesPerMessage?: number;
  /** TCP connections; default one per device */
  connections?: number;
  credentials?: (clientId: string) => { username?: string; password?: string } | undefined;
  /** initial connects per second (default 2000): a fleet powers on over time, not in one instant */
  connectRatePerSec?: number;
  /** TCP/MQTT handshakes in flight at most while the fleet starts (default 256) */
  maxPendingConnects?: number;
  /** publish a retained status (online) on connect, with a last will (online: false) (default true) */
  status?: boolean;
  now?: () => number;
  /** per-connection queue bound while disconnected (default 10,000 messages) */
  maxQueued?: number;
  retry?: { minMs?: number; maxMs?: number };
  onPublish?: (deviceIndex: number, readings: number, at: number) => void;
  onAck?: (deviceIndex: number, at: number) => void;
}

export interface LightFleetStats {
  devices: number;
  connections: number;
  connectedConnections: number;
  connectedDevices: number;
  messagesPublished: number;
  messagesAcked: number;
  readingsPublished: number;
  backlog: number;
  droppedAtDevice: number;
  connects: number;
  connectFailures: number;
  /** messages sent at least one period late (the process did not get the CPU in time) */
  lateSends: number;
  /** messages not sent at all: more than MAX_CATCHUP periods late */
  skippedSends: number;
}

const TICK_MS = 20;
/** periods a late device catches up at most */
const MAX_CATCHUP = 10;

export class LightFleet {
  readonly #o: LightFleetOptions;
  readonly #topics: Topics;
  readonly #clients: LeanMqttClient[] = [];
  /** connections that publish a retained status: on close they publish `online: false` (a clean DISCONNECT drops the will) */
  readonly #statusOf = new Map<LeanMqttClient, { conn: number; deviceId: string }>();
  /** connection index of each device */
  readonly #conn: Uint32Array;
  readonly #nextDue: Float64Array;
  readonly #periodMs: number;
  readonly #samples: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  #started = false;
  #closed = false;
  #lastKeepalive = 0;
  readonly stats: LightFleetStats;

  constructor(opts: LightFleetOptions) {
    const n = opts.devices.length;
    if (n === 0) throw new EdgeloopError('EL_ERR_SIM_OPTIONS', 'LightFleet: at least one device is needed');
    const rate = opts.messageRate ?? 1;
    if (!(rate > 0 && rate <= 1000))
      throw new EdgeloopError('EL_ERR_SIM_OPTIONS', `messageRate must be in (0, 1000] messages/s, got ${rate}`);
    const conns = opts.connections ?? n;
    if (!Number.isInteger(conns) || conns < 1 || conns > n) {
      throw new EdgeloopError(
        'EL_ERR_SIM_OPTIONS',
        `connections must be an integer in [1, devices=${n}], got ${conns}`,
      );
    }
    this.#o = opts;
    this.#topics = opts.topics ?? new Topics();
    this.#periodMs = 1000 / rate;
    this.#samples = opts.samplesPerMessage ?? 1;
    this.#now = opts.now ?? Date.now;
    this.#conn = new Uint32Array(n);
    this.#nextDue = new Float64Array(n);
    this.stats = {
      devices: n,
      connections: conns,
      connectedConnections: 0,
      connectedDevices: 0,
      messagesPublished: 0,
      messagesAcked: 0,
      readingsPublished: 0,
      backlog: 0,
      droppedAtDevice: 0,
      connects: 0,
      connectFailures: 0,
      lateSends: 0,
      skippedSends: 0,
    };
    for (let i = 0; i < n; i++) this.#conn[i] = conns === n ? i : i % conns;
  }

  get devices(): readonly VirtualDevice[] {
    return this.#o.devices;
  }
  get clients(): readonly LeanMqttClient[] {
    return this.#clients;
  }
  connectionOf(deviceIndex: number): LeanMqttClient {
    return this.#clients[this.#conn[deviceIndex]!]!;
  }

  /** Connect every device (ramped at connectRatePerSec) and start publishing. Resolves when all are connected. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const o = this.#o;
    const n = o.devices.length;
    const conns = this.stats.connections;
    const multiplexed = conns < n;
    for (let c = 0; c < conns; c++) {
      const firstDevice = o.devices[c]!;
      const clientId = multiplexed ? `sim-conn-${c}` : firstDevice.id;
      const ep = o.endpointFor(c);
      const cred = o.credentials?.(clientId);
      const status = o.status !== false && !multiplexed;
      const client = new LeanMqttClient({
        host: ep.host,
        port: ep.port,
        clientId,
        username: cred?.username,
        password: cred?.password,
        maxQueued: o.maxQueued ?? 10_000,
        retry: o.retry ?? {},
        will: status
          ? { topic: this.#topics.status(firstDevice.id), payload: this.#statusPayload(c, false), retain: true }
          : undefined,
        onConnect: () => {
          if (status) client.publish(this.#topics.status(firstDevice.id), this.#statusPayload(c, true), -1, true);
        },
        onAck: (_c, tag) => {
          if (tag >= 0) {
            this.stats.messagesAcked++;
            o.onAck?.(tag, this.#now());
          }
        },
      });
      this.#clients.push(client);
      if (status) this.#statusOf.set(client, { conn: c, deviceId: firstDevice.id });
    }
    // connect: at most connectRatePerSec new attempts per second and at most `maxPendingConnects` handshakes in
    // flight, so the generator does not overflow the broker's accept backlog (SYN retries would stall for seconds)
    const rate = o.connectRatePerSec ?? 2000;
    const maxPending = o.maxPendingConnects ?? 256;
    const waits: Promise<void>[] = [];
    let pending = 0;
    let next = 0;
    const t0 = Date.now();
    while (next < conns && !this.#closed) {
      const allowed = Math.min(conns, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
      while (next < allowed && pending < maxPending) {
        const client = this.#clients[next++]!;
        pending++;
        waits.push(
          client.connect().finally(() => {
            pending--;
          }),
        );
      }
      if (next < conns) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(waits);
    // publishing starts once the fleet is up; device i publishes at offset (i / n) of the period, spreading load
    const tStart = this.#now();
    for (let i = 0; i < n; i++) this.#nextDue[i] = tStart + (this.#periodMs * i) / n;
    if (!this.#closed) this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  #statusPayload(conn: number, online: boolean): Buffer {
    const d = this.#o.devices[conn]!;
    const m: StatusMessage = {
      v: 1,
      type: 'status',
      deviceId: d.id,
      seq: d.lastSeq,
      ts: this.#now(),
      online,
      agentVersion: 'edgeloop-sim',
    };
    return encodeMessage(m);
  }

  #tick(): void {
    if (this.#paused) return;
    const now = this.#now();
    const o = this.#o;
    const n = o.devices.length;
    const period = this.#periodMs;
    const samples = this.#samples;
    const step = period / samples;
    const times: number[] = new Array<number>(samples);
    for (let i = 0; i < n; i++) {
      let due = this.#nextDue[i]!;
      if (due > now) continue;
      // behind schedule (the process did not get the CPU in time): send the missed messages late, up to
      // MAX_CATCHUP periods; older ones are skipped and counted, never silently lost
      const behind = Math.floor((now - due) / period);
      if (behind > MAX_CATCHUP) {
        this.stats.skippedSends += behind - MAX_CATCHUP;
        due += (behind - MAX_CATCHUP) * period;
      }
      if (behind >= 1) this.stats.lateSends += Math.min(behind, MAX_CATCHUP);
      const d = o.devices[i]!;
      const client = this.#clients[this.#conn[i]!]!;
      for (; due <= now; due += period) {
        // a sample is stamped when it was due; within one tick of it, when it is sent (no tick-granularity artefact)
        const at = Math.max(due, now - TICK_MS);
        for (let s = 0; s < samples; s++) times[s] = Math.round(at - (samples - 1 - s) * step);
        const readings: Reading[] = d.sample(times);
        if (readings.length === 0) continue; // dropout: nothing to send
        const msg = {
          v: 1 as const,
          type: 'telemetry' as const,
          deviceId: d.id,
          seq: readings[0]!.seq,
          sentAt: now,
          readings,
        };
        client.publish(this.#topics.telemetry(d.id), encodeMessage(msg), i);
        this.stats.messagesPublished++;
        this.stats.readingsPublished += readings.length;
        o.onPublish?.(i, readings.length, now);
      }
      this.#nextDue[i] = due;
    }
    if (now - this.#lastKeepalive >= 1000) {
      this.#lastKeepalive = now;
      for (const c of this.#clients) c.tick(now);
    }
  }

  /** Refresh and return the counters. */
  snapshot(): LightFleetStats {
    let backlog = 0;
    let dropped = 0;
    let connects = 0;
    let failures = 0;
    let connectedDevices = 0;
    let connectedConnections = 0;
    for (const c of this.#clients) {
      if (c.connected) connectedConnections++;
      backlog += c.backlog;
      dropped += c.dropped;
      connects += c.connects;
      failures += c.connectFailures;
    }
    for (let i = 0; i < this.#o.devices.length; i++) if (this.#clients[this.#conn[i]!]!.connected) connectedDevices++;
    Object.assign(this.stats, {
      connectedConnections,
      backlog,
      droppedAtDevice: dropped,
      connects,
      connectFailures: failures,
      connectedDevices,
    });
    return { ...this.stats };
  }

  /** Last seq produced per device: what the observer should eventually have. */
  expected(): Map<string, number> {
    return new Map(this.#o.devices.map((d) => [d.id, d.lastSeq]));
  }

  /** Stop producing (devices stay connected and drain their backlog). */
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
  }

  /** Drop the TCP connection of every device at once (they reconnect with backoff): a connect storm. */
  dropAll(): void {
    for (const c of this.#clients) c.drop();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // like an agent's clean shutdown: a retained status left `online` would keep the device in the fleet's view
    for (const [client, s] of this.#statusOf)
      if (client.connected)
        client.publish(this.#topics.status(s.deviceId), this.#statusPayload(s.conn, false), -1, true);
    await Promise.all(this.#clients.map((c) => c.close()));
  }
}
