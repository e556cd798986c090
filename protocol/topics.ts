/**
 * Topic layout of the wire contract (see docs/protocol.md). Pure functions, no I/O.
 *
 *   {prefix}/{deviceId}/telemetry            batches of readings, QoS 1
 *   {prefix}/{deviceId}/events               anomaly events and alerts, QoS 1, sent ahead of telemetry
 *   {prefix}/{deviceId}/status               retained health; also the last will (online: false)
 *   {prefix}/{deviceId}/models/report        progress of a model update
 *   {prefix}/{deviceId}/models/{modelName}   retained desired manifest for one device (overrides the fleet one)
 *   {prefix}/fleet/models/{modelName}        retained desired manifest for the fleet
 *   {prefix}/{deviceId}/models/{modelName}/shadow   retained shadow assignment for one device: run the candidate
 *                                            beside the active model, act on nothing it says. One level deeper than
 *                                            the desired topics, so agents that predate shadows (subscribed to
 *                                            models/+) never receive it.
 */
import { EdgeloopError } from './errors.ts';

export const DEFAULT_TOPIC_PREFIX = 'edgeloop/v1';
export const FLEET = 'fleet';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Device ids and model names: 1–128 chars of [A-Za-z0-9._:-], no MQTT wildcards or separators. */
export function isValidId(id: string): boolean {
  return ID_RE.test(id) && id !== FLEET;
}

export function assertValidId(kind: 'deviceId' | 'modelName', id: string): void {
  if (typeof id !== 'string' || !ID_RE.test(id) || id === FLEET) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `${kind} ${JSON.stringify(id)} is invalid: expected 1-128 characters of [A-Za-z0-9._:-], not "${FLEET}"`,
    );
  }
}

export type TopicKind = 'telemetry' | 'events' | 'status' | 'model-report' | 'model-desired';

export interface ParsedTopic {
  kind: TopicKind;
  /** undefined for fleet-wide model topics */
  deviceId: string | undefined;
  modelName?: string;
  /** a model-desired topic that carries a shadow assignment ({deviceId}/models/{name}/shadow) */
  shadow?: true;
}

export class Topics {
  readonly prefix: string;
  readonly #prefixParts: number;

  constructor(prefix: string = DEFAULT_TOPIC_PREFIX) {
    if (!prefix || /[#+]/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/')) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `topic prefix ${JSON.stringify(prefix)} is invalid`);
    }
    this.prefix = prefix;
    this.#prefixParts = prefix.split('/').length;
  }

  telemetry(deviceId: string): string {
    return `${this.prefix}/${deviceId}/telemetry`;
  }
  events(deviceId: string): string {
    return `${this.prefix}/${deviceId}/events`;
  }
  status(deviceId: string): string {
    return `${this.prefix}/${deviceId}/status`;
  }
  modelReport(deviceId: string): string {
    return `${this.prefix}/${deviceId}/models/report`;
  }
  deviceModel(deviceId: string, modelName: string): string {
    return `${this.prefix}/${deviceId}/models/${modelName}`;
  }
  fleetModel(modelName: string): string {
    return `${this.prefix}/${FLEET}/models/${modelName}`;
  }
  /** Retained shadow assignment of one device (a ModelDesiredMessage with role "shadow"). */
  deviceShadow(deviceId: string, modelName: string): string {
    return `${this.prefix}/${deviceId}/models/${modelName}/shadow`;
  }

  /** Subscriptions an agent needs to receive desired-model manifests. */
  agentModelSubscriptions(deviceId: string): string[] {
    return [`${this.prefix}/${FLEET}/models/+`, `${this.prefix}/${deviceId}/models/+`];
  }

  /** Subscription an agent that runs shadow models needs (kept apart: a broker may refuse it to older policies). */
  agentShadowSubscriptions(deviceId: string): string[] {
    return [`${this.prefix}/${deviceId}/models/+/shadow`];
  }

  /** Subscriptions of the cloud ingest (all devices' telemetry, events, status, reports). */
  ingestSubscriptions(): string[] {
    return [
      `${this.prefix}/+/telemetry`,
      `${this.prefix}/+/events`,
      `${this.prefix}/+/status`,
      `${this.prefix}/+/models/report`,
    ];
  }

  /** Parse a concrete topic; returns undefined when it is not an edgeloop topic. */
  parse(topic: string): ParsedTopic | undefined {
    if (!topic.startsWith(this.prefix + '/')) return undefined;
    const parts = topic.split('/').slice(this.#prefixParts);
    const [a, b, c] = parts;
    if (a === undefined || b === undefined) return undefined;
    if (a === FLEET) {
      if (parts.length === 3 && b === 'models' && c && isValidModelName(c)) {
        return { kind: 'model-desired', deviceId: undefined, modelName: c };
      }
      return undefined;
    }
    if (!isValidId(a)) return undefined;
    if (parts.length === 2) {
      if (b === 'telemetry') return { kind: 'telemetry', deviceId: a };
      if (b === 'events') return { kind: 'events', deviceId: a };
      if (b === 'status') return { kind: 'status', deviceId: a };
      return undefined;
    }
    if (parts.length === 3 && b === 'models' && c) {
      if (c === 'report') return { kind: 'model-report', deviceId: a };
      if (isValidModelName(c)) return { kind: 'model-desired', deviceId: a, modelName: c };
    }
    if (parts.length === 4 && b === 'models' && c && parts[3] === 'shadow' && isValidModelName(c)) {
      return { kind: 'model-desired', deviceId: a, modelName: c, shadow: true };
    }
    return undefined;
  }
}

function isValidModelName(name: string): boolean {
  return ID_RE.test(name) && name !== 'report';
}
