import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../../helpers/aedes-broker.ts';
import { encodeMessage, type ModelDesiredMessage, type ModelReportMessage } from '../../../protocol/messages.ts';
import { Topics } from '../../../protocol/topics.ts';
import { ModelUpdater } from '../../../agent/model-updater/model-updater.ts';
import { makeTestModel, testKeys, type TestModel } from './test-models.ts';
import { MODEL, TestDevice } from './test-device.ts';

const key = testKeys();
const otherKey = testKeys();
const topics = new Topics();

/** Artifact server honouring Range; `cutFirst` ends the first full response after half the bytes. */
async function artifactServer(
  models: TestModel[],
  opts: { cutFirst?: () => boolean } = {},
): Promise<{ url: (m: TestModel) => string; requests: string[]; close: () => Promise<void> }> {
  const bySha = new Map(models.map((m) => [m.manifest.artifact.sha256, Buffer.from(m.onnx)]));
  const requests: string[] = [];
  let cut = opts.cutFirst;
  const server: Server = createServer((req, res) => {
    const sha = req.url!.split('/').pop()!;
    const body = bySha.get(sha);
    requests.push(req.headers.range ?? 'full');
    if (!body) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      res.writeHead(206, {
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'content-length': body.length - start,
      });
      return void res.end(body.subarray(start));
    }
    res.writeHead(200, { 'content-length': body.length });
    if (cut) {
      // send half, and break the connection once the device has written that half to its staging file
      const ready = cut;
      cut = undefined;
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      const poll = setInterval(() => {
        if (ready()) {
          clearInterval(poll);
          res.destroy();
        }
      }, 2);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (m) => `http://127.0.0.1:${port}/v1/artifacts/${m.manifest.artifact.sha256}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let broker: TestBroker;
let dir: string;
let cleanups: Array<() => Promise<void> | void>;
let seq = 1000;

beforeEach(async () => {
  broker = await startTestBroker();
  dir = mkdtempSync(join(tmpdir(), 'el-updater-'));
  cleanups = [];
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

async function publisher(): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { clientId: `pub-${seq}` });
  cleanups.push(() => c.endAsync());
  return c;
}

function desired(m: TestModel, url: string, over: Partial<ModelDesiredMessage> = {}): ModelDesiredMessage {
  return {
    v: 1,
    type: 'model-desired',
    name: m.manifest.name,
    version: m.manifest.version,
    artifactUrl: url,
    manifest: m.manifest,
    seq: ++seq,
    ts: Date.now(),
    ...over,
  };
}

async function device(id = 'dev-1', over: Record<string, unknown> = {}): Promise<TestDevice> {
  const d = new TestDevice({ id, brokerUrl: broker.url, dir, trustedKeys: [key.publicKeyPem], seed: 1, updater: over });
  cleanups.push(() => d.close());
  await d.start();
  return d;
}

function waitReport(d: TestDevice, pred: (r: ModelReportMessage) => boolean): Promise<ModelReportMessage> {
  const hit = d.reports.find(pred);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve) => {
    const off = d.updater.onReport((r) => {
      if (pred(r)) {
        off();
        resolve(r);
      }
    });
  });
}

describe('ModelUpdater', () => {
  it('downloads with resume, verifies, activates and reports every step on models/report', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const part = join(dir, 'dev-1', 'staging', `${v1.manifest.artifact.sha256}.part`);
    const srv = await artifactServer([v1], { cutFirst: () => existsSync(part) && statSync(part).size > 0 });
    cleanups.push(srv.close);
    const pub = await publisher();
    const seen: ModelReportMessage[] = [];
    await pub.subscribeAsync(topics.modelReport('dev-1'), { qos: 1 });
    pub.on('message', (_t, p) => seen.push(JSON.parse(p.toString())));
    const d = await device();
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1), { rolloutId: 'ro-1' })), {
      qos: 1,
      retain: true,
    });
    await waitReport(d, (r) => r.state === 'active');
    expect(d.version()).toBe('1');
    expect(d.reports.map((r) => r.state)).toEqual(['received', 'downloading', 'downloaded', 'verified', 'active']);
    expect(d.reports.every((r) => r.rolloutId === 'ro-1' && r.deviceId === 'dev-1' && r.model === MODEL)).toBe(true);
    // the first response was cut half-way: the second request resumed from there
    expect(srv.requests).toEqual(['full', `bytes=${Math.floor(v1.onnx.byteLength / 2)}-`]);
    await d.updater.idle();
    while (seen.length < 5) await new Promise((r) => pub.once('message', r));
    expect(seen.map((r) => r.state)).toEqual(['received', 'downloading', 'downloaded', 'verified', 'active']);
  });

  it('per-device overrides fleet; clearing it falls back; stale messages are ignored; the previous version needs no download', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const v2 = makeTestModel({ version: '2', key, scale: 1.5 });
    const srv = await artifactServer([v1, v2]);
    cleanups.push(srv.close);
    const pub = await publisher();
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1))), { qos: 1, retain: true });
    const d = await device();
    await waitReport(d, (r) => r.state === 'active' && r.version === '1');
    const override = desired(v2, srv.url(v2));
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), encodeMessage(override), { qos: 1, retain: true });
    await waitReport(d, (r) => r.state === 'active' && r.version === '2');
    await d.updater.idle();
    expect(d.version()).toBe('2');
    // an older message on the same topic is ignored
    await pub.publishAsync(
      topics.deviceModel('dev-1', MODEL),
      encodeMessage({ ...desired(v1, srv.url(v1)), seq: override.seq - 1 }),
      { qos: 1, retain: false },
    );
    // clearing the override: back to the fleet's v1
    const before = srv.requests.length;
    d.reports.length = 0;
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), Buffer.alloc(0), { qos: 1, retain: true });
    await waitReport(d, (r) => r.state === 'active' && r.version === '1');
    expect(d.version()).toBe('1');
    expect(d.reports.map((r) => r.state)).toEqual(['received', 'verified', 'active']);
    expect(srv.requests.length).toBe(before); // v1 was kept on disk
    expect(d.updater.status().installed[MODEL]).toMatchObject({ active: { version: '1' }, previous: { version: '2' } });
  });

  it('refuses a model that fails its test vector, or is signed by an untrusted key, and keeps the old one', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const bad = makeTestModel({ version: '2', key, badTestVector: true });
    const foreign = makeTestModel({ version: '3', key: otherKey });
    const srv = await artifactServer([v1, bad, foreign]);
    cleanups.push(srv.close);
    const pub = await publisher();
    const d = await device();
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1))), { qos: 1, retain: true });
    await waitReport(d, (r) => r.state === 'active');
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), encodeMessage(desired(bad, srv.url(bad))), {
      qos: 1,
      retain: true,
    });
    const f = await waitReport(d, (r) => r.state === 'failed' && r.version === '2');
    expect(f.reason).toMatch(/EL_ERR_MODEL_TEST_VECTOR/);
    expect(d.version()).toBe('1');
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), encodeMessage(desired(foreign, srv.url(foreign))), {
      qos: 1,
      retain: true,
    });
    const g = await waitReport(d, (r) => r.state === 'failed' && r.version === '3');
    expect(g.reason).toMatch(/EL_ERR_MODEL_UNTRUSTED_KEY.*not among the trusted keys/);
    expect(srv.requests.filter((r) => r === 'full')).toHaveLength(2); // the untrusted one was never downloaded
    expect(d.version()).toBe('1');
    // a refused version is not retried when the same retained message comes again (reconnect)
    d.reports.length = 0;
    await d.transport.subscribe(topics.agentModelSubscriptions('dev-1'), 1);
    await d.updater.idle();
    expect(d.reports.filter((r) => r.state === 'failed')).toEqual([]);
  });

  it('reverts to the previous model when the new one exceeds its latency budget', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const slow = makeTestModel({ version: '2', key, latencyBudgetMs: 1e-6 });
    const srv = await artifactServer([v1, slow]);
    cleanups.push(srv.close);
    const pub = await publisher();
    const d = await device('dev-1', { latencyMinWindows: 20, latencyCheckMs: 10 });
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1))), { qos: 1, retain: true });
    await waitReport(d, (r) => r.state === 'active');
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), encodeMessage(desired(slow, srv.url(slow))), {
      qos: 1,
      retain: true,
    });
    await waitReport(d, (r) => r.state === 'active' && r.version === '2');
    const rolled = waitReport(d, (r) => r.state === 'rolled-back');
    await d.pump(40);
    const r = await rolled;
    expect(r.reason).toMatch(/EL_ERR_UPDATE_LATENCY: p95 .* exceeds the budget of 0.000001 ms; reverted to 1/);
    await d.updater.idle();
    expect(d.version()).toBe('1');
  });

  it('a device offline during the assignment picks it up when it returns (retained + persistent session)', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const srv = await artifactServer([v1]);
    cleanups.push(srv.close);
    const d = await device();
    await broker.stop();
    await broker.restart();
    const pub = await publisher();
    await d.transport.close();
    await pub.publishAsync(topics.deviceModel('dev-1', MODEL), encodeMessage(desired(v1, srv.url(v1))), {
      qos: 1,
      retain: true,
    });
    // the same device comes back (a restart: new transport, updater and engine on the same model store)
    await d.close();
    const back = await device();
    await waitReport(back, (r) => r.state === 'active');
    expect(back.version()).toBe('1');
    // and after another restart it restores the model from its store before any message
    await back.close();
    const again = new TestDevice({ id: 'dev-1', brokerUrl: broker.url, dir, trustedKeys: [key.publicKeyPem], seed: 3 });
    cleanups.push(() => again.close());
    await again.updater.start();
    expect(again.version()).toBe('1');
  });

  it('shadow assignment: installs the candidate beside the active model, reports with role shadow, clears', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const v2 = makeTestModel({ version: '2', key, scale: 1.5 });
    const srv = await artifactServer([v1, v2]);
    cleanups.push(srv.close);
    const pub = await publisher();
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1))), { qos: 1, retain: true });
    const d = await device();
    await waitReport(d, (r) => r.state === 'active' && r.version === '1');
    d.reports.length = 0;
    // a shadow message on the desired topic is refused: it must never be activated
    await pub.publishAsync(
      topics.deviceModel('dev-1', MODEL),
      encodeMessage(desired(v2, srv.url(v2), { role: 'shadow' })),
      { qos: 1, retain: false },
    );
    await pub.publishAsync(
      topics.deviceShadow('dev-1', MODEL),
      encodeMessage(desired(v2, srv.url(v2), { role: 'shadow', rolloutId: 'ro-9' })),
      { qos: 1, retain: true },
    );
    await waitReport(d, (r) => r.state === 'active' && r.version === '2');
    await d.updater.idle();
    expect(d.reports.map((r) => [r.state, r.role])).toEqual([
      ['received', 'shadow'],
      ['downloading', 'shadow'],
      ['downloaded', 'shadow'],
      ['verified', 'shadow'],
      ['active', 'shadow'],
    ]);
    expect(d.version()).toBe('1');
    expect(d.engine.shadow(MODEL)?.manifest.version).toBe('2');
    expect(d.updater.status().installed[MODEL]).toMatchObject({ active: { version: '1' } });
    await pub.publishAsync(topics.deviceShadow('dev-1', MODEL), Buffer.alloc(0), { qos: 1, retain: true });
    await new Promise<void>((resolve) => {
      const off = d.engine.onModelChange(() => !d.engine.shadow(MODEL) && (off(), resolve()));
      if (!d.engine.shadow(MODEL)) resolve();
    });
    expect(d.version()).toBe('1');
  });

  it('a device with shadow: false declines a shadow assignment with a failed report', async () => {
    const v1 = makeTestModel({ version: '1', key });
    const v2 = makeTestModel({ version: '2', key, scale: 1.5 });
    const srv = await artifactServer([v1, v2]);
    cleanups.push(srv.close);
    const pub = await publisher();
    await pub.publishAsync(topics.fleetModel(MODEL), encodeMessage(desired(v1, srv.url(v1))), { qos: 1, retain: true });
    const d = await device('dev-1', { shadow: false });
    await waitReport(d, (r) => r.state === 'active' && r.version === '1');
    const before = srv.requests.length;
    await pub.publishAsync(
      topics.deviceShadow('dev-1', MODEL),
      encodeMessage(desired(v2, srv.url(v2), { role: 'shadow' })),
      { qos: 1, retain: true },
    );
    const r = await waitReport(d, (x) => x.role === 'shadow');
    expect(r).toMatchObject({ state: 'failed', version: '2', reason: expect.stringMatching(/models.shadow: false/) });
    expect(srv.requests.length).toBe(before); // nothing downloaded
    expect(d.engine.shadow(MODEL)).toBeUndefined();
  });

  it('validates options', () => {
    const base = {
      deviceId: 'd',
      transport: {} as never,
      host: {} as never,
      modelsDir: dir,
      trustedKeys: [key.publicKeyPem],
    };
    expect(() => new ModelUpdater({ ...base, modelDir: 'x' } as never)).toThrow(/unknown option "modelDir"/);
    expect(() => new ModelUpdater({ ...base, trustedKeys: [] })).toThrow(/at least one public key/);
    expect(() => new ModelUpdater({ ...base, deviceId: 'a/b' })).toThrow(/deviceId/);
    expect(() => new ModelUpdater({ ...base, keepVersions: 1 })).toThrow(/keepVersions/);
  });
});
