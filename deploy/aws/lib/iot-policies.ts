/**
 * The IoT Core policies of the stack, generated from the wire contract (protocol/topics.ts) that the embedded
 * broker's TopicAuthorizer enforces, never written out by hand. Pure: ARNs come from the `arn` function the
 * caller passes (the stack's partition, region and account; tests pass a plain string builder).
 *
 * Device policy: one policy for the whole fleet, attached to every device certificate, scoped to each device by
 * the policy variable `${iot:Connection.Thing.ThingName}` (the agent's client id = thing name = deviceId):
 * - Connect as its own thing only, and only while the certificate is attached to that thing;
 * - Publish its own telemetry, events, status and model report topics (Topics.telemetry/events/status/modelReport);
 * - Subscribe to exactly the filters the agent uses (Topics.agentModelSubscriptions, agentShadowSubscriptions): the
 *   fleet's and its own `models/+`, and its own `models/+/shadow`. In IoT policies `+` and `#` are literal characters, so the resource `topicfilter/.../models/+`
 *   allows that filter and nothing wider (no `#`, no other device);
 * - Receive messages on those model topics (`*` here stands for the model name).
 * The embedded broker also lets a device subscribe to one concrete model name (`.../models/<name>`); the agent
 * never does, and this policy does not allow it (test/deploy/aws/iot-policies.test.ts states the difference).
 */
import type { Topics } from '../../../protocol/topics.ts';

/** The IoT policy variable that names the connecting thing. */
export const THING_NAME = '${iot:Connection.Thing.ThingName}';

export type IotResourceType = 'client' | 'topic' | 'topicfilter';
export type ArnOf = (type: IotResourceType, name: string) => string;

export interface PolicyStatement {
  Effect: 'Allow';
  Action: string | string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The topics a device publishes (its own). */
export function devicePublishTopics(topics: Topics, deviceId: string = THING_NAME): string[] {
  return [topics.telemetry(deviceId), topics.events(deviceId), topics.status(deviceId), topics.modelReport(deviceId)];
}

/** MQTT wildcards of a subscription as an IoT policy matches them for Receive (a concrete topic): `+` → `*`. */
function receivePattern(filter: string): string {
  return filter
    .split('/')
    .map((l) => (l === '+' || l === '#' ? '*' : l))
    .join('/');
}

export function devicePolicy(topics: Topics, arn: ArnOf): PolicyDocument {
  // the model topics and the device's own shadow assignments (an agent that runs shadow candidates subscribes to both)
  const filters = [...topics.agentModelSubscriptions(THING_NAME), ...topics.agentShadowSubscriptions(THING_NAME)];
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: [arn('client', THING_NAME)],
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: devicePublishTopics(topics).map((t) => arn('topic', t)) },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: filters.map((f) => arn('topicfilter', f)) },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: filters.map((f) => arn('topic', receivePattern(f))) },
    ],
  };
}

/**
 * The ingest bridge's policy (`edgeloop cloud --only ingest` against IoT Core): connect as `<clientPrefix>*`,
 * subscribe to the ingest's filters (Topics.ingestSubscriptions) through the shared subscription group, receive
 * what they match. It never publishes.
 */
export function ingestBridgePolicy(
  topics: Topics,
  arn: ArnOf,
  clientPrefix: string,
  sharedGroup: string,
): PolicyDocument {
  const filters = topics.ingestSubscriptions();
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: [arn('client', `${clientPrefix}*`)] },
      {
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: filters.map((f) => arn('topicfilter', `$share/${sharedGroup}/${f}`)),
      },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: filters.map((f) => arn('topic', receivePattern(f))) },
    ],
  };
}

/**
 * The topic rules into Kinesis: one per ingest subscription (telemetry, events, status, model reports: the
 * processor reads all four), each with its SQL and the partition key `${topic(n)}` where topic level n is the
 * deviceId, so a device's records stay in one shard, in order, as with the ingest bridge.
 */
export function topicRules(topics: Topics): { name: string; sql: string; partitionKey: string }[] {
  const deviceLevel = topics.prefix.split('/').length + 1;
  return topics.ingestSubscriptions().map((filter) => {
    const kind = filter
      .slice(topics.prefix.length + 1)
      .split('/')
      .filter((l) => l !== '+')
      .join('_');
    return { name: kind, sql: `SELECT * FROM '${filter}'`, partitionKey: `\${topic(${deviceLevel})}` };
  });
}
