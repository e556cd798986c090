/**
 * The pure machine's shadow stage: assignment of the shadow cohort, the bake, each shadow gate (pass and fail),
 * too few windows or devices (waits), failures, manual approval, and that no device is asked to activate the
 * candidate before the shadow passed.
 */
import { describe, expect, it } from 'vitest';
import { RolloutMachine } from '../../../cloud/rollout/rollout-machine.ts';
import type { FleetDevice, RolloutAction } from '../../../cloud/rollout/rollout-state.ts';
import { parseRolloutSpec, parseShadowGate, type RolloutSpecInput } from '../../../cloud/rollout/rollout-spec.ts';
import type { ShadowReport } from '../../../protocol/messages.ts';

const MODEL = 'pump-ae';
const target = { version: '2', artifactUrl: 'http://r/v1/artifacts/b', manifest: { v: 2 } };
const previous = { version: '1', artifactUrl: 'http://r/v1/artifacts/a', manifest: { v: 1 } };
const Q = { p05: 0.1, p25: 0.3, p50: 0.5, p75: 0.8, p95: 1.5, p99: 2.5 };

function fleetOf(n: number): Map<string, FleetDevice> {
  const m = new Map<string, FleetDevice>();
  for (let i = 0; i < n; i++) {
    m.set(`dev-${String(i).padStart(2, '0')}`, {
      online: true,
      models: [{ name: MODEL, version: '1' }],
      inference: { windows: 1000, anomalies: 50, anomalyRate: 0.05, p50Ms: 0.5, p95Ms: 1, p99Ms: 2 },
      lastSeen: 0,
    });
  }
  return m;
}

interface Behaviour {
  windows: number;
  agreement: number;
  /** the candidate's and the active model's anomaly rates over the paired windows */
  rate: number;
  activeRate: number;
  p99Ms: number;
}

function report(b: Behaviour): ShadowReport {
  return {
    name: MODEL,
    version: '2',
    activeVersion: '1',
    windows: b.windows,
    agreements: Math.round(b.windows * b.agreement),
    anomalies: Math.round(b.windows * b.rate),
    activeAnomalies: Math.round(b.windows * b.activeRate),
    p50Ms: b.p99Ms / 4,
    p95Ms: b.p99Ms / 2,
    p99Ms: b.p99Ms,
    scores: { active: Q, shadow: Q },
  };
}

const GOOD: Behaviour = { windows: 500, agreement: 0.97, rate: 0.06, activeRate: 0.05, p99Ms: 1.5 };

/** Devices that start the shadow they are assigned and report `b`; clear-shadow removes it. */
function apply(actions: RolloutAction[], fleet: Map<string, FleetDevice>, b: Behaviour, now: number): void {
  for (const a of actions) {
    const fd = fleet.get((a as { deviceId?: string }).deviceId ?? '');
    if (!fd) continue;
    if (a.type === 'publish-shadow') fd.shadow = [report(b)];
    else if (a.type === 'clear-shadow') delete fd.shadow;
    else if (a.type === 'publish-device') fd.models = [{ name: MODEL, version: a.target.version }];
    fd.lastSeen = now;
  }
}

function machine(over: Partial<RolloutSpecInput> = {}): RolloutMachine {
  const spec = parseRolloutSpec({
    model: MODEL,
    version: '2',
    stages: '10%,100%',
    bake: '1s',
    shadow: { percent: '20%', bake: '5s', minWindows: 100, minDevices: 2 },
    gates: ['shadow_agreement>=0.9', 'shadow_anomaly_rate<=1.5x', 'shadow_p99_ms<=5'],
    ...over,
  });
  return RolloutMachine.create({ id: 'r1', spec, target, previous, now: 0 });
}

/** Tick every second from `from` to `to`, applying actions; returns every action seen. */
function run(
  m: RolloutMachine,
  fleet: Map<string, FleetDevice>,
  b: Behaviour,
  from: number,
  to: number,
): RolloutAction[] {
  const all: RolloutAction[] = [];
  for (let t = from; t <= to; t += 1000) {
    const a = m.tick(t, fleet);
    apply(a, fleet, b, t);
    all.push(...a);
    for (const fd of fleet.values()) fd.lastSeen = t;
  }
  return all;
}

