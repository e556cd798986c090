import { join } from 'node:path';
import { subscribe as subscribe_, unsubscribe as unsubscribe_ } from 'node:diagnostics_channel';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EmbeddedBroker } from '../../../cloud/broker/embedded-broker.ts';
import { SqliteDlq } from '../../../cloud/dlq/sqlite-dlq.ts';
import { Ingest } from '../../../cloud/ingest/ingest.ts';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { generateTestCertificates } from '../../helpers/mosquitto.ts';
import { enc, range, readAll, telemetry } from '../ingest/ingest-helpers.ts';
import { OutageStream } from '../../helpers/outage-stream.ts';
import { connect, credentials, publish, startBroker, subscribe, tempDir } from './broker-helpers.ts';

describe('EmbeddedBroker authentication', () => {
  it('accepts a device with its password and refuses wrong, unknown and missing credentials', async () => {
    const { broker } = await startBroker();
    const failures: Array<{ clientId: string }> = [];
    const onFailure = (m: unknown): void => void failures.push(m as { clientId: string });
    subscribe_('edgeloop:broker:auth-failure', onFailure);
    onTestFinished(() => {
      unsubscribe_('edgeloop:broker:auth-failure', onFailure);
    });
    const ok = await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
    expect(ok.connected).toBe(true);
    await expect(
      connect(broker.url!, { clientId: 'dev-2', username: 'dev-2', password: 'wrong' }),
    ).rejects.toMatchObject({ code: 4 });
    await expect(connect(broker.url!, { clientId: 'nobody', username: 'nobody', password: 'x' })).rejects.toMatchObject(
      { code: 4 },
    );
    await expect(connect(broker.url!, { clientId: 'dev-2' })).rejects.toMatchObject({ code: 5 });
    // a device may not connect under another client id (session takeover)
    await expect(
      connect(broker.url!, { clientId: 'dev-2', username: 'dev-1', password: 'pw-1' }),
    ).rejects.toMatchObject({ code: 5 });
    expect(broker.stats()).toMatchObject({ authFailures: 4, connectedDevices: 1 });
    expect(failures.map((f) => f.clientId)).toEqual(['dev-2', 'nobody', 'dev-2', 'dev-2']);
  });

  it('allowAnonymous treats the client id as the device id', async () => {
    const { broker } = await startBroker({ allowAnonymous: true });
    const c = await connect(broker.url!, { clientId: 'anon-7' });
    expect(await subscribe(c, 'edgeloop/v1/anon-7/models/+')).toBe(1);
    expect(await subscribe(c, 'edgeloop/v1/dev-1/models/+')).toBe(128);
  });

  it('authenticates devices by TLS client certificate CN', async () => {
    const dir = tempDir();
    const certs = generateTestCertificates(dir, 'dev-cert');
    const { broker, dlq } = await startBroker({
      port: null,
      tls: { port: 0, cert: certs.serverCertPath, key: certs.serverKeyPath, ca: certs.caPath },
    });
    const tlsOpts = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, rejectUnauthorized: true };
    const dev = await connect(broker.tlsUrl!, { clientId: 'dev-cert', ...tlsOpts });
    await publish(
      dev,
      'edgeloop/v1/dev-cert/status',
      enc({ v: 1, type: 'status', deviceId: 'dev-cert', seq: 0, ts: 1, online: true }),
    );
    await publish(dev, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1, 1)));
    expect(dlq.list()[0]).toMatchObject({ reason: 'unauthorized', deviceId: 'dev-cert', clientId: 'dev-cert' });
    // the certificate's CN must be the client id
    await expect(connect(broker.tlsUrl!, { clientId: 'someone-else', ...tlsOpts })).rejects.toMatchObject({ code: 5 });
    // a username that disagrees with the CN is refused
    await expect(
      connect(broker.tlsUrl!, { clientId: 'dev-cert', username: 'dev-1', password: 'pw-1', ...tlsOpts }),
    ).rejects.toMatchObject({ code: 5 });
    // TLS without a client certificate falls back to the password
    const pw = await connect(broker.tlsUrl!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1', ca: certs.ca });
    expect(pw.connected).toBe(true);
    await expect(connect(broker.tlsUrl!, { clientId: 'dev-2', ca: certs.ca })).rejects.toMatchObject({ code: 5 });
  });
});

