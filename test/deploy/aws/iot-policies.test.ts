/**
 * The IoT Core policies come from protocol/topics.ts, and they allow what the embedded broker's TopicAuthorizer
 * allows: the IoT policy is evaluated here the way IoT Core matches resources (`*` any characters, `?` one, `+`
 * and `#` literal; policy variables substituted for the connecting thing) over a battery of topics and filters for
 * two devices, and compared decision by decision with the broker's.
 */
import { describe, expect, it } from 'vitest';
import { TopicAuthorizer, type Identity } from '../../../cloud/broker/topic-authorizer.ts';
import { Topics } from '../../../protocol/topics.ts';
import {
  THING_NAME,
  devicePolicy,
  ingestBridgePolicy,
  topicRules,
  type PolicyDocument,
} from '../../../deploy/aws/lib/iot-policies.ts';

const ARN = 'arn:aws:iot:eu-west-1:123456789012';
const arn = (type: string, name: string) => `${ARN}:${type}/${name}`;

/** IoT Core's resource matching: `*` any run of characters, `?` one character, everything else literal. */
function matches(pattern: string, resource: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\#]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(resource);
}

function allows(doc: PolicyDocument, thing: string, action: string, resource: string): boolean {
  return doc.Statement.some((s) => {
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    if (!actions.includes(action)) return false;
    return s.Resource.some((r) => matches(r.split(THING_NAME).join(thing), resource));
  });
}

describe('device policy vs the embedded broker (TopicAuthorizer)', () => {
  for (const prefix of ['edgeloop/v1', 'acme/plant-7/v2']) {
    const topics = new Topics(prefix);
    const doc = devicePolicy(topics, arn);
    const broker = new TopicAuthorizer(topics);
    const devices = ['pump-1', 'pump-2'];
    const p = prefix;
    const publishTopics = (d: string) => [
      `${p}/${d}/telemetry`,
      `${p}/${d}/events`,
      `${p}/${d}/status`,
      `${p}/${d}/models/report`,
      `${p}/${d}/models/anomaly`,
      `${p}/${d}/other`,
      `${p}/${d}/telemetry/extra`,
      `${p}/fleet/models/anomaly`,
      `${p}/fleet/telemetry`,
      `other/v1/${d}/telemetry`,
      `$aws/things/${d}/shadow/update`,
    ];
    const subscribeFilters = (d: string) => [
      `${p}/fleet/models/+`,
      `${p}/${d}/models/+`,
      `${p}/fleet/models/#`,
      `${p}/${d}/models/#`,
      `${p}/+/models/+`,
      `${p}/#`,
      '#',
      `${p}/${d}/telemetry`,
      `${p}/fleet/models/+/x`,
      '$SYS/#',
    ];

    it(`${prefix}: publish decisions are equal for own and foreign topics`, () => {
      for (const self of devices) {
        const id: Identity = { kind: 'device', deviceId: self };
        for (const d of devices) {
          for (const topic of publishTopics(d)) {
            const iot = allows(doc, self, 'iot:Publish', `${ARN}:topic/${topic}`);
            expect(iot, `${self} publishes ${topic}`).toBe(broker.checkPublish(id, topic) === undefined);
          }
        }
      }
    });

    it(`${prefix}: subscribe: IoT allows exactly the agent's filters; never more than the broker`, () => {
      for (const self of devices) {
        const id: Identity = { kind: 'device', deviceId: self };
        const agentFilters = topics.agentModelSubscriptions(self);
        for (const d of devices) {
          for (const filter of [...subscribeFilters(d), `${p}/fleet/models/anomaly`, `${p}/${d}/models/anomaly`]) {
            const iot = allows(doc, self, 'iot:Subscribe', `${ARN}:topicfilter/${filter}`);
            const brokerAllows = broker.checkSubscribe(id, filter) === undefined;
            if (iot) expect(brokerAllows, `${self} subscribes ${filter}: IoT allows, broker refuses`).toBe(true);
            expect(iot, `${self} subscribes ${filter}`).toBe(agentFilters.includes(filter));
            // the one difference: a concrete model name, which the broker allows and the agent never uses
            if (brokerAllows && !iot) expect(filter).toMatch(/\/models\/anomaly$/);
          }
        }
      }
    });

    it(`${prefix}: receive covers the model topics the subscriptions deliver, and no other device's`, () => {
      expect(allows(doc, 'pump-1', 'iot:Receive', `${ARN}:topic/${topics.fleetModel('anomaly')}`)).toBe(true);
      expect(allows(doc, 'pump-1', 'iot:Receive', `${ARN}:topic/${topics.deviceModel('pump-1', 'anomaly')}`)).toBe(
        true,
      );
      expect(allows(doc, 'pump-1', 'iot:Receive', `${ARN}:topic/${topics.deviceModel('pump-2', 'anomaly')}`)).toBe(
        false,
      );
      expect(allows(doc, 'pump-1', 'iot:Receive', `${ARN}:topic/${topics.telemetry('pump-2')}`)).toBe(false);
    });
  }

  it('connects only as its own attached thing', () => {
    const doc = devicePolicy(new Topics(), arn);
    expect(allows(doc, 'pump-1', 'iot:Connect', `${ARN}:client/pump-1`)).toBe(true);
    expect(allows(doc, 'pump-1', 'iot:Connect', `${ARN}:client/pump-2`)).toBe(false);
    expect(doc.Statement[0]).toMatchObject({
      Action: 'iot:Connect',
      Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
    });
  });

  it('names no action with a wildcard', () => {
    const doc = devicePolicy(new Topics(), arn);
    for (const s of doc.Statement) for (const a of [s.Action].flat()) expect(a).not.toContain('*');
  });
});

