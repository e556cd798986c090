/**
 * The registry and rollout parts as `edgeloop cloud` runs them (real broker, HTTP servers on port 0), driven
 * through the `edgeloop registry` and `edgeloop rollout` commands.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../cli/main.ts';
import { createRegistryPart, type RegistryPart } from '../../../cloud/registry/registry-part.ts';
import { createRolloutPart, type RolloutPart } from '../../../cloud/rollout/rollout-part.ts';
import { writeModelDir } from '../../../models/manifest/index.ts';
import { Topics } from '../../../protocol/topics.ts';
import { startTestBroker, type TestBroker } from '../../helpers/aedes-broker.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';

const key = testKeys();
let broker: TestBroker;
let dir: string;
let reg: RegistryPart;
let ro: RolloutPart;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliOn({ tty: false }, ...argv);
}

/** `tty: true`: stdout says it is a terminal (isTTY), as process.stdout does in one */
async function cliOn(o: { tty: boolean }, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(c, _e, cb) {
        f(String(c));
        cb();
      },
    });
  const env = { EDGELOOP_REGISTRY_URL: reg.instance.server.url, EDGELOOP_ROLLOUT_URL: ro.instance.server.url };
  const stdout = Object.assign(
    sink((s) => (out += s)),
    { isTTY: o.tty },
  );
  const code = await main(argv, { stdout, stderr: sink((s) => (err += s)), env, cwd: dir });
  return { code, out, err };
}

beforeAll(async () => {
  broker = await startTestBroker();
  dir = mkdtempSync(join(tmpdir(), 'el-rollout-cli-'));
  writeFileSync(join(dir, 'signing.pub.pem'), key.publicKeyPem);
  reg = createRegistryPart({ dataDir: join(dir, 'data'), port: 0, trustedKeys: [join(dir, 'signing.pub.pem')] });
  await reg.start();
  ro = createRolloutPart({
    dataDir: join(dir, 'data'),
    mqtt: { url: broker.url, clientId: 'rollout-cli-test' },
    registryUrl: reg.instance.server.url,
    http: { port: 0 },
    groups: { lab: ['lab-1', 'lab-2'] },
    tickMs: 50,
    discoveryMs: 50,
  });
  await ro.start();
  for (const v of ['1.0', '1.1']) {
    const m = makeTestModel({ version: v, key });
    writeModelDir(join(dir, `model-${v}`), { onnx: m.onnx, manifest: m.manifest });
  }
});