describe('shadow gates (parse)', () => {
  it('parses each metric with its comparison and refuses the wrong one', () => {
    expect(parseShadowGate('shadow_agreement>=0.9')).toMatchObject({
      metric: 'shadow_agreement',
      op: '>=',
      value: 0.9,
    });
    expect(parseShadowGate('shadow_anomaly_rate<=1.5x')).toMatchObject({ op: '<=', factor: 1.5 });
    expect(parseShadowGate('shadow_p99_ms<=5')).toMatchObject({ metric: 'shadow_p99_ms', value: 5 });
    expect(() => parseShadowGate('shadow_agreement<=0.9')).toThrow(/takes >=/);
    expect(() => parseShadowGate('shadow_agreement>=2')).toThrow(/fraction 0-1/);
    expect(() => parseShadowGate('shadow_agreement>=0.9x')).toThrow(/not relative/);
    expect(() => parseShadowGate('shadow_nope<=1')).toThrow(/unknown metric/);
  });

  it('routes shadow_* gates to the shadow stage, with defaults when none is given', () => {
    const s = parseRolloutSpec({ model: MODEL, version: '2', gates: ['anomaly_rate<=2x', 'shadow_p99_ms<=3'] });
    expect(s.gates.map((g) => g.expr)).toEqual(['anomaly_rate<=2x']);
    expect(s.shadow!.gates.map((g) => g.expr)).toEqual(['shadow_p99_ms<=3']);
    const d = parseRolloutSpec({ model: MODEL, version: '2', shadow: true });
    expect(d.shadow!.gates.map((g) => g.expr)).toEqual(['shadow_agreement>=0.9', 'shadow_anomaly_rate<=1.5x']);
    expect(() => parseRolloutSpec({ model: MODEL, version: '2', approve: 'manual' })).toThrow(/give shadow/);
    expect(() => parseRolloutSpec({ model: MODEL, version: '2', shadow: { bogus: 1 } as never })).toThrow(
      /unknown field "bogus"/,
    );
  });
});

