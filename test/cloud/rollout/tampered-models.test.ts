/**
 * Tampered models end to end through a rollout: a real registry and rollout part, real agents (SQLite outbox,
 * ONNX Runtime, the model updater) on aedes. Each tampering is refused by the canary agent with its stable code on
 * models/report, the controller rolls back, and the agents keep inferring with the model they had.
 *
 * - flipped ONNX bytes: the registry's stored artifact is corrupted after the push       → EL_ERR_MODEL_HASH
 * - edited manifest: the served manifest's threshold is changed after signing            → EL_ERR_MODEL_SIGNATURE
 * - untrusted key: signed by a key the registry trusts but the devices do not            → EL_ERR_MODEL_UNTRUSTED_KEY
 * - a manifest whose artifact.file points outside the model directory (signed by a trusted key without the
 *   toolchain's checks)                                                                  → EL_ERR_MODEL_PATH
 * Then the untrusted key's .pub is put into the devices' trusted key directory: the same version rolls out without
 * restarting anything. The manifests the controller sends come from a ModelSource in front of the registry that plays the compromised
 * store (the registry itself refuses such pushes).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../../agent/create-agent.ts';
import { registryModelSource } from '../../../cloud/rollout/model-source.ts';
import type { DesiredTarget } from '../../../cloud/rollout/rollout-state.ts';
import { describeArtifact } from '../../../models/manifest/index.ts';
import type { ModelReportMessage } from '../../../protocol/messages.ts';
import { signUnchecked } from '../../helpers/sign-unchecked.ts';
import { makeTestModel, scoreModelOnnx, testKeys } from '../../agent/model-updater/test-models.ts';
import { startRolloutStack, type RolloutStack } from './rollout-stack.ts';

const trusted = testKeys();
const rogue = testKeys();
const MODEL = 'pump-ae';
let stack: RolloutStack;
let dir: string;
let agents: Agent[] = [];
const reports: ModelReportMessage[] = [];
/** version → how the compromised store changes what the controller publishes */
const tamper = new Map<string, (t: DesiredTarget) => DesiredTarget>();

beforeAll(async () => {
  stack = await startRolloutStack({
    prefix: 'el-tampered-',
    prepare: (d) => {
      writeFileSync(join(d, 'trusted.pub'), trusted.publicKeyPem);
      writeFileSync(join(d, 'rogue.pub'), rogue.publicKeyPem);
      // the devices trust a key directory (as `edgeloop up`'s agents trust .edgeloop/keys)
      mkdirSync(join(d, 'device-keys'));
      writeFileSync(join(d, 'device-keys', 'trusted.pub'), trusted.publicKeyPem);
    },
    registryKeys: (d) => [join(d, 'trusted.pub'), join(d, 'rogue.pub')],
    agentKeys: (d) => [join(d, 'device-keys')],
    agentIds: ['agent-a', 'agent-b'],
    agentConfig: { inference: { cooldownMs: 0 } },
    models: (reg) => {
      const source = registryModelSource(reg.instance.registry, () => reg.instance.server.url);
      return {
        resolve: async (name, ref) => {
          const t = await source.resolve(name, ref);
          return (tamper.get(t.version) ?? ((x) => x))(t);
        },
      };
    },
  });
  ({ dir, agents } = stack);
  const versions = [
    ['1.0', trusted],
    ['2.0-flipped', trusted],
    ['2.0-edited', trusted],
    ['2.0-untrusted', rogue],
    ['2.0-path', trusted],
  ] as const;
  for (const [i, [v, key]] of versions.entries()) {
    // distinct ONNX bytes per version: the artifact store keeps one file per sha256, and one of them gets corrupted
    const m = makeTestModel({ version: v, key, scale: 1 + i / 10 });
    await stack.reg.instance.registry.push({ manifest: m.manifest, artifact: m.onnx });
  }
  const watcher = await mqtt.connectAsync(stack.broker.url);
  watcher.on('message', (_t, p) => reports.push(JSON.parse(String(p)) as ModelReportMessage));
  await watcher.subscribeAsync('edgeloop/v1/+/models/report', { qos: 1 });
  closeFirst.push(() => watcher.endAsync());
  const c = stack.ro.instance.controller;
  await c.ready();
  while (c.fleet.size < 2) await new Promise((r) => setTimeout(r, 20)); // both agents' first status
  const first = await c.startRollout({ model: MODEL, version: '1.0', stages: '100%', bake: '0s' });
  await c.waitFor(first.id, ['completed'], 30_000);
  expect(agents.map((a) => a.inference!.active(MODEL)?.manifest.version)).toEqual(['1.0', '1.0']);
}, 60_000);

