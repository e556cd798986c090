/**
 * The cloud against an external broker: a real Debian mosquitto (MQTT 5 shared subscriptions, persistent
 * sessions). mosquitto_pub publishes a protocol message; features appear via `edgeloop features get`. Then a
 * burst from mqtt.js over two shared-subscription ingest connections lands in the stream exactly once.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import type { Ingest } from '../../../cloud/ingest/ingest.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { enc, range, readAll, sortedUnique, telemetry } from '../ingest/ingest-helpers.ts';
import { eventually, featuresWhen, tempDir } from './e2e-helpers.ts';
import { OutageStream } from '../../helpers/outage-stream.ts';

const run = promisify(execFile);

const MIN = 60_000;

describe('edgeloop cloud with mosquitto as the external broker', () => {
  it('ingests mosquitto_pub and mqtt.js messages through shared subscriptions, exactly once into the stream', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const dataDir = join(dir, 'data');
    const cloud = createCloud(
      parseCloudConfig({
        dataDir,
        broker: { mode: 'external', external: { url: broker.url, connections: 2 } },
        http: { enabled: false },
        processor: { idleWaitMs: 20 },
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();
    expect(cloud.parts.has('broker')).toBe(false);

    const t0 = Math.floor(Date.now() / MIN) * MIN - 3 * MIN;
    const m1 = telemetry('pump-1', 1, 30, { ts: t0 });
    const m2 = telemetry('pump-1', 31, 5, { ts: t0 + MIN + 10_000 });
    for (const m of [m1, m2]) {
      await run('mosquitto_pub', [
        '-h',
        broker.host,
        '-p',
        String(broker.port),
        '-q',
        '1',
        '-i',
        'pump-1',
        '-t',
        'edgeloop/v1/pump-1/telemetry',
        '-m',
        enc(m).toString(),
      ]);
    }
    const f = await featuresWhen(dataDir, 'pump-1', (x) => x.temp_count_1m === 30);
    expect(f.temp_count_1m).toBe(30);

    // a burst over one connection, including resends; spread across the two ingest connections by the broker
    const c = mqtt.connect(broker.url, { clientId: 'burst', protocolVersion: 5 });
    onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
    await new Promise<void>((r) => c.once('connect', () => r()));
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      const d = `dev-${i % 5}`;
      const first = 1 + Math.floor(i / 5) * 10;
      sends.push(c.publishAsync(`edgeloop/v1/${d}/telemetry`, enc(telemetry(d, first, 10, { ts: t0 })), { qos: 1 }));
      if (i % 10 === 0)
        sends.push(c.publishAsync(`edgeloop/v1/${d}/telemetry`, enc(telemetry(d, first, 10, { ts: t0 })), { qos: 1 }));
    }
    await Promise.all(sends);
    const ingest = cloud.parts.get('ingest')!.instance as Ingest;
    // readings are counted once the stream holds them
    await eventually(
      async () => (ingest.stats().readings >= 30 + 5 + 1000 ? true : undefined),
      'all readings ingested',
    );
    await ingest.idle();
    const back = await readAll(cloud.parts.get('stream')!.instance as Stream);
    for (let d = 0; d < 5; d++) {
      const seqs = back.seqs.get(`dev-${d}`)!;
      expect(seqs.length).toBe(200); // no duplicates
      expect(sortedUnique(seqs)).toEqual(range(1, 200));
    }
    expect(ingest.stats().duplicateRecords).toBe(100);
    const client = (
      cloud.parts.get('ingest') as unknown as { client: { stats(): { connections: number; received: number } } }
    ).client;
    expect(client.stats().connections).toBe(2);
  });

  it('does not acknowledge a message the stream could not take: mosquitto redelivers it from the session', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const stream = new OutageStream(new LocalStream({ path: join(dir, 'stream.db'), shardCount: 1 }));
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        only: ['ingest'],
        broker: { mode: 'external', external: { url: broker.url } },
        http: { enabled: false },
      }),
      { stream },
    );
    onTestFinished(async () => {
      await cloud.close();
      await stream.close();
    });
    await cloud.start();
    const client = (cloud.parts.get('ingest') as unknown as { client: { stats(): { refused: number; acked: number } } })
      .client;
    stream.down = true;
    const c = mqtt.connect(broker.url, { clientId: 'redeliver', protocolVersion: 5 });
    onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
    await new Promise<void>((r) => c.once('connect', () => r()));
    await c.publishAsync('edgeloop/v1/dev-r/telemetry', enc(telemetry('dev-r', 1, 7)), { qos: 1 });
    await eventually(async () => (client.stats().refused >= 1 ? true : undefined), 'the ingest to refuse the message');
    stream.down = false;
    await eventually(
      async () => (client.stats().acked >= 1 ? true : undefined),
      'the redelivered message to be acknowledged',
    );
    const back = await readAll(stream);
    expect(back.seqs.get('dev-r')).toEqual(range(1, 7));
  });

  it('works with an MQTT 3.1.1 broker without shared subscriptions (aedes: protocolVersion 4, sharedGroup null)', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        only: ['ingest'],
        broker: { mode: 'external', external: { url: broker.url, protocolVersion: 4, sharedGroup: null } },
        http: { enabled: false },
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();
    const c = mqtt.connect(broker.url, { clientId: 'v4-dev' });
    onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
    await new Promise<void>((r) => c.once('connect', () => r()));
    for (let i = 0; i < 5; i++)
      await c.publishAsync('edgeloop/v1/dev-4/telemetry', enc(telemetry('dev-4', 1 + i * 4, 4)), { qos: 1 });
    const ingest = cloud.parts.get('ingest')!.instance as Ingest;
    await eventually(async () => (ingest.stats().readings >= 20 ? true : undefined), 'readings over MQTT 3.1.1');
    expect((await readAll(cloud.parts.get('stream')!.instance as Stream)).seqs.get('dev-4')).toEqual(range(1, 20));
  });
});
