import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteOutbox } from '../../../agent/outbox/sqlite-outbox.ts';
import { OutboxPublisher } from '../../../agent/publisher/outbox-publisher.ts';
import { MqttTransport } from '../../../agent/transport/mqtt-transport.ts';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { collect, readingsOf } from '../helpers/mqtt-collector.ts';
import { tempDir } from '../helpers/temp-dir.ts';

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
    const publisher = new OutboxPublisher({ outbox, transport, deviceId: 'pub-1', batchMaxRecords: 300, batchMaxBytes: 8 * 1024, lingerMs: 5, maxInflight: 2 });
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
