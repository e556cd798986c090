import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { Processor, type ProcessorOptions } from '../../../cloud/processor/processor.ts';
import type { Alert } from '../../../cloud/processor/alert-rules.ts';
import type { FeatureRecord, FeatureStore } from '../../../cloud/feature-store/feature-store.ts';
import type { FeatureWriteInfo } from '../../../cloud/processor/feature-batch.ts';
import { encodeMessage, type TelemetryMessage } from '../../../protocol/messages.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';

let seq = 0;
function tel(deviceId: string, readings: [string, number, number][]): TelemetryMessage {
  const rs = readings.map(([sensor, ts, value]) => ({ seq: ++seq, sensor, ts, value }));
  return { v: 1, type: 'telemetry', deviceId, seq: rs[0]!.seq, sentAt: Date.now(), readings: rs };
}

async function env(dir: string, shardCount = 2): Promise<{ stream: LocalStream; store: SqliteFeatureStore }> {
  const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount, synchronous: 'NORMAL' });
  const store = new SqliteFeatureStore({ path: join(dir, 'features.db'), synchronous: 'NORMAL' });
  await stream.start();
  await store.start();
  onTestFinished(async () => {
    await store.close();
    await stream.close();
  });
  return { stream, store };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-proc-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function processor(opts: ProcessorOptions): Processor {
  const p = new Processor(opts);
  onTestFinished(() => p.close());
  return p;
}

/** The store with some of its methods replaced (the failures a test simulates). */
function withOverrides(store: FeatureStore, overrides: Partial<FeatureStore>): FeatureStore {
  return {
    start: () => store.start(),
    close: () => store.close(),
    put: (g, r) => store.put(g, r),
    get: (g, id, n) => store.get(g, id, n),
    batchGet: (g, ids, n) => store.batchGet(g, ids, n),
    putMany: (g, rs) => store.putMany(g, rs),
    ...overrides,
  };
}

const put = (stream: Stream, msgs: TelemetryMessage[]) =>
  stream.put(msgs.map((m) => ({ partitionKey: m.deviceId, data: encodeMessage(m) })));