afterAll(async () => {
  await ro?.close();
  await reg?.close();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('edgeloop registry / rollout commands against running parts', () => {
  it('push, list, show, alias', async () => {
    expect(await cli('registry', 'push', 'model-1.0')).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^pushed pump-ae@1.0 \(sha256 [0-9a-f]{12}…\)/),
    });
    expect((await cli('registry', 'push', 'model-1.0')).out).toMatch(/already there/);
    await cli('registry', 'push', 'model-1.1');
    expect((await cli('registry', 'alias', 'pump-ae', 'canary', '1.1')).out).toBe('pump-ae canary → 1.1\n');
    const list = await cli('registry', 'list');
    expect(list.out).toMatch(/pump-ae\t2\t1.1\tcanary=1.1/);
    const show = await cli('registry', 'show', 'pump-ae@canary');
    expect(show.out).toMatch(/pump-ae@1.1 {2}\(canary\)/);
    expect(show.out).toMatch(/lineage {5}parent -, data sha256:abab/);
    expect(show.out).toMatch(/training {4}1 feature distributions: vibration/);
    const missing = await cli('registry', 'show', 'nope');
    expect(missing).toMatchObject({
      code: 1,
      err: expect.stringMatching(/model "nope" is not in the registry \[EL_ERR_REGISTRY_NOT_FOUND\]/),
    });
  });

  it('start (by alias, to a group), status, abort, rollback; bad specs fail with the reason', async () => {
    const bad = await cli('rollout', 'start', 'pump-ae@1.1', '--gate', 'anomaly_rate>=2x');
    expect(bad).toMatchObject({
      code: 1,
      err: expect.stringMatching(/gate "anomaly_rate>=2x": expected METRIC<=FACTORx.*\[EL_ERR_ROLLOUT_GATE\]/),
    });
    const noGroup = await cli('rollout', 'start', 'pump-ae@1.1', '--group', 'nope');
    expect(noGroup.err).toMatch(/group "nope" is not defined \(known: lab\)/);

    const seen = await mqtt.connectAsync(broker.url);
    // both lab devices report a retained status now (cohorts are drawn from devices heard from recently)
    for (const id of ['lab-1', 'lab-2']) {
      const status = { v: 1, type: 'status', deviceId: id, seq: 1, ts: Date.now(), online: true, models: [] };
      await seen.publishAsync(new Topics().status(id), JSON.stringify(status), { qos: 1, retain: true });
    }
    await expect.poll(() => ro.instance.controller.fleet.size, { timeout: 5000 }).toBe(2);
    let seenTopic = '';
    const got = new Promise<Buffer>((resolve) => seen.on('message', (t, p) => ((seenTopic = t), resolve(p))));
    // the stage's one device is the first of the group in hash order: lab-1 or lab-2
    await seen.subscribeAsync(
      [new Topics().deviceModel('lab-1', 'pump-ae'), new Topics().deviceModel('lab-2', 'pump-ae')],
      { qos: 1 },
    );

    const start = await cli(
      'rollout',
      'start',
      'pump-ae@canary',
      '--stages',
      '50%,100%',
      '--bake',
      '1s',
      '--group',
      'lab',
      '--gate',
      'anomaly_rate<=2x',
      '--json',
    );
    expect(start.code).toBe(0);
    const view = JSON.parse(start.out);
    expect(view).toMatchObject({
      model: 'pump-ae',
      version: '1.1',
      status: 'rolling',
      devices: { total: 2, assigned: 1 },
    });
    const desired = JSON.parse(String(await got));
    expect(desired).toMatchObject({ type: 'model-desired', name: 'pump-ae', version: '1.1', rolloutId: view.id });
    const canary = seenTopic.split('/')[2];
    expect(desired.artifactUrl).toBe(`${reg.instance.server.url}/v1/artifacts/${desired.manifest.artifact.sha256}`);
    await seen.endAsync();

    const again = await cli('rollout', 'start', 'pump-ae@1.1');
    expect(again.err).toMatch(/is rolling; abort or roll it back first \[EL_ERR_ROLLOUT_ACTIVE\]/);

    const status = await cli('rollout', 'status', 'pump-ae');
    expect(status.out).toMatch(/pump-ae@1.1 \(previous none\) — ROLLING/);
    expect(status.out).toMatch(
      /\n {2}1 +50% +1 +1 +0 \(0%\) +0 +1 +current\n {2}2 +100% +2 +0 +0 \(-\) +0 +0 +pending\n/,
    );
    expect(status.out).toMatch(/gate anomaly_rate<=2x: no-data/);
    expect(status.out).toMatch(new RegExp(`\n {2}stage 1 devices: ${canary} (pending|downloading|offline)\n`));

    const aborted = await cli('rollout', 'abort', view.id, '--reason', 'testing abort');
    expect(aborted.out).toMatch(/ABORTED: testing abort/);
    expect((await cli('rollout', 'promote', view.id)).err).toMatch(/\[EL_ERR_ROLLOUT_STATE\]/);
    const rolled = await cli('rollout', 'rollback', view.id);
    expect(rolled.out).toMatch(/ROLLED-BACK/); // no previous manifest: the override is cleared
    // --watch on a terminal draws each frame from the top of a cleared screen; ending rolled back exits 3
    const watched = await cliOn({ tty: true }, 'rollout', 'status', view.id, '--watch');
    expect(watched.code).toBe(3);
    expect(watched.out).toMatch(/^\x1b\[H\x1b\[2Jrollout \S+: pump-ae@1\.1 .*ROLLED-BACK/);
    expect((await cli('rollout', 'status', view.id, '--watch')).out).toMatch(
      /^rollout \S+: pump-ae@1\.1 .*ROLLED-BACK/,
    );
    const list = await cli('rollout', 'status');
    expect(list.out).toMatch(new RegExp(`${view.id}\\tpump-ae@1.1\\trolled-back`));
  });

  it('draws the cohort from devices heard from recently: a retained status an hour old does not count', async () => {
    const pub = await mqtt.connectAsync(broker.url);
    const status = (id: string, ts: number) =>
      JSON.stringify({ v: 1, type: 'status', deviceId: id, seq: 1, ts, online: true, models: [] });
    await pub.publishAsync(new Topics().status('lab-1'), status('lab-1', Date.now()), { qos: 1, retain: true });
    await pub.publishAsync(new Topics().status('lab-3'), status('lab-3', Date.now() - 3_600_000), {
      qos: 1,
      retain: true,
    });
    await pub.endAsync();
    await expect.poll(() => ro.instance.controller.fleet.has('lab-3'), { timeout: 5000 }).toBe(true);
    const start = await cli(
      'rollout',
      'start',
      'pump-ae@1.1',
      '--stages',
      '100%',
      '--devices',
      'lab-1,lab-3',
      '--bake',
      '1h',
      '--json',
    );
    expect(JSON.parse(start.out)).toMatchObject({ devices: { assigned: 1 } });
    const status1 = await cli('rollout', 'status', 'pump-ae');
    expect(status1.out).toMatch(/\n {2}stage 1 devices: lab-1 (pending|downloading)\n/);
    expect((await cli('rollout', 'abort', 'pump-ae')).code).toBe(0);
  });

  it('candidate: a shadow stage first (shadow assignment, status block), approve refused while it runs', async () => {
    expect((await cli('rollout', 'candidate', 'pump-ae@1.1')).err).toMatch(/--approve.*is required/);
    expect((await cli('rollout', 'candidate', 'pump-ae@1.1', '--approve', 'later')).err).toMatch(/auto or manual/);
    const badGate = await cli('rollout', 'candidate', 'pump-ae@1.1', '--approve', 'auto', '--gate', 'shadow_x<=1');
    expect(badGate.err).toMatch(/unknown metric "shadow_x"/);
    expect(badGate.err).toMatch(/\[EL_ERR_ROLLOUT_GATE\]/);
    const sub = await mqtt.connectAsync(broker.url);
    const seen: Array<{ topic: string; body: string }> = [];
    sub.on('message', (topic, payload) => seen.push({ topic, body: payload.toString() }));
    await sub.subscribeAsync('edgeloop/v1/+/models/pump-ae/shadow');
    const start = await cli(
      'rollout',
      'candidate',
      'pump-ae@1.1',
      '--approve',
      'manual',
      '--parent',
      '1.0',
      '--devices',
      'lab-1',
      '--shadow',
      '100%',
      '--gate',
      'shadow_agreement>=0.95',
      '--json',
    );
    expect(start.code).toBe(0);
    const view = JSON.parse(start.out);
    expect(view).toMatchObject({ status: 'shadowing', approve: 'manual', parent: '1.0', shadow: { assigned: 1 } });
    expect(view.shadow.gates).toMatchObject([{ expr: 'shadow_agreement>=0.95', result: 'no-data' }]);
    await expect.poll(() => seen.some((m) => m.body.length > 0), { timeout: 5000 }).toBe(true);
    const assignment = JSON.parse(seen.find((m) => m.body.length > 0)!.body);
    expect(seen[0]!.topic).toBe('edgeloop/v1/lab-1/models/pump-ae/shadow');
    expect(assignment).toMatchObject({ type: 'model-desired', role: 'shadow', version: '1.1', rolloutId: view.id });
    const status = await cli('rollout', 'status', view.id);
    expect(status.out).toMatch(/SHADOWING/);
    expect(status.out).toMatch(/\n {2}shadow 100%: RUNNING — 1 assigned, 0 running, 0 failed/);
    expect(status.out).toMatch(/shadow devices: lab-1 assigned 0w/);
    expect((await cli('rollout', 'approve', view.id)).err).toMatch(/still running.*\[EL_ERR_ROLLOUT_STATE\]/);
    expect((await cli('rollout', 'status', view.id, '--until', 'baking')).err).toMatch(/--until.*needs --watch/);
    expect((await cli('rollout', 'status', view.id, '--watch', '--until', 'soon')).err).toMatch(/unknown status/);
    // abort ends the shadow: the retained assignment is cleared
    expect((await cli('rollout', 'abort', view.id)).code).toBe(0);
    await expect.poll(() => seen.at(-1)?.body, { timeout: 5000 }).toBe('');
    await sub.endAsync();
  });
});