const closeFirst: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const f of closeFirst) await f();
  await stack?.close();
});

/** Windows scored by every agent, and anomaly events, grow while readings of high vibration go in. */
async function stillInferring(): Promise<void> {
  const before = agents.map((a) => a.status().inference?.windows ?? 0);
  const ts = Date.now();
  for (const a of agents)
    await a.ingest(Array.from({ length: 16 }, (_, i) => ({ sensor: 'vibration', ts: ts + i, value: 5 })));
  await expect
    .poll(() => agents.every((a, i) => (a.status().inference?.windows ?? 0) >= before[i]! + 4), { timeout: 10_000 })
    .toBe(true);
  for (const a of agents) expect(a.inference!.active(MODEL)?.manifest.version).toBe('1.0');
}

describe.sequential('tampered models through a rollout', () => {
  const cases: Array<[string, string, () => void, RegExp]> = [
    [
      'flipped ONNX bytes',
      '2.0-flipped',
      () => {
        const sha = stack.reg.instance.registry.get(MODEL, '2.0-flipped')!.sha256;
        const file = join(dir, 'cloud', 'artifacts', sha.slice(0, 2), sha);
        expect(existsSync(file)).toBe(true);
        const bytes = readFileSync(file);
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
        writeFileSync(file, bytes);
      },
      /^EL_ERR_MODEL_HASH: /,
    ],
    [
      'an edited manifest',
      '2.0-edited',
      () => tamper.set('2.0-edited', (t) => ({ ...t, manifest: { ...(t.manifest as object), threshold: 0.01 } })),
      /^EL_ERR_MODEL_SIGNATURE: .*modified after signing/,
    ],
    [
      'a manifest signed by an untrusted key',
      '2.0-untrusted',
      () => {},
      /^EL_ERR_MODEL_UNTRUSTED_KEY: .*not among the trusted keys/,
    ],
    [
      'a manifest path outside the model directory',
      '2.0-path',
      () =>
        tamper.set('2.0-path', (t) => {
          const m = t.manifest as { artifact: object };
          return {
            ...t,
            manifest: signUnchecked(
              { ...m, artifact: { ...describeArtifact(scoreModelOnnx(1.5)), file: '../../../outside.onnx' } },
              trusted.privateKey,
            ),
          };
        }),
      /^EL_ERR_MODEL_PATH: .*"\.\.\/\.\.\/\.\.\/outside\.onnx" is not a file name inside the model directory/,
    ],
  ];
  it.each(cases)(
    '%s is refused by the canary with its code; the old model keeps running',
    async (_what, version, prepare, reason) => {
      prepare();
      const c = stack.ro.instance.controller;
      const r = await c.startRollout({ model: MODEL, version, stages: '50%,100%', bake: '0s' });
      expect(r.previous).toBe('1.0');
      const end = await c.waitFor(r.id, ['rolled-back'], 30_000);
      expect(end.failures).toHaveLength(1);
      expect(end.failures[0]!.reason).toMatch(new RegExp(`^failed: ${reason.source.slice(1)}`));
      const failed = reports.find((m) => m.rolloutId === r.id && m.state === 'failed');
      expect(failed).toMatchObject({ model: MODEL, version, deviceId: end.failures[0]!.deviceId });
      expect(failed!.reason).toMatch(reason);
      expect(end.stages[1]!.assigned).toBe(0);
      // where ../../../outside.onnx would land from the updater's staging directory (versions/<name>/<version>.tmp/)
      for (const id of ['agent-a', 'agent-b']) expect(existsSync(join(dir, id, 'models', 'outside.onnx'))).toBe(false);
      await stillInferring();
    },
  );

  it("a key added to the devices' trusted directory while they run is trusted: the same version then rolls out", async () => {
    writeFileSync(join(dir, 'device-keys', 'rogue.pub'), rogue.publicKeyPem);
    const c = stack.ro.instance.controller;
    const r = await c.startRollout({ model: MODEL, version: '2.0-untrusted', stages: '100%', bake: '0s' });
    const end = await c.waitFor(r.id, ['completed', 'rolled-back'], 30_000);
    expect(end).toMatchObject({ status: 'completed', failures: [] });
    expect(agents.map((a) => a.inference!.active(MODEL)?.manifest.version)).toEqual(['2.0-untrusted', '2.0-untrusted']);
  });
});