describe('Processor', () => {
  it('consumes all shards into device features, alerts, offline rows and lag; skips bad records; checkpoints', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir);
    const alerts: Alert[] = [];
    const offline: FeatureRecord[] = [];
    const writes: FeatureWriteInfo[] = [];
    const p = processor({
      stream,
      store,
      aggregation: { allowedLatenessMs: 0 },
      alertRules: ['temperature_mean_1m > 80'],
      alertSink: (a) => void alerts.push(a),
      offlineStore: { append: (_g, rs) => void offline.push(...rs) },
      onFeatureWrite: (i) => void writes.push(i),
    });
    const devices = ['dev-a', 'dev-b', 'dev-c', 'dev-d'];
    for (const d of devices) {
      const hot = d === 'dev-b' ? 50 : 0;
      await put(stream, [
        tel(
          d,
          Array.from({ length: 6 }, (_, i) => ['temperature', i * 10_000, 40 + hot + i] as [string, number, number]),
        ),
      ]);
      await put(stream, [tel(d, [['temperature', 61_000, 1]])]);
    }
    await stream.put([{ partitionKey: 'dev-a', data: Buffer.from('{"not":"a message"}') }]);
    expect(await p.drain()).toBe(9);
    const [a, b] = await store.batchGet('device_features', ['dev-a', 'dev-b']);
    expect(a!.eventTime).toBe(61_000);
    expect(a!.features).toMatchObject({
      temperature_count_1m: 6,
      temperature_mean_1m: 42.5,
      temperature_last: 1,
      late_readings: 0,
    });
    expect(b!.features.temperature_mean_1m).toBe(92.5);
    expect(alerts).toMatchObject([
      { rule: 'temperature_mean_1m > 80', state: 'firing', deviceId: 'dev-b', value: 92.5 },
    ]);
    expect(new Set(offline.map((r) => r.entityId))).toEqual(new Set(devices));
    expect(writes.every((w) => typeof w.lagMs === 'number' && w.lagMs > 0)).toBe(true);
    const s = p.stats();
    expect(s).toMatchObject({ records: 9, messages: 8, invalidRecords: 1, alertsFiring: 1 });
    expect(s.lagMs.p50).toBeGreaterThan(0);
    for (const shard of await stream.listShards()) {
      const cp = await stream.getCheckpoint('processor', shard);
      const rest = await stream.read(shard, { consumer: 'processor' });
      expect(rest.records).toEqual([]);
      if ((await stream.read(shard, { consumer: 'other' })).records.length > 0) expect(cp).toBeDefined();
    }
    expect(await p.step()).toBe(0);
  });

  it('resumes after a restart from its checkpoints and continues the stored state', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir, 1);
    const first = new Processor({ stream, store, aggregation: { allowedLatenessMs: 0 } });
    await put(stream, [
      tel('m1', [
        ['rpm', 10_000, 1500],
        ['rpm', 70_000, 1600],
      ]),
    ]);
    expect(await first.drain()).toBe(1);
    await first.close();
    const second = processor({ stream, store, aggregation: { allowedLatenessMs: 0 } });
    expect(await second.drain()).toBe(0); // nothing re-read
    await put(stream, [
      tel('m1', [
        ['rpm', 5000, 9999],
        ['rpm', 80_000, 1700],
      ]),
    ]); // 5 s is late now
    expect(await second.drain()).toBe(1);
    const rec = await store.get('device_features', 'm1');
    expect(rec!.features).toMatchObject({ rpm_last: 1700, late_readings: 1, rpm_count_1m: 1, rpm_mean_1m: 1500 });
    expect(rec!.eventTime).toBe(80_000);
  });

  it('retries a failing feature store without counting a reading twice', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir, 1);
    let failures = 2;
    const flaky = withOverrides(store, {
      putMany: async (g, rs) => {
        if (failures-- > 0) throw new Error('disk full (simulated by the test)');
        return store.putMany(g, rs);
      },
    });
    const p = processor({ stream, store: flaky, retry: { minMs: 1, maxMs: 2 }, aggregation: { allowedLatenessMs: 0 } });
    await put(stream, [
      tel('m1', [
        ['x', 1000, 1],
        ['x', 2000, 3],
        ['x', 61_000, 0],
      ]),
    ]);
    await p.drain();
    expect((await store.get('device_features', 'm1'))!.features).toMatchObject({ x_count_1m: 2, x_mean_1m: 2 });
    expect(p.stats().writeRetries).toBe(2);
  });

  it('closes promptly while it waits between retries of a failing feature store', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir, 1);
    let attempts = 0;
    const failing = withOverrides(store, {
      batchGet: async () => {
        attempts++;
        throw new Error('store unreachable (simulated by the test)');
      },
    });
    // the wait between retries is 60 s and keeps its timer referenced: close() must end it, not sit it out
    const p = processor({ stream, store: failing, retry: { minMs: 60_000, maxMs: 60_000, jitter: 'none' } });
    await put(stream, [tel('c1', [['x', 1000, 1]])]);
    await p.start();
    // the first attempt failed and the processor is in its wait before the second
    await expect.poll(() => p.stats().writeRetries).toBe(1);
    const t0 = Date.now();
    await p.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(attempts).toBe(1);
  });

  it('runs in the background: wakes on new records and closes promptly', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir);
    let resolveWrite!: (i: FeatureWriteInfo) => void;
    const written = new Promise<FeatureWriteInfo>((r) => (resolveWrite = r));
    const p = processor({ stream, store, idleWaitMs: 60_000, onFeatureWrite: (i) => resolveWrite(i) });
    await p.start();
    await p.start();
    await put(stream, [tel('bg-1', [['t', Date.now(), 21.5]])]);
    const info = await written;
    expect(info.deviceId).toBe('bg-1');
    expect((await store.get('device_features', 'bg-1'))!.features.t_last).toBe(21.5);
    const t0 = Date.now();
    await p.close();
    await p.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(p.step()).rejects.toMatchObject({ code: 'EL_ERR_CLOSED' });
  });

  it('re-processes records whose checkpoint was lost without counting them twice in windows', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir, 1);
    // the first processor "crashes" after its feature write: its checkpoints never land
    const noCheckpoints: Stream = {
      name: stream.name,
      start: () => stream.start(),
      close: () => stream.close(),
      put: (r) => stream.put(r),
      listShards: () => stream.listShards(),
      read: (sh, o) => stream.read(sh, o),
      getCheckpoint: (c, sh) => stream.getCheckpoint(c, sh),
      checkpoint: async () => {
        throw new Error('power cut (simulated by the test)');
      },
    };
    await put(stream, [
      tel('c1', [
        ['x', 10_000, 1],
        ['x', 30_000, 3],
        ['x', 70_000, 5],
      ]),
    ]);
    const first = new Processor({ stream: noCheckpoints, store, aggregation: { allowedLatenessMs: 0 } });
    await first.step();
    await first.close();
    expect((await store.get('device_features', 'c1'))!.features).toMatchObject({ x_count_1m: 2, x_mean_1m: 2 });
    expect(await stream.getCheckpoint('processor', (await stream.listShards())[0]!)).toBeUndefined();
    const second = processor({ stream, store, aggregation: { allowedLatenessMs: 0 } });
    expect(await second.drain()).toBe(1); // the same record again
    const f = (await store.get('device_features', 'c1'))!.features;
    expect(f).toMatchObject({ x_count_1m: 2, x_mean_1m: 2, x_last: 5 });
    expect(f.late_readings).toBe(2); // the re-delivered readings older than the stored event time count as late
  });

  it('evicts the least recently active devices beyond maxDevices and re-seeds them from the store', async () => {
    const dir = tempDir();
    const { stream, store } = await env(dir, 1);
    const p = processor({ stream, store, maxDevices: 2, aggregation: { allowedLatenessMs: 0 } });
    await put(stream, [tel('e1', [['x', 10_000, 1]])]);
    await p.drain();
    await put(stream, [tel('e2', [['x', 10_000, 2]]), tel('e3', [['x', 10_000, 3]])]);
    await p.drain();
    expect(p.stats()).toMatchObject({ evictedDevices: 1, aggregator: { devices: 2 } });
    // e1 comes back: its stored record is the seed, so an old reading is late and _last survives
    await put(stream, [tel('e1', [['y', 5000, 9]])]);
    await p.drain();
    expect((await store.get('device_features', 'e1'))!.features).toMatchObject({
      x_last: 1,
      y_last: 9,
      late_readings: 1,
    });
  });

  it('validates its options', () => {
    expect(() => new Processor({} as ProcessorOptions)).toThrow(/"stream" must be a Stream/);
    const fake = { read: () => undefined, putMany: () => undefined } as unknown as Stream & FeatureStore;
    expect(() => new Processor({ stream: fake, store: fake, batchsize: 5 } as unknown as ProcessorOptions)).toThrow(
      /did you mean "batchSize"/,
    );
    expect(() => new Processor({ stream: fake, store: fake, alertRules: ['t >'] })).toThrow(/alert rule/);
  });
});
