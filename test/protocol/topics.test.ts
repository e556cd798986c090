import { describe, expect, it } from 'vitest';
import { Topics } from '../../protocol/topics.ts';

describe('Topics', () => {
  const t = new Topics();
  it('builds and parses every topic kind', () => {
    expect(t.parse(t.telemetry('dev-1'))).toEqual({ kind: 'telemetry', deviceId: 'dev-1' });
    expect(t.parse(t.events('dev-1'))).toEqual({ kind: 'events', deviceId: 'dev-1' });
    expect(t.parse(t.status('dev-1'))).toEqual({ kind: 'status', deviceId: 'dev-1' });
    expect(t.parse(t.modelReport('dev-1'))).toEqual({ kind: 'model-report', deviceId: 'dev-1' });
    expect(t.parse(t.deviceModel('dev-1', 'anomaly'))).toEqual({
      kind: 'model-desired',
      deviceId: 'dev-1',
      modelName: 'anomaly',
    });
    expect(t.parse(t.fleetModel('anomaly'))).toEqual({
      kind: 'model-desired',
      deviceId: undefined,
      modelName: 'anomaly',
    });
  });
  it('rejects foreign and malformed topics', () => {
    expect(t.parse('other/dev-1/telemetry')).toBeUndefined();
    expect(t.parse('edgeloop/v1/dev-1/telemetry/extra')).toBeUndefined();
    expect(t.parse('edgeloop/v1/dev 1/telemetry')).toBeUndefined();
    expect(t.parse('edgeloop/v1/fleet/telemetry')).toBeUndefined();
  });
  it('shadow assignments: one level under the desired topic, out of reach of models/+', () => {
    expect(t.deviceShadow('dev-1', 'anomaly')).toBe('edgeloop/v1/dev-1/models/anomaly/shadow');
    expect(t.parse(t.deviceShadow('dev-1', 'anomaly'))).toEqual({
      kind: 'model-desired',
      deviceId: 'dev-1',
      modelName: 'anomaly',
      shadow: true,
    });
    expect(t.agentShadowSubscriptions('dev-1')).toEqual(['edgeloop/v1/dev-1/models/+/shadow']);
    // what an agent without shadow support subscribes to does not match it (+ is one level)
    const plus = new RegExp(`^${t.agentModelSubscriptions('dev-1')[1]!.replace('+', '[^/]+')}$`);
    expect(plus.test(t.deviceModel('dev-1', 'anomaly'))).toBe(true);
    expect(plus.test(t.deviceShadow('dev-1', 'anomaly'))).toBe(false);
    expect(t.parse('edgeloop/v1/fleet/models/anomaly/shadow')).toBeUndefined();
    expect(t.parse('edgeloop/v1/dev-1/models/report/shadow')).toBeUndefined();
  });
  it('supports a custom prefix and refuses wildcards in it', () => {
    const c = new Topics('acme/plant-3');
    expect(c.parse('acme/plant-3/m7/events')).toEqual({ kind: 'events', deviceId: 'm7' });
    expect(() => new Topics('a/#')).toThrow(/prefix/);
  });
});
