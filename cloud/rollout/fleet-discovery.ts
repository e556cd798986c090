/**
 * FleetDiscovery: the rollout controller's view of the fleet, from what the broker delivers. It subscribes to the
 * retained fleet desired-model topics (what a rollout's "previous" is), every device's retained status (online,
 * model versions, inference and shadow figures: the FleetDevice the state machines read) and every device's
 * models/report, which it passes on. After subscribing it waits discoveryMs for the retained messages before it
 * counts as discovered (ready()): nothing is assigned or started from an empty view. Subscriptions are made again
 * on every reconnect.
 */
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import {
  validateDeviceMessage,
  validateModelDesired,
  type ModelDesiredMessage,
  type ModelReportMessage,
} from '../../protocol/messages.ts';
import { FLEET, type Topics } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';
import type { FleetDevice } from './rollout-state.ts';

export interface FleetDiscoveryOptions {
  transport: Transport;
  topics: Topics;
  /** how long to wait for the retained messages after subscribing, ms */
  discoveryMs: number;
  clock: Clock;
  logger: Logger;
  /** a device's models/report (the device's lastSeen is already updated) */
  onReport: (m: ModelReportMessage, now: number) => void;
  /** after every status or report: the rollouts may move */
  onChange: () => void;
}

export class FleetDiscovery {
  readonly #o: FleetDiscoveryOptions;
  readonly #fleet = new Map<string, FleetDevice>();
  readonly #fleetDesired = new Map<string, ModelDesiredMessage>();
  #discovered = false;
  #ready: Promise<void> = Promise.resolve();
  #readyTimer: { h: TimerHandle; resolve: () => void } | undefined;
  #closed = false;
  #onMessage = (topic: string, payload: Buffer): void => this.#handle(topic, payload);
  #onConnect = (): void =>
    void this.#subscribe().catch((err: unknown) => this.#o.logger.warn({ err }, 'resubscribe failed'));

  constructor(opts: FleetDiscoveryOptions) {
    this.#o = opts;
  }

  /** Devices a status was seen from. */
  get fleet(): ReadonlyMap<string, FleetDevice> {
    return this.#fleet;
  }

  /** Whether the discovery time after start has passed. */
  get discovered(): boolean {
    return this.#discovered;
  }

  /** The retained fleet desired-model message of `model`, as last seen or published. */
  fleetDesired(model: string): ModelDesiredMessage | undefined {
    return this.#fleetDesired.get(model);
  }

  /** Record the controller's own publication of the fleet manifest (undefined: cleared). */
  setFleetDesired(model: string, msg: ModelDesiredMessage | undefined): void {
    if (msg) this.#fleetDesired.set(model, msg);
    else this.#fleetDesired.delete(model);
  }

  /** Listen and subscribe (now, if the transport is connected, and on every connect), then start the wait. */
  async start(): Promise<void> {
    const t = this.#o.transport;
    t.on('message', this.#onMessage);
    t.on('connect', this.#onConnect);
    if (t.connected) await this.#subscribe();
    this.#ready = new Promise<void>((resolve) => {
      const h = this.#o.clock.setTimeout(() => {
        this.#discovered = true;
        this.#readyTimer = undefined;
        resolve();
      }, this.#o.discoveryMs);
      h.unref?.();
      this.#readyTimer = { h, resolve };
    });
  }

  /** Resolves once the discovery time after start has passed (or on close). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Stop listening; a wait in progress ends (ready() resolves). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.transport.off('message', this.#onMessage);
    this.#o.transport.off('connect', this.#onConnect);
    if (this.#readyTimer) {
      this.#o.clock.clearTimeout(this.#readyTimer.h);
      this.#readyTimer.resolve();
      this.#readyTimer = undefined;
    }
  }

  async #subscribe(): Promise<void> {
    const p = this.#o.topics.prefix;
    // the fleet manifests first, in their own SUBSCRIBE: with thousands of retained statuses streaming in one
    // packet, aedes was seen to skip the retained fleet messages of a later filter in the same packet
    await this.#o.transport.subscribe([`${p}/${FLEET}/models/+`], 1);
    await this.#o.transport.subscribe([`${p}/+/status`, `${p}/+/models/report`], 1);
  }

  #handle(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    const t = this.#o.topics.parse(topic);
    if (!t) return;
    try {
      if (t.kind === 'model-desired' && t.deviceId === undefined && t.modelName) {
        if (payload.byteLength === 0) this.#fleetDesired.delete(t.modelName);
        else this.#fleetDesired.set(t.modelName, validateModelDesired(JSON.parse(payload.toString('utf8'))));
        return;
      }
      if (t.kind !== 'status' && t.kind !== 'model-report') return;
      if (payload.byteLength === 0) {
        if (t.kind === 'status' && t.deviceId) this.#fleet.delete(t.deviceId);
        return;
      }
      const m = validateDeviceMessage(JSON.parse(payload.toString('utf8')));
      if (m.deviceId !== t.deviceId) return;
      const now = this.#o.clock.now();
      if (m.type === 'status') {
        // the status's own time: a retained status delivered on subscribe is as old as the device's last word
        this.#fleet.set(m.deviceId, {
          online: m.online,
          models: m.models ?? [],
          inference: m.inference,
          ...(Array.isArray(m.shadow) ? { shadow: m.shadow } : {}),
          lastSeen: Math.min(m.ts, now),
        });
      } else if (m.type === 'model-report') {
        const fd = this.#fleet.get(m.deviceId);
        if (fd) fd.lastSeen = now;
        this.#o.onReport(m, now);
      }
      this.#o.onChange();
    } catch (err) {
      this.#o.logger.debug({ err, topic }, 'message ignored');
    }
  }
}
