/**
 * The shadow stage with real agents (SQLite outbox, ONNX Runtime, model updater, status reporter), a registry
 * server and the rollout part over a real broker. The fleet runs pump-ae 1.0; each agent is fed seeded N(0, 1)
 * readings. A candidate that scores like 1.0 passes its shadow and goes canary → 100 %; one that flags 3x more
 * windows (scale 1.5) fails shadow_anomaly_rate, the rollout is aborted with the reason, and no agent ever
 * activates it. With approve: manual the rollout waits after the shadow until approve().
 */
import { writeFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../../agent/create-agent.ts';
import type { RolloutOutcome } from '../../../cloud/rollout/rollout-view.ts';
import { Topics } from '../../../protocol/topics.ts';
import { makeTestModel, testKeys, WINDOW } from '../../agent/model-updater/test-models.ts';
import { startRolloutStack, type RolloutStack } from './rollout-stack.ts';

const key = testKeys();
const MODEL = 'pump-ae';
let stack: RolloutStack;
let agents: Agent[] = [];
let pumping = true;
let pump: Promise<void> | undefined;
/** every version each agent activated (not shadowed) during the test */
const activated = new Map<string, Set<string>>();
const ended: RolloutOutcome[] = [];
const onEnded = (o: unknown): void => void ended.push(o as RolloutOutcome);

function gaussianFeed(seed: number): () => Array<{ sensor: string; ts: number; value: number }> {
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let ts = Date.now();
  return () => {
    const out = [];
    for (let i = 0; i < 20 * WINDOW; i++) {
      const g = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      out.push({ sensor: 'vibration', ts: (ts += 10), value: g });
    }
    return out;
  };
}

const versionOf = (a: Agent): string | undefined => a.inference?.active(MODEL)?.manifest.version;

function untilAll(version: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: Array<() => void> = [];
    const ok = (): boolean => agents.every((a) => versionOf(a) === version);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      for (const o of offs) o();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for every agent on ${version}`)), ms);
    for (const a of agents) offs.push(a.inference!.onModelChange(() => ok() && done()));
    if (ok()) done();
  });
}

beforeAll(async () => {
  stack = await startRolloutStack({
    prefix: 'el-shadow-rollout-',
    prepare: (dir) => writeFileSync(join(dir, 'models.pub'), key.publicKeyPem),
    registryKeys: (dir) => [join(dir, 'models.pub')],
    agentKeys: (dir) => [join(dir, 'models.pub')],
    agentIds: ['agent-a', 'agent-b', 'agent-c'],
    agentConfig: { inference: { cooldownMs: 0 } },
  });
  agents = stack.agents;
  const reg = stack.reg.instance;
  for (const [v, scale] of [
    ['1.0', 1],
    ['1.1', 1],
    ['1.2', 1.5],
    ['1.3', 1],
  ] as const) {
    const m = makeTestModel({ version: v, key, scale });
    await reg.registry.push({ manifest: m.manifest, artifact: m.onnx });
  }
  const rec = reg.registry.get(MODEL, '1.0')!;
  const pub = await mqtt.connectAsync(stack.broker.url);
  await pub.publishAsync(
    new Topics().fleetModel(MODEL),
    JSON.stringify({
      v: 1,
      type: 'model-desired',
      name: MODEL,
      version: '1.0',
      artifactUrl: reg.server.artifactUrl(rec.sha256),
      manifest: rec.manifest,
      seq: 1,
      ts: Date.now(),
    }),
    { qos: 1, retain: true },
  );
  await pub.endAsync();
  await untilAll('1.0');
  for (const a of agents) {
    const seen = new Set<string>();
    activated.set(a.deviceId, seen);
    a.inference!.onModelChange(() => {
      const v = versionOf(a);
      if (v) seen.add(v);
    });
  }
  subscribe('edgeloop:rollout:ended', onEnded);
  const feeds = agents.map((_, i) => gaussianFeed(i + 11));
  pump = (async () => {
    while (pumping) {
      await Promise.all(agents.map((a, i) => a.ingest(feeds[i]!()).catch(() => undefined)));
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
}, 60_000);

afterAll(async () => {
  unsubscribe('edgeloop:rollout:ended', onEnded);
  pumping = false;
  await pump;
  await stack?.close();
});

const shadow = { percent: '34%', bake: '300ms', minWindows: 40, minDevices: 1 };

describe.sequential('shadow stage with real agents', () => {
  it('a candidate that agrees passes its shadow, then canary → 100 %', async () => {
    const c = stack.ro.instance.controller;
    await expect(c.startFromCandidate({ model: MODEL, version: '1.1' } as never)).rejects.toMatchObject({
      code: 'EL_ERR_ROLLOUT_SPEC',
      message: expect.stringMatching(/approve/),
    });
    const r = await c.startFromCandidate({
      model: MODEL,
      version: '1.1',
      approve: 'auto',
      parent: '1.0',
      spec: { stages: '34%,100%', bake: '200ms', shadow },
    });
    expect(r.status).toBe('shadowing');
    const done = await c.waitFor(r.id, ['completed'], 40_000);
    const sh = done.shadow!;
    expect(sh.result).toBe('passed');
    expect(sh.assigned).toBe(2);
    // the same model under another version: the same decision on every paired window
    expect(sh.figures!.agreement).toBe(1);
    expect(sh.figures!.windows).toBeGreaterThanOrEqual(40);
    expect(sh.figures!.anomalyRate).toBeCloseTo(sh.figures!.activeAnomalyRate, 10);
    expect(sh.figures!.p99Ms).toBeGreaterThan(0);
    expect(sh.gates.map((g) => g.result)).toEqual(['pass', 'pass']);
    await untilAll('1.1');
    // the shadow assignments are cleared: no agent runs a shadow any more
    for (const a of agents) expect(a.inference!.shadow(MODEL)).toBeUndefined();
  });

  it('a candidate that flags far more windows fails shadow_anomaly_rate: aborted, nobody activated it', async () => {
    const c = stack.ro.instance.controller;
    const r = await c.startFromCandidate({
      model: MODEL,
      version: '1.2',
      approve: 'auto',
      parent: '1.1',
      spec: {
        stages: '34%,100%',
        bake: '200ms',
        shadow: { ...shadow, minWindows: 200, gates: ['shadow_anomaly_rate<=1.5x'] },
      },
    });
    const end = await c.waitFor(r.id, ['aborted'], 40_000);
    expect(end.reason).toMatch(/shadow gate shadow_anomaly_rate<=1.5x failed/);
    expect(end.shadow!.result).toBe('failed');
    expect(end.devices.assigned).toBe(0);
    for (const seen of activated.values()) expect(seen.has('1.2')).toBe(false);
    expect(agents.every((a) => versionOf(a) === '1.1')).toBe(true);
    // the shadows stop with the rollout
    await new Promise<void>((resolve) => {
      const check = (): boolean => agents.every((a) => !a.inference!.shadow(MODEL));
      if (check()) return resolve();
      const t = setInterval(() => check() && (clearInterval(t), resolve()), 20);
    });
    // the outcome the retraining history records
    const outcome = ended.find((e) => e.id === r.id)!;
    expect(outcome).toMatchObject({ model: MODEL, version: '1.2', parent: '1.1', status: 'aborted', stage: 0 });
    expect(outcome.reason).toMatch(/shadow_anomaly_rate/);
    expect(outcome.shadow!.figures!.anomalyRate).toBeGreaterThan(1.5 * outcome.shadow!.figures!.activeAnomalyRate);
  });

  it('approve: manual waits after the shadow until approve()', async () => {
    const c = stack.ro.instance.controller;
    const r = await c.startFromCandidate({
      model: MODEL,
      version: '1.3',
      approve: 'manual',
      spec: { stages: '100%', bake: '100ms', shadow },
    });
    const waiting = await c.waitFor(r.id, ['awaiting-approval'], 40_000);
    expect(waiting.reason).toMatch(/rollout approve/);
    expect(agents.every((a) => versionOf(a) === '1.1')).toBe(true);
    await c.approve(r.id, 'test');
    await c.waitFor(r.id, ['completed'], 40_000);
    await untilAll('1.3');
  });
});
