/**
 * End to end on one machine: createCloud with the embedded broker (password auth), ingest, LocalStream, processor
 * and SQLite feature store; a device (mqtt.js) publishes protocol messages; features appear through
 * `edgeloop features get`, refused messages through `edgeloop dlq list`, and /healthz and /metrics answer.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud, selectParts, CLOUD_PARTS } from '../../../cloud/create-cloud.ts';
import { parseCloudConfig, CloudConfigSchema } from '../../../cloud/config.ts';
import { loadConfig } from '../../../cli/load-config.ts';
import { hashPassword } from '../../../cloud/broker/password-hash.ts';
import { EmbeddedBroker } from '../../../cloud/broker/embedded-broker.ts';
import { enc, telemetry } from '../ingest/ingest-helpers.ts';
import { cli, featuresWhen, tempDir } from './e2e-helpers.ts';

const FAST = { N: 1024, r: 8, p: 1 };
const MIN = 60_000;

async function device(url: string, id: string, password: string): Promise<MqttClient> {
  const c = mqtt.connect(url, { clientId: id, username: id, password, reconnectPeriod: 0 });
  onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

function pub(c: MqttClient, topic: string, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => c.publish(topic, payload, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
}

describe('edgeloop cloud, embedded, end to end', () => {
  it('device messages become features; malformed, oversized and unauthorised ones land in the DLQ; nothing else is lost', async () => {
    const dir = tempDir();
    const creds = join(dir, 'credentials.yaml');
    writeFileSync(
      creds,
      `devices:\n  dev-1: "${await hashPassword('pw-1', FAST)}"\n  dev-2: "${await hashPassword('pw-2', FAST)}"\n`,
    );
    const config = parseCloudConfig({
      dataDir: join(dir, 'data'),
      broker: { embedded: { port: 0, credentialsFile: creds } },
      http: { port: 0 },
      processor: { idleWaitMs: 20 },
    });
    const cloud = createCloud(config);
    onTestFinished(() => cloud.close());
    await cloud.start();
    expect([...cloud.parts.keys()]).toEqual([
      'dlq',
      'stream',
      'feature-store',
      'ingest',
      'broker',
      'processor',
      'archive',
      'http',
    ]);

    const d1 = await device(cloud.urls.mqtt!, 'dev-1', 'pw-1');
    const t0 = Math.floor(Date.now() / MIN) * MIN - 3 * MIN; // three whole minutes ago
    // minute 1: 5 messages × 20 readings; interleaved with refused messages
    for (let i = 0; i < 5; i++) {
      await pub(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1 + i * 20, 20, { ts: t0 + i * 1000 })));
      if (i === 1) await pub(d1, 'edgeloop/v1/dev-1/telemetry', Buffer.from('{"v":1,"type":"telemetry"'));
      if (i === 2) await pub(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 5000, 3000)));
      if (i === 3) await pub(d1, 'edgeloop/v1/dev-2/telemetry', enc(telemetry('dev-2', 1, 5)));
    }
    // a resend of the first two messages: duplicates, not counted again
    await pub(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1, 40, { ts: t0 })));
    // minute 2 opens (and, past the lateness bound, closes minute 1)
    await pub(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 101, 10, { ts: t0 + MIN + 10_000 })));

    const f = await featuresWhen(join(dir, 'data'), 'dev-1', (x) => x.temp_count_1m === 100);
    expect(f.temp_count_1m).toBe(100);
    expect(typeof f.temp_mean_1m).toBe('number');
    expect(f.last_seen).toBeTypeOf('number');

    const dl = await cli(['dlq', 'list', '--data-dir', join(dir, 'data'), '--json']);
    expect(dl.code).toBe(0);
    const rows = dl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; topic: string; detail: string });
    expect(rows.map((r) => r.reason).sort()).toEqual(['malformed', 'oversized', 'unauthorized']);
    expect(rows.find((r) => r.reason === 'unauthorized')!.topic).toBe('edgeloop/v1/dev-2/telemetry');
    const text = await cli(['dlq', 'list', '--data-dir', join(dir, 'data'), '--reason', 'oversized']);
    expect(text.stdout).toMatch(/oversized topic=edgeloop\/v1\/dev-1\/telemetry client=dev-1/);
    expect(text.stdout).toMatch(/over the 131072-byte limit/);
    // the spoofed device got nothing ("no record" exits 3: 2 is reserved for usage errors)
    expect((await cli(['features', 'get', 'dev-2', '--data-dir', join(dir, 'data')])).code).toBe(3);

    const health = await fetch(`${cloud.urls.http}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const metrics = await (await fetch(`${cloud.urls.http}/metrics`)).text();
    expect(metrics).toMatch(/^edgeloop_ingest_readings_total 110$/m);
    expect(metrics).toMatch(/^edgeloop_ingest_dedup_hits_total 40$/m);
    expect(metrics).toMatch(/^edgeloop_dlq_messages_total\{reason="malformed"\} 1$/m);
    expect(metrics).toMatch(/^edgeloop_broker_connected_devices 1$/m);
    expect(metrics).toMatch(/^edgeloop_processor_feature_lag_seconds_count \d+$/m);

    await cloud.close();
    await cloud.close(); // idempotent
    // the processor's history went to Parquet on close (offline store)
    const offline = join(dir, 'data', 'offline', 'device_features');
    const days = readdirSync(offline).filter((d) => d.startsWith('date='));
    expect(days.length).toBeGreaterThan(0);
    expect(readdirSync(join(offline, days[0]!)).some((f) => f.endsWith('.parquet'))).toBe(true);
    await expect(fetch(`${cloud.urls.http}/healthz`)).rejects.toThrow();
    // the broker stopped listening
    const late = mqtt.connect(cloud.urls.mqtt!, {
      clientId: 'dev-1',
      username: 'dev-1',
      password: 'pw-1',
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    await new Promise<void>((r) => late.once('error', () => r()).once('close', () => r()));
    expect(late.connected).toBe(false);
    late.end(true);
  });

  it('docs/cloud.example.yaml is a valid configuration', () => {
    const c = loadConfig(CloudConfigSchema, {
      file: join(import.meta.dirname, '../../../docs/cloud.example.yaml'),
      env: { EDGELOOP_HTTP__PORT: '0' },
    });
    expect(c.broker.mode).toBe('embedded');
    expect(c.http.port).toBe(0);
    expect(c.ingest.maxBatchRecords).toBe(500);
  });

  it('--only selects parts with what they require, in start order', () => {
    const embedded = parseCloudConfig({});
    const names = (only?: string[], c = embedded) => selectParts(CLOUD_PARTS, c, only).map((d) => d.name);
    expect(names()).toEqual(['dlq', 'stream', 'feature-store', 'ingest', 'broker', 'processor', 'archive']);
    expect(names(['processor'])).toEqual(['stream', 'feature-store', 'processor']);
    expect(names(['ingest'])).toEqual(['dlq', 'stream', 'ingest', 'broker']);
    const external = parseCloudConfig({ broker: { mode: 'external', external: { url: 'mqtt://127.0.0.1:1' } } });
    expect(names(undefined, external)).toEqual(['dlq', 'stream', 'feature-store', 'ingest', 'processor', 'archive']);
    expect(names(['ingest'], external)).toEqual(['dlq', 'stream', 'ingest']);
    expect(() => names(['broker'], external)).toThrow(/does not apply/);
    // the raw archive: on by default with the local stream, off with Kinesis unless asked for
    expect(names(undefined, parseCloudConfig({ archive: { enabled: false } }))).not.toContain('archive');
    const kinesis = { stream: { kind: 'kinesis' as const, kinesis: { streamName: 's' } } };
    expect(names(undefined, parseCloudConfig(kinesis))).not.toContain('archive');
    expect(names(['archive'], parseCloudConfig({ ...kinesis, archive: { enabled: true } }))).toEqual([
      'stream',
      'archive',
    ]);
    expect(() => names(['ingset'])).toThrow(/unknown part "ingset"/);
  });

  it('a part that fails to start closes the ones already started', async () => {
    const dir = tempDir();
    const blocker = new EmbeddedBroker({ port: 0, allowAnonymous: true });
    await blocker.start();
    onTestFinished(() => blocker.close());
    const cloud = createCloud(
      parseCloudConfig({ dataDir: dir, broker: { embedded: { port: blocker.port! } }, http: { enabled: false } }),
    );
    await expect(cloud.start()).rejects.toMatchObject({ code: 'EL_ERR_BROKER_LISTEN' });
    // the stream, DLQ and ingest were closed: their files can be opened exclusively again
    const again = createCloud(parseCloudConfig({ dataDir: dir, only: ['processor'], http: { enabled: false } }));
    await again.start();
    await again.close();
  });
});
