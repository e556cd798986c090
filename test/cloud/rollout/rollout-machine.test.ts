import { describe, expect, it } from 'vitest';
import { deviceHash, stageTarget } from '../../../cloud/rollout/rollout-cohort.ts';
import { RolloutMachine } from '../../../cloud/rollout/rollout-machine.ts';
import type { FleetDevice, RolloutAction } from '../../../cloud/rollout/rollout-state.ts';
import {
  parseGate,
  parseRolloutSpec,
  parseDuration,
  parseRate,
  parseStages,
  type RolloutSpecInput,
} from '../../../cloud/rollout/rollout-spec.ts';

const MODEL = 'pump-ae';
const target = { version: '2', artifactUrl: 'http://r/v1/artifacts/b', manifest: { v: 2 } };
const previous = { version: '1', artifactUrl: 'http://r/v1/artifacts/a', manifest: { v: 1 } };

function fleetOf(n: number, version = '1', anomalyRate = 0.05, p95Ms = 1): Map<string, FleetDevice> {
  const m = new Map<string, FleetDevice>();
  for (let i = 0; i < n; i++) {
    m.set(`dev-${String(i).padStart(2, '0')}`, {
      online: true,
      models: [{ name: MODEL, version }],
      inference: { windows: 100, anomalies: 5, anomalyRate, p50Ms: p95Ms / 2, p95Ms, p99Ms: p95Ms * 2 },
      lastSeen: 0,
    });
  }
  return m;
}

function machine(over: Partial<RolloutSpecInput> = {}, prev: typeof previous | null = previous): RolloutMachine {
  const spec = parseRolloutSpec({
    model: MODEL,
    version: '2',
    stages: '10%,50%,100%',
    bake: '1s',
    maxFailures: '5%',
    deviceTimeoutMs: 5000,
    retries: 1,
    ...over,
  });
  return RolloutMachine.create({ id: 'r1', spec, target, previous: prev, now: 0 });
}

/** Devices score `n` more windows at their current anomaly rate (status counters are cumulative, like the agent's). */
function grow(fleet: Map<string, FleetDevice>, n: number): void {
  for (const fd of fleet.values()) {
    const inf = fd.inference!;
    fd.inference = { ...inf, windows: inf.windows + n, anomalies: inf.anomalies + Math.round(n * inf.anomalyRate) };
  }
}

/** Simulate devices that switch to whatever is published to them. */
function apply(
  actions: RolloutAction[],
  fleet: Map<string, FleetDevice>,
  m: RolloutMachine,
  now: number,
  behave: (id: string, version: string) => 'ok' | 'fail' | 'silent' = () => 'ok',
  rate?: (id: string) => number,
): void {
  for (const a of actions) {
    if (a.type !== 'publish-device') continue;
    const fd = fleet.get(a.deviceId)!;
    const b = behave(a.deviceId, a.target.version);
    if (b === 'silent') continue;
    if (b === 'fail') {
      m.onReport(
        a.deviceId,
        { model: MODEL, version: a.target.version, state: 'failed', reason: 'EL_ERR_MODEL_TEST_VECTOR' },
        now,
      );
      continue;
    }
    fd.models = [{ name: MODEL, version: a.target.version }];
    if (rate) fd.inference = { ...fd.inference!, anomalyRate: rate(a.deviceId) };
    m.onReport(a.deviceId, { model: MODEL, version: a.target.version, state: 'active' }, now);
  }
}

describe('rollout spec parsing', () => {
  it.each([
    ['anomaly_rate<=2x', { metric: 'anomaly_rate', factor: 2 }],
    ['p95_inference_ms <= 1.5x', { metric: 'p95_inference_ms', factor: 1.5 }],
    ['p99_inference_ms<=25', { metric: 'p99_inference_ms', value: 25 }],
  ])('gate %s', (expr, want) => {
    expect(parseGate(expr)).toMatchObject(want);
  });
  it.each(['anomaly_rate>=2x', 'latency<=2x', 'anomaly_rate<=0x', 'anomaly_rate<='])('bad gate %s', (expr) => {
    expect(() => parseGate(expr)).toThrow(expect.objectContaining({ code: 'EL_ERR_ROLLOUT_GATE' }));
  });
  it.each([
    ['10m', 600_000],
    ['250ms', 250],
    ['1.5s', 1500],
    ['2h', 7_200_000],
  ])('duration %s', (v, ms) => expect(parseDuration(v, 'bake')).toBe(ms));
  it.each([
    ['60/min', 60],
    ['2/s', 120],
    ['30/h', 0.5],
    ['10', 10],
  ])('rate %s', (v, perMin) => expect(parseRate(v)).toBe(perMin));
  it('stages must increase and be within 0-100', () => {
    expect(parseStages('1%,10%,50%,100%')).toEqual([1, 10, 50, 100]);
    expect(() => parseStages('10%,5%')).toThrow(/must increase/);
    expect(() => parseStages('0%,100%')).toThrow(/> 0%/);
    expect(() => parseStages('50%,150%')).toThrow(/0-100/);
  });
  it('rejects unknown fields and bad device lists', () => {
    expect(() => parseRolloutSpec({ model: MODEL, version: '1', bakee: '1m' } as never)).toThrow(
      /unknown field "bakee"/,
    );
    expect(() => parseRolloutSpec({ model: MODEL, version: '1', devices: ['ok', 'bad/id'] })).toThrow(
      /not a device id/,
    );
  });
});

