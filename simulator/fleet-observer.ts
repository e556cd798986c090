/**
 * The observer: a privileged MQTT client subscribed to every device's telemetry and events, as the ingest sees
 * them. It records delivery by seq (gaps, duplicates), device time → broker latency of every reading, throughput
 * per second, and the anomaly events for scoring. It is the simulator's measuring instrument; it never publishes.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeDeviceMessage, type StatusMessage } from '../protocol/messages.ts';
import { Topics } from '../protocol/topics.ts';
import { DeliveryTracker } from './delivery-tracker.ts';
import { LatencyHistogram } from './report/latency-histogram.ts';
import type { ObservedEvent } from './report/detection-score.ts';
import type { TimeSeries } from './report/time-series.ts';

export interface FleetObserverOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  topics?: Topics;
  series?: TimeSeries | undefined;
  now?: () => number;
  /** keep the last N anomaly events in memory (default 100,000) */
  maxEvents?: number;
  onEvent?: (e: ObservedEvent) => void;
  onStatus?: (s: StatusMessage) => void;
  clientId?: string;
  /** count only these devices (a shared broker, e.g. `edgeloop up`'s, also carries other devices' messages) */
  devices?: ReadonlySet<string>;
}

export class FleetObserver {
  readonly delivery = new DeliveryTracker();
  readonly latency = new LatencyHistogram();
  readonly events: ObservedEvent[] = [];
  readonly status = new Map<string, StatusMessage>();
  messages = 0;
  invalid = 0;
  readonly #o: FleetObserverOptions;
  readonly #topics: Topics;
  readonly #now: () => number;
  #client: MqttClient | undefined;

  constructor(opts: FleetObserverOptions) {
    this.#o = opts;
    this.#topics = opts.topics ?? new Topics();
    this.#now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.#client) return;
    const client = mqtt.connect(this.#o.url, {
      clientId: this.#o.clientId ?? `edgeloop-sim-observer-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      username: this.#o.username,
      password: this.#o.password,
      clean: false, // a persistent session: the broker queues what arrives while the observer reconnects
      reconnectPeriod: 250,
      connectTimeout: 10_000,
      protocolVersion: 4,
    });
    this.#client = client;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
    client.on('error', () => {
      /* reconnects */
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const p = this.#topics.prefix;
    await client.subscribeAsync([`${p}/+/telemetry`, `${p}/+/events`, `${p}/+/status`], { qos: 1 });
  }

  #onMessage(topic: string, payload: Buffer): void {
    const now = this.#now();
    let m;
    try {
      m = decodeDeviceMessage(payload);
    } catch {
      this.invalid++;
      return;
    }
    if (this.#o.devices && !this.#o.devices.has(m.deviceId)) return;
    this.messages++;
    const series = this.#o.series;
    if (m.type === 'telemetry') {
      let fresh = 0;
      for (const r of m.readings) {
        if (this.delivery.record(m.deviceId, r.seq)) {
          fresh++;
          this.latency.record(now - r.ts);
        }
      }
      series?.add('received', now, fresh);
    } else if (m.type === 'events') {
      for (const e of m.events) {
        if (!this.delivery.record(m.deviceId, e.seq)) continue;
        const ev: ObservedEvent = { deviceId: m.deviceId, ts: e.ts, kind: e.kind, score: e.score, sensors: e.sensors };
        if (this.events.length < (this.#o.maxEvents ?? 100_000)) this.events.push(ev);
        series?.add('events', now, 1);
        this.#o.onEvent?.(ev);
      }
    } else if (m.type === 'status') {
      this.status.set(m.deviceId, m);
      this.#o.onStatus?.(m);
    }
    void topic;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  async close(): Promise<void> {
    const c = this.#client;
    if (!c) return;
    this.#client = undefined;
    await c.endAsync(true);
  }
}
