import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteOutbox } from '../../../agent/outbox/sqlite-outbox.ts';
import { OutboxPublisher } from '../../../agent/publisher/outbox-publisher.ts';
import { MqttTransport } from '../../../transport/mqtt-transport.ts';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { collect, readingsOf } from '../helpers/mqtt-collector.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { canMountTmpfs, fillVolume, smallVolume } from '../helpers/small-volume.ts';
import Database from 'better-sqlite3';

describe('OutboxPublisher (real aedes, real SQLite)', () => {
  it('sends the events lane before telemetry queued earlier, telemetry in seq order, cut by count and bytes', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const sub = await collect(broker.url, ['edgeloop/v1/pub-1/+']);
    const outbox = SqliteOutbox.open({ path: join(tempDir(), 'o.db'), intakeLingerMs: 1 });
    onTestFinished(() => outbox.close());
    const transport = new MqttTransport({ url: broker.url, clientId: 'pub-1' });
    onTestFinished(() => transport.close());
    await transport.start();
    const publisher = new OutboxPublisher({
      outbox,
      transport,
      deviceId: 'pub-1',
      batchMaxRecords: 300,
      batchMaxBytes: 8 * 1024,
      lingerMs: 5,
      maxInflight: 2,
    });
    onTestFinished(() => publisher.close());
    // queued before the publisher runs (as after an outage): 1000 readings (seqs 1..1000), then 3 events
    const p = outbox.append(Array.from({ length: 1000 }, (_, i) => ({ sensor: 'rpm', ts: i, value: i })));
    outbox.flushIntake();
    await p;
    for (let i = 0; i < 3; i++) outbox.appendEvents([{ ts: 2000 + i, kind: 'anomaly', severity: 'warning', score: i }]);
    publisher.start();
    expect(await publisher.flush(10_000)).toBe(true);
    await sub.waitFor((m) => readingsOf(m).length === 1000 && m.some((x) => x.body.type === 'events'));
    const msgs = sub.messages;
    expect(msgs[0]!.body).toMatchObject({ type: 'events', seq: 1001 });
    expect((msgs[0]!.body.events as unknown[]).length).toBe(3);
    const telemetry = msgs.filter((x) => x.body.type === 'telemetry');
    for (const m of telemetry) {
      const rs = m.body.readings as Array<{ seq: number }>;
      expect(rs.length).toBeLessThanOrEqual(300);
      expect(Buffer.byteLength(JSON.stringify(m.body))).toBeLessThanOrEqual(8 * 1024);
      expect(m.body.seq).toBe(rs[0]!.seq);
    }
    expect(telemetry.length).toBeGreaterThan(1000 / 300); // the byte bound cut some batches below 300
    expect(readingsOf(msgs).map((r) => r.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(publisher.stats).toMatchObject({ eventRecords: 3, telemetryRecords: 1000, inflight: 0 });
    expect(outbox.stats()).toMatchObject({ telemetry: 0, events: 0 });
  });
});

describe.skipIf(!canMountTmpfs)('OutboxPublisher on a full volume (tmpfs)', () => {
  it('an ack that cannot delete (SQLITE_FULL, no reserve) is logged and retried: no exception, no unhandled rejection, every row delivered once space is back', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const sub = await collect(broker.url, ['edgeloop/v1/pub-full/telemetry']);
    const dir = smallVolume(8 * 1024 * 1024);
    const path = join(dir, 'o.db');
    const outbox = SqliteOutbox.open({ path, reserveBytes: 0, minFreeBytes: 0 });
    onTestFinished(() => outbox.close());
    const p = outbox.append(Array.from({ length: 20_000 }, (_, i) => ({ sensor: 'rpm', ts: i, value: i })));
    outbox.flushIntake();
    await p;
    // WAL moved into the file and truncated, then the volume filled: the first delete needs space it cannot get
    const side = new Database(path);
    side.pragma('wal_checkpoint(TRUNCATE)');
    side.close();
    const unfill = fillVolume(dir);
    const transport = new MqttTransport({ url: broker.url, clientId: 'pub-full' });
    onTestFinished(() => transport.close());
    await transport.start();
    const publisher = new OutboxPublisher({
      outbox,
      transport,
      deviceId: 'pub-full',
      batchMaxRecords: 2000,
      lingerMs: 5,
      retryMs: 50,
    });
    onTestFinished(() => publisher.close());
    publisher.start();
    await sub.waitFor((m) => m.length > 0);
    await expect.poll(() => publisher.stats.outboxErrors, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(publisher.stats.lastError).toMatch(/not deleted, the volume is full/);
    expect(outbox.telemetryCount).toBeGreaterThan(0); // the rows whose delete failed are still there
    // space comes back: the rows are sent again (same seqs) and deleted
    unfill();
    expect(await publisher.flush(20_000)).toBe(true);
    expect(outbox.telemetryCount).toBe(0);
    // PUBACK comes before the broker's delivery to the subscriber: wait for it
    await sub.waitFor((m) => new Set(readingsOf(m).map((r) => r.seq)).size === 20_000);
  });
});
