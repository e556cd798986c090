/**
 * Feeds a FleetView from the broker: one privileged MQTT subscription to every device's telemetry, events and
 * status (the same view the ingest has). Invalid messages are counted and skipped.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeDeviceMessage } from '../../protocol/messages.ts';
import { Topics } from '../../protocol/topics.ts';
import type { FleetView } from './fleet-view.ts';

export interface DashboardFeedOptions {
  url: string;
  view: FleetView;
  username?: string | undefined;
  password?: string | undefined;
  clientId?: string;
  topicPrefix?: string;
  now?: () => number;
}

export class DashboardFeed {
  readonly #o: DashboardFeedOptions;
  #client: MqttClient | undefined;
  invalid = 0;

  constructor(opts: DashboardFeedOptions) {
    this.#o = opts;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  async start(): Promise<void> {
    if (this.#client) return;
    const topics = new Topics(this.#o.topicPrefix);
    const now = this.#o.now ?? Date.now;
    const view = this.#o.view;
    const client = await mqtt.connectAsync(this.#o.url, {
      clientId: this.#o.clientId ?? `edgeloop-dashboard-${process.pid}`,
      username: this.#o.username,
      password: this.#o.password,
      reconnectPeriod: 1000,
      protocolVersion: 4,
    });
    this.#client = client;
    client.on('error', () => {
      /* mqtt.js reconnects */
    });
    client.on('message', (_topic, payload) => {
      let m;
      try {
        m = decodeDeviceMessage(payload);
      } catch {
        this.invalid++;
        return;
      }
      const t = now();
      if (m.type === 'telemetry') view.telemetry(m, t);
      else if (m.type === 'events') view.events(m.deviceId, m.events, t);
      else if (m.type === 'status') view.status(m, t);
    });
    const p = topics.prefix;
    await client.subscribeAsync([`${p}/+/telemetry`, `${p}/+/events`, `${p}/+/status`], { qos: 0 });
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.endAsync(true);
  }
}
