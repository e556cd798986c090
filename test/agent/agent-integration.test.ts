/**
 * The agent through its other doors: the AWS IoT transport (MQTT 5 on mosquitto, plain TCP), the local health and
 * metrics endpoint, and a model update delivered over MQTT (signed manifest + HTTP artifact) to the ModelHost.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent, type Agent } from '../../agent/create-agent.ts';
import type { AgentConfigInput } from '../../agent/config.ts';
import { generateSigningKey } from '../../models/manifest/index.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { collect, readingsOf } from './helpers/mqtt-collector.ts';
import { writeTestModel } from './helpers/test-model.ts';
import { tempDir } from './helpers/temp-dir.ts';

async function started(config: AgentConfigInput): Promise<Agent> {
  const agent = createAgent({ config });
  onTestFinished(() => agent.close(0));
  await agent.start();
  await new Promise<void>((r) => (agent.transport!.connected ? r() : agent.transport!.on('connect', () => r())));
  return agent;
}

describe('agent over the AWS IoT transport (MQTT 5 on mosquitto)', () => {
  it('publishes telemetry and a retained status', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const sub = await collect(broker.url, ['edgeloop/v1/thing-1/#']);
    const agent = await started({
      deviceId: 'thing-1',
      dataDir: tempDir(),
      transport: { kind: 'aws-iot', endpoint: broker.host, port: broker.port, insecurePlaintext: true },
      outbox: { batchLingerMs: 5 },
    });
    await agent.ingest(Array.from({ length: 120 }, (_, i) => ({ sensor: 'rpm', ts: i, value: 1500 + i })));
    await sub.waitFor((m) => readingsOf(m).length === 120 && m.some((x) => x.topic.endsWith('/status')));
    expect(readingsOf(sub.messages).map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });
});

describe('health endpoint', () => {
  it('/healthz is 200 while the outbox drains and 503 when the oldest record is too old; /metrics has the counters', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const agent = await started({
      deviceId: 'h-1',
      dataDir: tempDir(),
      transport: { kind: 'mqtt', url: broker.url, reconnect: { minMs: 20, maxMs: 100 } },
      outbox: { batchLingerMs: 5 },
      health: { port: 0, maxOldestAgeMs: 1 },
    });
    const base = `http://127.0.0.1:${agent.healthPort}`;
    let res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, connected: true, status: { deviceId: 'h-1', online: true } });
    await broker.stop();
    await agent.ingest([{ sensor: 'x', ts: 1, value: 1 }]);
    await new Promise((r) => setTimeout(r, 20));
    res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { reasons: string[] }).reasons[0]).toMatch(/oldest unsent record/);
    res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/^edgeloop_agent_readings_accepted_total 1$/m);
    expect(text).toMatch(/^edgeloop_agent_outbox_records 1$/m);
    expect(text).toMatch(/^edgeloop_agent_connected 0$/m);
    const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const rss = metric('edgeloop_agent_process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(20 * 2 ** 20);
    expect(metric('edgeloop_agent_process_resident_memory_peak_bytes')).toBeGreaterThanOrEqual(rss * 0.9);
    expect(metric('edgeloop_agent_process_heap_used_bytes')).toBeGreaterThan(0);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('model update over MQTT', () => {
  it('a signed update is downloaded, verified, activated and reported; a tampered one is refused and v1 keeps running', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const key = generateSigningKey();
    const keyFile = join(dir, 'trusted.pem');
    writeFileSync(keyFile, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const v1 = writeTestModel(join(dir, 'initial'), { version: '1', signWith: key.privateKey });
    const v2 = writeTestModel(join(dir, 'v2'), { version: '2', scale: 2, signWith: key.privateKey });
    const artifacts = new Map<string, Buffer>([['/v2.onnx', readFileSync(v2.modelPath)]]);
    const http = createServer((req, res) => {
      const body = artifacts.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    onTestFinished(() => new Promise<void>((r) => http.close(() => r())));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const sub = await collect(broker.url, ['edgeloop/v1/m-1/models/report']);
    const agent = await started({
      deviceId: 'm-1',
      dataDir: dir,
      transport: { kind: 'mqtt', url: broker.url },
      models: { initial: [v1.dir], trustedKeys: [keyFile] },
    });
    expect(agent.inference!.active('anomaly')!.manifest.version).toBe('1');
    const pub = await mqtt.connectAsync(broker.url);
    onTestFinished(() => pub.endAsync());
    // a tampered manifest (threshold changed after signing): refused, v1 stays
    const bad = { ...v2.manifest, threshold: 0 };
    await pub.publishAsync(
      'edgeloop/v1/fleet/models/anomaly',
      JSON.stringify({
        v: 1,
        type: 'model-desired',
        name: 'anomaly',
        version: '2',
        artifactUrl: `${url}/v2.onnx`,
        manifest: bad,
        seq: 1,
        ts: 1,
      }),
      { qos: 1, retain: true },
    );
    await sub.waitFor((m) => m.some((x) => x.body.state === 'failed'));
    expect(agent.inference!.active('anomaly')!.manifest.version).toBe('1');
    await pub.publishAsync(
      'edgeloop/v1/fleet/models/anomaly',
      JSON.stringify({
        v: 1,
        type: 'model-desired',
        name: 'anomaly',
        version: '2',
        artifactUrl: `${url}/v2.onnx`,
        manifest: v2.manifest,
        seq: 2,
        ts: 2,
      }),
      { qos: 1, retain: true },
    );
    await sub.waitFor((m) => m.some((x) => x.body.state === 'active' && x.body.version === '2'));
    expect(agent.inference!.active('anomaly')!.manifest.version).toBe('2');
    // reports carry the agent's per-device seq (one counter with telemetry and events)
    const seqs = sub.messages.map((x) => x.body.seq as number);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(Math.max(...seqs)).toBeLessThanOrEqual(agent.outbox.lastSeq);
  });
});