describe('cohorts', () => {
  it('stage targets round up and take at least one device', () => {
    expect([
      stageTarget(1, 20),
      stageTarget(10, 20),
      stageTarget(50, 20),
      stageTarget(100, 20),
      stageTarget(1, 0),
      stageTarget(33, 3),
    ]).toEqual([1, 2, 10, 20, 0, 1]);
  });
  it('orders devices by a deterministic hash, so the same devices are canaries every time', () => {
    const fleet = fleetOf(20);
    const a = machine()
      .tick(0, fleet)
      .map((x) => (x as { deviceId: string }).deviceId);
    const b = machine()
      .tick(0, new Map([...fleet].reverse()))
      .map((x) => (x as { deviceId: string }).deviceId);
    expect(a).toEqual(b);
    expect(a).toHaveLength(2);
    const sorted = [...fleet.keys()].sort((x, y) => deviceHash(MODEL, x) - deviceHash(MODEL, y));
    expect(a).toEqual(sorted.slice(0, 2));
  });
  it('uses an explicit device list as the population', () => {
    const m = machine({ devices: ['dev-03', 'dev-07'], stages: '50%,100%' });
    const acts = m.tick(0, fleetOf(20));
    expect(acts).toHaveLength(1);
    expect(['dev-03', 'dev-07']).toContain((acts[0] as { deviceId: string }).deviceId);
  });
});

