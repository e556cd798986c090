import { describe, expect, it } from 'vitest';
import { TopicAuthorizer } from '../../../cloud/broker/topic-authorizer.ts';

describe('TopicAuthorizer: shadow assignment topics', () => {
  const a = new TopicAuthorizer();
  const dev = { kind: 'device' as const, deviceId: 'dev-1' };
  it('a device subscribes to its own shadow topics, not to another device', () => {
    expect(a.checkSubscribe(dev, 'edgeloop/v1/dev-1/models/+/shadow')).toBeUndefined();
    expect(a.checkSubscribe(dev, 'edgeloop/v1/dev-1/models/anomaly/shadow')).toBeUndefined();
    expect(a.checkSubscribe(dev, 'edgeloop/v1/dev-2/models/+/shadow')).toMatch(/may subscribe only/);
    expect(a.checkSubscribe(dev, 'edgeloop/v1/dev-1/models/+/+')).toMatch(/may subscribe only/);
    expect(a.checkSubscribe(dev, 'edgeloop/v1/fleet/models/+/shadow')).toMatch(/may subscribe only/);
  });
  it('a device may not publish a shadow assignment, even to itself', () => {
    expect(a.checkPublish(dev, 'edgeloop/v1/dev-1/models/anomaly/shadow')).toMatch(/desired-model manifests/);
  });
});
