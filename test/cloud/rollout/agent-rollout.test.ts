/**
 * The same path with real agents (agent/create-agent.ts: SQLite outbox, InferenceEngine, status reporter, and the
 * ModelUpdater it wires from models.*), a real registry server and the rollout part, over a real broker:
 * the fleet manifest installs 1.0 on every agent, a staged rollout moves them to 1.1, and a model that fails its
 * test vector is refused by the canary and rolled back.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../../agent/create-agent.ts';
import type { RegistryPart } from '../../../cloud/registry/registry-part.ts';
import type { RolloutPart } from '../../../cloud/rollout/rollout-part.ts';
import { Topics } from '../../../protocol/topics.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';
import { startRolloutStack, type RolloutStack } from './rollout-stack.ts';

const key = testKeys();
const MODEL = 'pump-ae';
let stack: RolloutStack;
let reg: RegistryPart;
let ro: RolloutPart;
let agents: Agent[] = [];

function running(version: string): boolean {
  return agents.every((a) => a.inference?.active(MODEL)?.manifest.version === version);
}

/** Resolve when `cond` holds; re-checked on every agent's model change (InferenceEngine.onModelChange). */
function untilModels(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: Array<() => void> = [];
    const done = (err?: Error): void => {
      clearTimeout(timer);
      offs.forEach((o) => o());
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), ms);
    for (const a of agents) offs.push(a.inference!.onModelChange(() => cond() && done()));
    if (cond()) done();
  });
}

beforeAll(async () => {
  stack = await startRolloutStack({
    prefix: 'el-agent-rollout-',
    prepare: (dir) => writeFileSync(join(dir, 'models.pub'), key.publicKeyPem),
    registryKeys: (dir) => [join(dir, 'models.pub')],
    agentKeys: (dir) => [join(dir, 'models.pub')],
    agentIds: ['agent-a', 'agent-b', 'agent-c'],
  });
  ({ reg, ro, agents } = stack);
  for (const [v, o] of [
    ['1.0', {}],
    ['1.1', {}],
    ['1.2', { badTestVector: true }],
  ] as const) {
    const m = makeTestModel({ version: v, key, ...o });
    await reg.instance.registry.push({ manifest: m.manifest, artifact: m.onnx });
  }
  const rec = reg.instance.registry.get(MODEL, '1.0')!;
  const pub = await mqtt.connectAsync(stack.broker.url);
  await pub.publishAsync(
    new Topics().fleetModel(MODEL),
    JSON.stringify({
      v: 1,
      type: 'model-desired',
      name: MODEL,
      version: '1.0',
      artifactUrl: reg.instance.server.artifactUrl(rec.sha256),
      manifest: rec.manifest,
      seq: 1,
      ts: Date.now(),
    }),
    { qos: 1, retain: true },
  );
  await pub.endAsync();
  await untilModels(() => running('1.0'), 'every agent on 1.0');
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe.sequential('rollout to real agents', () => {
  it('stages 34 %, 100 %: every agent runs 1.1 and the registry alias moves', async () => {
    const c = ro.instance.controller;
    const r = await c.startRollout({ model: MODEL, version: '1.1', stages: '34%,100%', bake: '200ms' });
    expect(r.previous).toBe('1.0');
    const done = await c.waitFor(r.id, ['completed'], 30_000);
    expect(done.stages.map((s) => [s.assigned, s.active])).toEqual([
      [2, 2],
      [1, 1],
    ]);
    await untilModels(() => running('1.1'), 'every agent on 1.1');
    // the alias moves right after the completion is stored (onCompleted hook)
    if (reg.instance.registry.getAlias(MODEL, 'production')?.version !== '1.1') {
      await new Promise<void>((resolve) => reg.instance.registry.on('alias', (e) => e.version === '1.1' && resolve()));
    }
  });

  it('a model failing its test vector is refused by the canary agents and rolled back', async () => {
    const c = ro.instance.controller;
    const r = await c.startRollout({ model: MODEL, version: '1.2', stages: '34%,100%', bake: '200ms' });
    expect(r.previous).toBe('1.1');
    const end = await c.waitFor(r.id, ['rolled-back'], 30_000);
    expect(end.failures[0]!.reason).toMatch(/EL_ERR_MODEL_TEST_VECTOR/);
    expect(end.stages[1]!.assigned).toBe(0);
    expect(running('1.1')).toBe(true);
  });
});