describe('ingest bridge policy and topic rules', () => {
  const topics = new Topics();

  it("subscribes through the shared group to the ingest's filters, receives device topics, never publishes", () => {
    const doc = ingestBridgePolicy(topics, arn, 'edgeloop-ingest-', 'edgeloop-ingest');
    expect(allows(doc, '-', 'iot:Connect', `${ARN}:client/edgeloop-ingest-1`)).toBe(true);
    expect(allows(doc, '-', 'iot:Connect', `${ARN}:client/pump-1`)).toBe(false);
    for (const f of topics.ingestSubscriptions()) {
      expect(allows(doc, '-', 'iot:Subscribe', `${ARN}:topicfilter/$share/edgeloop-ingest/${f}`)).toBe(true);
    }
    expect(allows(doc, '-', 'iot:Subscribe', `${ARN}:topicfilter/$share/edgeloop-ingest/edgeloop/v1/#`)).toBe(false);
    expect(allows(doc, '-', 'iot:Receive', `${ARN}:topic/${topics.telemetry('pump-1')}`)).toBe(true);
    expect(allows(doc, '-', 'iot:Receive', `${ARN}:topic/${topics.modelReport('pump-1')}`)).toBe(true);
    expect(doc.Statement.some((s) => [s.Action].flat().includes('iot:Publish'))).toBe(false);
  });

  it('one rule per ingest subscription, keyed by the deviceId topic level', () => {
    expect(topicRules(topics)).toEqual([
      { name: 'telemetry', sql: "SELECT * FROM 'edgeloop/v1/+/telemetry'", partitionKey: '${topic(3)}' },
      { name: 'events', sql: "SELECT * FROM 'edgeloop/v1/+/events'", partitionKey: '${topic(3)}' },
      { name: 'status', sql: "SELECT * FROM 'edgeloop/v1/+/status'", partitionKey: '${topic(3)}' },
      { name: 'models_report', sql: "SELECT * FROM 'edgeloop/v1/+/models/report'", partitionKey: '${topic(3)}' },
    ]);
    expect(topicRules(new Topics('acme/plant-7/v2'))[0]!.partitionKey).toBe('${topic(4)}');
    // topic(n) is the deviceId: the level after the prefix
    const level = Number(/topic\((\d)\)/.exec(topicRules(topics)[0]!.partitionKey)![1]);
    expect(topics.telemetry('pump-1').split('/')[level - 1]).toBe('pump-1');
  });
});