describe('RolloutMachine shadow stage', () => {
  it('passes: shadows the cohort, bakes, clears the shadows, then canaries to 100 %', () => {
    const fleet = fleetOf(10);
    const m = machine();
    expect(m.state.status).toBe('shadowing');
    const first = m.tick(0, fleet);
    const shadowed = first.filter((a) => a.type === 'publish-shadow').map((a) => (a as { deviceId: string }).deviceId);
    expect(shadowed).toHaveLength(2);
    expect(first.some((a) => a.type === 'publish-device' || a.type === 'publish-fleet')).toBe(false);
    apply(first, fleet, GOOD, 0);
    const during = run(m, fleet, GOOD, 1000, 5000);
    expect(m.state.status).toBe('shadowing'); // bake started at 1 s, ends at 6 s
    expect(during.some((a) => a.type === 'publish-device')).toBe(false);
    const after = run(m, fleet, GOOD, 6000, 6000);
    expect(m.state.shadow!.result).toBe('passed');
    expect(m.state.shadow!.gates.map((g) => g.result)).toEqual(['pass', 'pass', 'pass']);
    expect(m.state.shadow!.figures).toMatchObject({ devices: 2, windows: 1000, agreement: 0.97 });
    expect(after.filter((a) => a.type === 'clear-shadow')).toHaveLength(2);
    expect(m.state.status).toBe('rolling');
    // the first canary devices are the shadow devices (same rollout order)
    const canary = after.filter((a) => a.type === 'publish-device').map((a) => (a as { deviceId: string }).deviceId);
    expect(shadowed).toContain(canary[0]);
    run(m, fleet, GOOD, 7000, 20_000);
    expect(m.state.status).toBe('completed');
  });

  const failing: Array<[string, Partial<Behaviour>, RegExp]> = [
    ['agreement', { agreement: 0.8 }, /shadow gate shadow_agreement>=0.9 failed: candidate 0.8 < limit 0.9/],
    ['anomaly rate', { rate: 0.1 }, /shadow gate shadow_anomaly_rate<=1.5x failed: candidate 0.1 > limit 0.075/],
    ['latency', { p99Ms: 8 }, /shadow gate shadow_p99_ms<=5 failed: candidate 8 > limit 5/],
  ];
  for (const [what, bad, reason] of failing) {
    it(`fails on ${what}: aborted with the reason, shadows cleared, nobody asked to activate`, () => {
      const fleet = fleetOf(10);
      const m = machine();
      const all = run(m, fleet, { ...GOOD, ...bad }, 0, 10_000);
      expect(m.state.status).toBe('aborted');
      expect(m.state.reason).toMatch(reason);
      expect(m.state.shadow!.result).toBe('failed');
      expect(all.filter((a) => a.type === 'clear-shadow')).toHaveLength(2);
      expect(all.some((a) => a.type === 'publish-device' || a.type === 'publish-fleet')).toBe(false);
      expect(Object.keys(m.state.devices)).toHaveLength(0);
      expect(m.done).toBe(true);
    });
  }

  it('waits while the devices have too few windows, and while too few devices count', () => {
    const fleet = fleetOf(10);
    const m = machine();
    run(m, fleet, { ...GOOD, windows: 50 }, 0, 20_000);
    expect(m.state.status).toBe('shadowing');
    expect(m.state.reason).toMatch(/waiting for data: 0\/2 devices with >= 100 paired windows/);
    // one device gets enough windows: still one short of minDevices
    const ids = Object.keys(m.state.shadow!.devices);
    fleet.get(ids[0]!)!.shadow = [report(GOOD)];
    m.tick(21_000, fleet);
    expect(m.state.reason).toMatch(/1\/2 devices/);
    fleet.get(ids[1]!)!.shadow = [report(GOOD)];
    m.tick(22_000, fleet);
    expect(m.state.status).toBe('rolling');
  });

  it('with approve: manual waits after a passed shadow until approve()', () => {
    const fleet = fleetOf(10);
    const m = machine({ approve: 'manual' });
    expect(() => m.approve(0)).toThrow(/still running/);
    const all = run(m, fleet, GOOD, 0, 30_000);
    expect(m.state.status).toBe('awaiting-approval');
    expect(m.state.reason).toMatch(/edgeloop rollout approve r1/);
    expect(all.some((a) => a.type === 'publish-device')).toBe(false);
    expect(m.approve(31_000, 'ops')).toEqual([]);
    expect(m.state.status).toBe('rolling');
    const next = m.tick(32_000, fleet);
    expect(next.filter((a) => a.type === 'publish-device')).toHaveLength(1);
  });

  it('a candidate the shadow devices refuse aborts on the failure budget', () => {
    const fleet = fleetOf(10);
    const m = machine();
    const a = m.tick(0, fleet);
    const id = (a.find((x) => x.type === 'publish-shadow') as { deviceId: string }).deviceId;
    m.onReport(
      id,
      { model: MODEL, version: '2', state: 'failed', reason: 'EL_ERR_MODEL_TEST_VECTOR: off', role: 'shadow' },
      100,
    );
    const end = m.tick(200, fleet);
    expect(m.state.status).toBe('aborted');
    expect(m.state.reason).toMatch(/shadow failures 1\/2 .*EL_ERR_MODEL_TEST_VECTOR/);
    expect(end.filter((x) => x.type === 'clear-shadow')).toHaveLength(2);
  });

  it('a shadow report never counts as a canary activation', () => {
    const fleet = fleetOf(10);
    const m = machine({ shadow: undefined, gates: [] });
    const a = m.tick(0, fleet);
    const id = (a.find((x) => x.type === 'publish-device') as { deviceId: string }).deviceId;
    m.onReport(id, { model: MODEL, version: '2', state: 'active', role: 'shadow' }, 10);
    expect(m.state.devices[id]!.state).toBe('assigned');
  });

  it('abort during the shadow clears the shadow assignments', () => {
    const fleet = fleetOf(10);
    const m = machine();
    apply(m.tick(0, fleet), fleet, GOOD, 0);
    const a = m.abort(1000, 'no');
    expect(a.filter((x) => x.type === 'clear-shadow')).toHaveLength(2);
    expect(m.state.status).toBe('aborted');
  });
});