describe('RolloutMachine', () => {
  it('goes through every stage, bakes, and completes: fleet manifest published, overrides cleared', () => {
    const fleet = fleetOf(20);
    const m = machine();
    let now = 0;
    const seen: string[] = [];
    for (let i = 0; i < 20 && !m.done; i++) {
      const acts = m.tick(now, fleet);
      apply(acts, fleet, m, now);
      seen.push(`${m.state.status}:${m.state.stage}:${Object.keys(m.state.devices).length}`);
      if (m.state.status === 'rolling' && acts.length === 0) continue;
      now += 500;
      if (acts.some((a) => a.type === 'publish-fleet')) {
        expect(acts.filter((a) => a.type === 'clear-device')).toHaveLength(20);
        expect(acts[0]).toEqual({ type: 'publish-fleet', target });
      }
    }
    expect(m.state.status).toBe('completed');
    expect(seen[0]).toBe('rolling:0:2');
    expect(m.progress(fleet, now).map((p) => [p.target, p.assigned, p.active, p.state])).toEqual([
      [2, 2, 2, 'done'],
      [10, 8, 8, 'done'],
      [20, 10, 10, 'done'],
    ]);
  });

  it('waits the bake time before the next stage', () => {
    const fleet = fleetOf(10);
    const m = machine({ bake: '10m', fresh: '1h' });
    apply(m.tick(0, fleet), fleet, m, 0);
    m.tick(1, fleet);
    expect(m.state.status).toBe('baking');
    m.tick(1 + 599_999, fleet);
    expect(m.state.status).toBe('baking');
    expect(m.nextWakeAt()).toBe(600_001);
    m.tick(600_001, fleet);
    expect(m.state).toMatchObject({ status: 'rolling', stage: 1 });
  });

  it('rolls back when failures exceed the budget: previous manifest re-published, then overrides cleared', () => {
    const fleet = fleetOf(20);
    const m = machine({ stages: '10%,100%' });
    const acts = m.tick(0, fleet);
    apply(acts, fleet, m, 0, (id) => (id === (acts[0] as { deviceId: string }).deviceId ? 'fail' : 'ok'));
    const back = m.tick(1, fleet);
    expect(m.state.status).toBe('rolling-back');
    expect(m.state.reason).toMatch(/failures 1\/2 \(50.0%\) exceed max 5%/);
    // both devices get the previous manifest; the one that refused the model still runs it, so its override is
    // cleared at once
    expect(back.map((a) => a.type)).toEqual(['publish-device', 'publish-device', 'clear-device']);
    expect(
      back
        .filter((a) => a.type === 'publish-device')
        .every((a) => a.type === 'publish-device' && a.target === previous),
    ).toBe(true);
    expect(m.state.status).toBe('rolling-back');
    apply(back, fleet, m, 2);
    const clear = m.tick(3, fleet);
    expect(clear.map((a) => a.type)).toEqual(['clear-device']);
    expect(m.state.status).toBe('rolled-back');
    expect(m.tick(4, fleet)).toEqual([]);
  });

  it('tolerates failures within the budget', () => {
    const fleet = fleetOf(20);
    const m = machine({ stages: '100%', maxFailures: '10%' });
    const acts = m.tick(0, fleet);
    const bad = (acts[0] as { deviceId: string }).deviceId;
    apply(acts, fleet, m, 0, (id) => (id === bad ? 'fail' : 'ok'));
    m.tick(1, fleet);
    expect(m.state.status).toBe('baking');
    m.tick(2000, fleet);
    expect(m.state.status).toBe('completed');
  });

  it.each([
    ['anomaly_rate<=2x', 0.16, 'rolling-back'],
    ['anomaly_rate<=2x', 0.09, 'rolling'],
    ['anomaly_rate<=0.1', 0.16, 'rolling-back'],
    ['p95_inference_ms<=1.5x', 0.05, 'rolling'],
  ] as const)('gate %s with a cohort anomaly rate of %d → %s', (gate, rate, status) => {
    const fleet = fleetOf(20);
    const m = machine({ gates: [gate] });
    apply(
      m.tick(0, fleet),
      fleet,
      m,
      0,
      () => 'ok',
      () => rate,
    );
    m.tick(500, fleet); // the cohort's first status on the new version: its counters are the base
    grow(fleet, 200);
    m.tick(1500, fleet);
    expect(m.state.status).toBe(status);
    if (status === 'rolling-back')
      expect(m.state.reason).toMatch(new RegExp(`gate ${gate.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} breached`));
  });

  it('computes the cohort anomaly rate over the windows since the switch (cumulative agent counters)', () => {
    const fleet = fleetOf(20); // 100 windows, 5 anomalies each, on the old model
    const m = machine({ gates: ['anomaly_rate<=2x'], minWindows: 50 });
    apply(
      m.tick(0, fleet),
      fleet,
      m,
      0,
      () => 'ok',
      () => 0.2,
    );
    m.tick(1, fleet);
    grow(fleet, 40); // under minWindows since the switch: no data yet
    m.tick(2, fleet);
    expect(m.state.gates[0]).toMatchObject({ result: 'no-data' });
    grow(fleet, 60); // 100 windows since the switch, at 0.2 (cumulative counters would say 25/200 = 0.125)
    m.tick(3, fleet);
    expect(m.state.gates[0]).toMatchObject({ result: 'breach', cohort: 0.2 });
  });

  it('holds at the end of the bake while a gate has no cohort data, and promote skips it', () => {
    const fleet = fleetOf(10);
    const m = machine({ gates: ['anomaly_rate<=2x'], minWindows: 1000 });
    apply(m.tick(0, fleet), fleet, m, 0);
    m.tick(1, fleet);
    m.tick(5000, fleet);
    expect(m.state).toMatchObject({ status: 'baking', stage: 0, reason: 'waiting for gate data: anomaly_rate<=2x' });
    m.promote(5001);
    expect(m.state).toMatchObject({ status: 'rolling', stage: 1 });
  });

  it('uses the last rest-of-fleet baseline at 100% when no device is left outside', () => {
    const fleet = fleetOf(4);
    const m = machine({ stages: '50%,100%', gates: ['anomaly_rate<=2x'], bake: '1s' });
    apply(
      m.tick(0, fleet),
      fleet,
      m,
      0,
      () => 'ok',
      () => 0.05,
    );
    m.tick(1, fleet);
    grow(fleet, 100);
    m.tick(1001, fleet); // stage 1 passes; the rest of the fleet (2 devices) was measured at 0.05
    expect(m.state).toMatchObject({ status: 'rolling', stage: 1 });
    expect(m.state.baseline.anomaly_rate).toBeCloseTo(0.05);
    apply(
      m.tick(1002, fleet),
      fleet,
      m,
      1002,
      () => 'ok',
      () => 0.3,
    );
    m.tick(1003, fleet);
    grow(fleet, 100);
    m.tick(2003, fleet);
    expect(m.state.status).toBe('rolling-back');
    expect(m.state.gates[0]).toMatchObject({ result: 'breach', restDevices: 0, baseline: 0.05 });
  });

  it('re-publishes to silent devices after the timeout, then counts them as failed', () => {
    const fleet = fleetOf(10);
    const m = machine({ stages: '10%,100%', maxFailures: '50%', retries: 1 });
    const first = m.tick(0, fleet);
    expect(first).toHaveLength(1);
    expect(m.tick(4999, fleet)).toEqual([]);
    expect(m.tick(5000, fleet)).toEqual(first);
    expect(m.state.devices[(first[0] as { deviceId: string }).deviceId]!.attempts).toBe(2);
    m.tick(10_000, fleet);
    expect(m.state.reason).toMatch(/failures 1\/1/);
    expect(m.state.log.map((l) => l.msg).join('\n')).toMatch(/timeout: no active report after 2 attempts/);
    expect(m.state.status).toBe('rolled-back'); // the silent device still runs the previous version
  });

  it('does not time out an offline device, and a stage whose only device is offline does not bake', () => {
    const fleet = fleetOf(10);
    const m = machine({ stages: '10%,100%', bake: '0s' });
    const [a] = m.tick(0, fleet) as Array<{ deviceId: string }>;
    fleet.get(a!.deviceId)!.online = false;
    m.tick(60_000, fleet);
    expect(m.state.devices[a!.deviceId]!.state).toBe('assigned');
    expect(m.state).toMatchObject({ status: 'rolling', stage: 0, reason: 'waiting for a reporting device in stage 1' });
    expect(m.progress(fleet, 60_000)[0]!.devices).toEqual([{ deviceId: a!.deviceId, state: 'offline' }]);
    fleet.get(a!.deviceId)!.online = true;
    fleet.get(a!.deviceId)!.lastSeen = 60_001;
    fleet.get(a!.deviceId)!.models = [{ name: MODEL, version: '2' }];
    m.tick(60_001, fleet);
    expect(m.state.devices[a!.deviceId]!.state).toBe('active');
    expect(m.state).toMatchObject({ status: 'rolling', stage: 1 }); // baked (0 s) and passed
  });

  it('draws the cohort from devices heard from within the freshness window, not from stale retained status', () => {
    const fleet = fleetOf(10);
    const now = 10 * 60_000;
    const ids = [...fleet.keys()];
    // half of the fleet last spoke 10 minutes ago (their retained status still says online)
    ids.forEach((id, i) => (fleet.get(id)!.lastSeen = i % 2 ? 0 : now - 1000));
    const m = machine({ stages: '100%', bake: '0s', fresh: '2m' });
    const acts = m.tick(now, fleet);
    const assigned = acts.flatMap((x) => (x.type === 'publish-device' ? [x.deviceId] : []));
    expect(assigned.sort()).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    // a stale device that reports again joins the population
    fleet.get(ids[1]!)!.lastSeen = now + 500;
    const later = m.tick(now + 500, fleet);
    expect(later).toEqual([{ type: 'publish-device', deviceId: ids[1], target }]);
  });

  it('a stage whose devices stopped reporting does not pass its bake', () => {
    const fleet = fleetOf(10);
    const m = machine({ stages: '10%,100%', bake: '1m', fresh: '2m' });
    const [a] = m.tick(0, fleet) as Array<{ deviceId: string }>;
    apply([{ type: 'publish-device', deviceId: a!.deviceId, target }], fleet, m, 0);
    m.tick(1, fleet);
    expect(m.state.status).toBe('baking');
    // the canary goes silent: no status for longer than the freshness window, its retained status says online
    for (const [id, fd] of fleet) if (id !== a!.deviceId) fd.lastSeen = 10 * 60_000;
    m.tick(10 * 60_000, fleet);
    expect(m.state).toMatchObject({ status: 'baking', stage: 0, reason: 'waiting for a reporting device in stage 1' });
    fleet.get(a!.deviceId)!.lastSeen = 10 * 60_000 + 1;
    m.tick(10 * 60_000 + 1, fleet);
    expect(m.state).toMatchObject({ status: 'rolling', stage: 1 });
  });

  it('a rollout over a fleet with no fresh device assigns nothing and does not pass', () => {
    const fleet = fleetOf(5);
    const m = machine({ stages: '100%', bake: '0s', fresh: '1m' });
    expect(m.tick(10 * 60_000, fleet)).toEqual([]);
    expect(m.tick(20 * 60_000, fleet)).toEqual([]);
    expect(m.state).toMatchObject({
      status: 'rolling',
      reason: 'waiting for devices: none has reported within the freshness window',
    });
  });

  it("status lists each stage's devices with their state", () => {
    const fleet = fleetOf(6);
    const m = machine({ stages: '100%', bake: '1h', fresh: '1h', maxFailures: '100%' });
    const ids = (m.tick(0, fleet) as Array<{ deviceId: string }>).map((x) => x.deviceId);
    const [active, failed, downloading, pending, offline] = ids;
    apply([{ type: 'publish-device', deviceId: active!, target }], fleet, m, 1);
    m.onReport(
      failed!,
      { model: MODEL, version: '2', state: 'failed', reason: 'EL_ERR_MODEL_HASH: sha256 mismatch' },
      1,
    );
    m.onReport(downloading!, { model: MODEL, version: '2', state: 'downloading' }, 1);
    m.onReport(pending!, { model: MODEL, version: '2', state: 'received' }, 1);
    fleet.get(offline!)!.online = false;
    m.tick(2, fleet);
    const states = Object.fromEntries(m.progress(fleet, 2)[0]!.devices.map((d) => [d.deviceId, d]));
    expect(states[active!]).toEqual({ deviceId: active, state: 'active' });
    expect(states[failed!]).toEqual({
      deviceId: failed,
      state: 'failed',
      reason: 'failed: EL_ERR_MODEL_HASH: sha256 mismatch',
    });
    expect(states[downloading!]!.state).toBe('downloading');
    expect(states[pending!]!.state).toBe('pending');
    expect(states[offline!]!.state).toBe('offline');
    expect(m.progress(fleet, 2)[0]!.devices.map((d) => d.deviceId)).toEqual(ids);
    apply(m.rollback(3), fleet, m, 3);
    m.tick(4, fleet);
    expect(m.progress(fleet, 4)[0]!.devices.find((d) => d.deviceId === active)!.state).toBe('reverted');
  });

  it('limits assignments to the rate', () => {
    const fleet = fleetOf(20);
    const m = machine({ stages: '100%', rate: '6/min' });
    const counts: number[] = [];
    for (let t = 0; t <= 60_000; t += 10_000) {
      const acts = m.tick(t, fleet);
      counts.push(acts.length);
      apply(acts, fleet, m, t);
    }
    expect(counts).toEqual([6, 1, 1, 1, 1, 1, 1]);
  });

  it('abort freezes; rollback after completion re-publishes the previous fleet manifest; bad transitions throw', () => {
    const fleet = fleetOf(4);
    const a = machine();
    a.tick(0, fleet);
    a.abort(1);
    expect(a.state.status).toBe('aborted');
    expect(a.tick(2, fleet)).toEqual([]);
    expect(() => a.promote(3)).toThrow(expect.objectContaining({ code: 'EL_ERR_ROLLOUT_STATE' }));
    expect(a.rollback(4).map((x) => x.type)).toEqual(['publish-device']);

    const c = machine({ stages: '100%', bake: '0ms' });
    apply(c.tick(0, fleet), fleet, c, 0);
    c.tick(1, fleet);
    expect(c.state.status).toBe('completed');
    expect(c.rollback(2)).toEqual([{ type: 'publish-fleet', target: previous }]);
    expect(c.state.status).toBe('rolled-back');
    expect(() => c.rollback(3)).toThrow(/already rolled-back/);
  });

  it('without a previous manifest, rollback clears the overrides', () => {
    const fleet = fleetOf(4);
    const m = machine({}, null);
    m.tick(0, fleet);
    expect(m.rollback(1)).toEqual([{ type: 'clear-device', deviceId: expect.any(String) }]);
    m.tick(2, fleet);
    expect(m.state.status).toBe('rolled-back');
  });

  it('state survives a JSON round trip mid-rollout', () => {
    const fleet = fleetOf(20);
    const m = machine();
    apply(m.tick(0, fleet), fleet, m, 0);
    m.tick(1, fleet);
    const restored = new RolloutMachine(JSON.parse(JSON.stringify(m.state)));
    restored.tick(2000, fleet);
    expect(restored.state).toMatchObject({ status: 'rolling', stage: 1 });
  });
});