describe('EmbeddedBroker topic authorisation', () => {
  it('quarantines a device publishing under another deviceId and refuses foreign subscriptions', async () => {
    const { broker, dlq } = await startBroker();
    const svc = await connect(broker.url!, { clientId: 'svc-1', username: 'ingest', password: 'svc-pw' });
    expect(await subscribe(svc, '#')).toBe(1);
    const seen: string[] = [];
    svc.on('message', (topic) => seen.push(topic));
    const d1 = await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
    await publish(d1, 'edgeloop/v1/dev-2/telemetry', enc(telemetry('dev-2', 1, 3))); // spoofing dev-2
    await publish(d1, 'edgeloop/v1/fleet/models/anomaly', Buffer.from('{}')); // devices do not publish manifests
    await publish(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1, 3)));
    await new Promise<void>((r) =>
      seen.includes('edgeloop/v1/dev-1/telemetry') ? r() : svc.once('message', () => r()),
    );
    expect(seen).toEqual(['edgeloop/v1/dev-1/telemetry']); // the refused ones never reached a subscriber
    expect(d1.connected).toBe(true); // quarantined, not disconnected
    const dl = dlq.list({ order: 'oldest' });
    expect(dl.map((d) => [d.reason, d.topic, d.deviceId])).toEqual([
      ['unauthorized', 'edgeloop/v1/dev-2/telemetry', 'dev-1'],
      ['unauthorized', 'edgeloop/v1/fleet/models/anomaly', 'dev-1'],
    ]);
    expect(dl[0]!.detail).toMatch(/may not publish under device dev-2/);
    expect(dl[0]!.code).toBe('EL_ERR_BROKER_NOT_AUTHORIZED');

    expect(await subscribe(d1, 'edgeloop/v1/dev-2/telemetry')).toBe(128);
    expect(await subscribe(d1, 'edgeloop/v1/dev-2/models/+')).toBe(128);
    expect(await subscribe(d1, 'edgeloop/v1/+/telemetry')).toBe(128);
    expect(await subscribe(d1, '#')).toBe(128);
    expect(await subscribe(d1, '$SYS/#')).toBe(128);
    expect(await subscribe(d1, 'edgeloop/v1/fleet/models/+')).toBe(1);
    expect(await subscribe(d1, 'edgeloop/v1/fleet/models/anomaly')).toBe(1);
    expect(await subscribe(d1, 'edgeloop/v1/dev-1/models/+')).toBe(1);
    expect(broker.stats()).toMatchObject({ refusedPublishes: 2, refusedSubscriptions: 5 });
    expect(broker.stats().messagesOut).toBeGreaterThanOrEqual(1);
  });

  it('unauthorizedPublish "disconnect" closes the connection after dead-lettering', async () => {
    const { broker, dlq } = await startBroker({ unauthorizedPublish: 'disconnect' });
    const d1 = await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
    const closed = new Promise<void>((r) => d1.once('close', () => r()));
    d1.publish('edgeloop/v1/dev-2/status', Buffer.from('{}'), { qos: 1 });
    await closed;
    expect(dlq.list()[0]!.reason).toBe('unauthorized');
  });

  it('rejects bad options', () => {
    expect(() => new EmbeddedBroker({ prot: 1 } as never)).toThrow(/unknown option "prot"/);
    expect(() => new EmbeddedBroker({ unauthorizedPublish: 'drop' as never })).toThrow(/quarantine/);
    expect(() => new EmbeddedBroker({ port: null })).toThrow(/no tls listener/);
  });
});

describe('EmbeddedBroker with the ingest in the publish path', () => {
  it('acknowledges a QoS 1 publish only once the stream holds it; an outage means no PUBACK and a redelivery', async () => {
    const dir = tempDir();
    const stream = new OutageStream(new LocalStream({ path: join(dir, 'stream.db'), shardCount: 1 }));
    await stream.start();
    const dlq = await SqliteDlq.create({ path: join(dir, 'dlq.db') });
    const ingest = new Ingest({
      stream,
      dlq,
      dedupPath: join(dir, 'dedup.db'),
      putRetry: { minMs: 1, maxMs: 1, maxAttempts: 1 },
    });
    await ingest.start();
    const broker = new EmbeddedBroker({
      port: 0,
      credentials: await credentials(),
      ingest,
      onRefused: (d) => dlq.add(d),
    });
    await broker.start();
    onTestFinished(async () => {
      await broker.close();
      await ingest.close();
      await dlq.close();
      await stream.close();
    });
    const d1 = await connect(broker.url!, {
      clientId: 'dev-1',
      username: 'dev-1',
      password: 'pw-1',
      clean: false,
      reconnectPeriod: 50,
    });
    await publish(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1, 10)));
    // PUBACK received → already in the stream
    expect((await readAll(stream)).seqs.get('dev-1')).toEqual(range(1, 10));

    stream.down = true;
    const closed = new Promise<void>((r) => d1.once('close', () => r()));
    const pending = publish(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 11, 10)));
    await closed; // no PUBACK: the broker dropped the connection
    expect(broker.stats().ingestRefusals).toBe(1);
    stream.down = false;
    await pending; // mqtt.js resent the unacknowledged message after reconnecting
    // a malformed message is acknowledged (it is in the DLQ) and the connection stays up
    await publish(d1, 'edgeloop/v1/dev-1/telemetry', Buffer.from('garbage'));
    await publish(d1, 'edgeloop/v1/dev-1/telemetry', enc(telemetry('dev-1', 1, 20))); // a resend: duplicates only
    expect((await readAll(stream)).seqs.get('dev-1')).toEqual(range(1, 20));
    expect(dlq.list().map((d) => d.reason)).toEqual(['malformed']);
    expect(ingest.stats().duplicateRecords).toBe(20);
  });
});
