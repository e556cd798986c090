/**
 * Topic authorisation for the embedded broker. Pure: identity + topic in, decision out.
 *
 * - A device publishes only its own device topics: `{prefix}/{self}/telemetry|events|status|models/report`.
 * - A device subscribes only to desired-model topics: `{prefix}/fleet/models/{name|+}` and
 *   `{prefix}/{self}/models/{name|+}`, and its shadow assignments `{prefix}/{self}/models/{name|+}/shadow`. No `#`, no other device, no `$SYS`.
 * - Services (ingest, rollout controller, dashboards) are privileged: any topic.
 */
import { Topics } from '../../protocol/topics.ts';

export type Identity = { kind: 'device'; deviceId: string } | { kind: 'service'; name: string };

export class TopicAuthorizer {
  readonly topics: Topics;

  constructor(topics: Topics = new Topics()) {
    this.topics = topics;
  }

  /** undefined when allowed, else the reason */
  checkPublish(id: Identity, topic: string): string | undefined {
    if (id.kind === 'service') return undefined;
    const t = this.topics.parse(topic);
    if (!t) return `device ${id.deviceId} may not publish to ${topic}: not an edgeloop device topic`;
    if (t.kind === 'model-desired') return `device ${id.deviceId} may not publish desired-model manifests (${topic})`;
    if (t.deviceId !== id.deviceId)
      return `device ${id.deviceId} may not publish under device ${t.deviceId} (${topic})`;
    return undefined;
  }

  checkSubscribe(id: Identity, filter: string): string | undefined {
    if (id.kind === 'service') return undefined;
    const p = this.topics.prefix;
    if (!filter.startsWith(p + '/')) return `device ${id.deviceId} may not subscribe to ${filter}`;
    const rest = filter.slice(p.length + 1).split('/');
    if (rest.length === 3 && (rest[0] === 'fleet' || rest[0] === id.deviceId) && rest[1] === 'models') {
      const name = rest[2]!;
      if (name === '+') return undefined;
      // a concrete model name (or the device's own report topic)
      const t = this.topics.parse(filter);
      if (t && (t.kind === 'model-desired' || t.kind === 'model-report')) return undefined;
    }
    if (rest.length === 4 && rest[0] === id.deviceId && rest[1] === 'models' && rest[3] === 'shadow') {
      if (rest[2] === '+' || this.topics.parse(filter)?.shadow) return undefined;
    }
    return `device ${id.deviceId} may subscribe only to ${p}/fleet/models/+ and ${p}/${id.deviceId}/models/+ (got ${filter})`;
  }
}
