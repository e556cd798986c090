/**
 * RolloutPublisher: carries out a state machine's actions on the broker, all as retained QoS 1 messages: a
 * ModelDesiredMessage on topics.deviceModel(deviceId, model) (an assignment or a revert), on the device's shadow
 * topic (Topics.deviceShadow, role "shadow") or on topics.fleetModel(model) (a completed rollout, or the previous
 * fleet manifest back), and an empty retained message to clear one of them. A failed publication is logged, not
 * thrown: a device that misses its assignment times out and gets it again.
 */
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { SCHEMA_VERSION, encodeMessage, type ModelDesiredMessage } from '../../protocol/messages.ts';
import type { Topics } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';
import type { DesiredTarget, RolloutAction } from './rollout-state.ts';

export interface RolloutPublisherOptions {
  transport: Transport;
  topics: Topics;
  clock: Clock;
  logger: Logger;
  /** the next sequence number of the controller's messages (persisted, so it grows across restarts) */
  nextSeq: (now: number) => number;
  /** the fleet manifest of `model` was published (undefined: cleared) */
  onFleetDesired: (model: string, msg: ModelDesiredMessage | undefined) => void;
}

export class RolloutPublisher {
  readonly #o: RolloutPublisherOptions;

  constructor(opts: RolloutPublisherOptions) {
    this.#o = opts;
  }

  /** Carry out one action of rollout `rolloutId` of `model`. */
  async act(rolloutId: string, model: string, a: RolloutAction): Promise<void> {
    const topics = this.#o.topics;
    try {
      if (a.type === 'publish-device') {
        await this.#publish(topics.deviceModel(a.deviceId, model), this.#desired(model, a.target, rolloutId));
      } else if (a.type === 'publish-shadow') {
        await this.#publish(
          topics.deviceShadow(a.deviceId, model),
          this.#desired(model, a.target, rolloutId, 'shadow'),
        );
      } else if (a.type === 'clear-shadow') {
        await this.#clear(topics.deviceShadow(a.deviceId, model));
      } else if (a.type === 'clear-device') {
        await this.#clear(topics.deviceModel(a.deviceId, model));
      } else {
        const topic = topics.fleetModel(model);
        if (a.target) {
          const msg = this.#desired(model, a.target, undefined);
          this.#o.onFleetDesired(model, msg);
          await this.#publish(topic, msg);
        } else {
          this.#o.onFleetDesired(model, undefined);
          await this.#clear(topic);
        }
      }
    } catch (err) {
      // a device that misses its assignment times out and gets it again; fleet/clear publications are logged
      this.#o.logger.warn({ err, rollout: rolloutId, action: a.type }, 'publish failed');
    }
  }

  #desired(name: string, t: DesiredTarget, rolloutId: string | undefined, role?: 'shadow'): ModelDesiredMessage {
    const now = this.#o.clock.now();
    return {
      v: SCHEMA_VERSION,
      type: 'model-desired',
      name,
      version: t.version,
      artifactUrl: t.artifactUrl,
      manifest: t.manifest,
      ...(rolloutId ? { rolloutId } : {}),
      seq: this.#o.nextSeq(now),
      ts: now,
      ...(role ? { role } : {}),
    };
  }

  async #publish(topic: string, msg: ModelDesiredMessage): Promise<void> {
    await this.#o.transport.publish({ topic, payload: encodeMessage(msg), qos: 1, retain: true });
  }

  async #clear(topic: string): Promise<void> {
    await this.#o.transport.publish({ topic, payload: new Uint8Array(0), qos: 1, retain: true });
  }
}
