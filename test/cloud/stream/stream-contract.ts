/**
 * The Stream contract: every Stream implementation runs this suite (LocalStream on SQLite, KinesisStream on
 * kinesalite). `open()` makes a fresh, empty backing store; `newInstance()` returns a started Stream over it, so
 * "a new instance resumes from its checkpoint" can be tested; `cleanup()` removes the backing store.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { isEdgeloopError } from '../../../protocol/errors.ts';
import type { StoredRecord, Stream } from '../../../cloud/stream/stream.ts';

export interface StreamBacking {
  newInstance(): Promise<Stream>;
  cleanup(): Promise<void>;
}

export interface StreamContractFactory {
  open(opts: { shardCount: number }): Promise<StreamBacking>;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const dec = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

async function readAll(stream: Stream, consumer: string, limit = 100): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for (const shard of await stream.listShards()) {
    let position: string | undefined;
    for (;;) {
      const batch = await stream.read(shard, { consumer, position, limit });
      out.push(...batch.records);
      position = batch.position;
      if (batch.records.length === 0 || batch.endOfShard) break;
    }
  }
  return out;
}

function cmpSeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(isEdgeloopError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

export function describeStreamContract(name: string, factory: StreamContractFactory): void {
  describe(`Stream contract: ${name}`, () => {
    async function setup(shardCount = 4): Promise<{ backing: StreamBacking; stream: Stream }> {
      const backing = await factory.open({ shardCount });
      const stream = await backing.newInstance();
      onTestFinished(async () => {
        await stream.close();
        await backing.cleanup();
      });
      return { backing, stream };
    }

    it('round-trips records: data, partition key, shard, sequence number, arrival time', async () => {
      const { stream } = await setup();
      const before = Date.now();
      const res = await stream.put([
        { partitionKey: 'dev-1', data: enc('{"a":1}') },
        { partitionKey: 'dev-2', data: enc('{"b":2}') },
        { partitionKey: 'dev-1', data: new Uint8Array([0, 255, 7]) },
      ]);
      expect(res.count).toBe(3);
      expect(await stream.put([])).toEqual({ count: 0 });
      const all = await readAll(stream, 'c1');
      expect(all).toHaveLength(3);
      const shards = await stream.listShards();
      for (const r of all) {
        expect(shards).toContain(r.shardId);
        expect(typeof r.sequenceNumber).toBe('string');
        expect(r.arrivedAt).toBeGreaterThanOrEqual(before - 5000);
        expect(r.arrivedAt).toBeLessThanOrEqual(Date.now() + 5000);
      }
      const dev1 = all.filter((r) => r.partitionKey === 'dev-1');
      expect(dev1.map((r) => [...r.data])).toEqual([[...enc('{"a":1}')], [0, 255, 7]]);
      expect(dec(all.find((r) => r.partitionKey === 'dev-2')!.data)).toBe('{"b":2}');
    });

    it('keeps per-key order across puts and pages, with increasing sequence numbers', async () => {
      const { stream } = await setup(2);
      for (let batch = 0; batch < 5; batch++) {
        const recs = [];
        for (let i = 0; i < 10; i++) {
          const n = batch * 10 + i;
          recs.push({ partitionKey: 'dev-a', data: enc(`a${n}`) }, { partitionKey: 'dev-b', data: enc(`b${n}`) });
        }
        await stream.put(recs);
      }
      const all = await readAll(stream, 'pager', 7);
      for (const key of ['dev-a', 'dev-b']) {
        const mine = all.filter((r) => r.partitionKey === key);
        expect(mine.map((r) => dec(r.data))).toEqual(Array.from({ length: 50 }, (_, n) => `${key.at(-1)}${n}`));
        expect(new Set(mine.map((r) => r.shardId)).size).toBe(1);
        for (let i = 1; i < mine.length; i++)
          expect(cmpSeq(mine[i - 1]!.sequenceNumber, mine[i]!.sequenceNumber)).toBe(-1);
      }
    });

    it('places records in shards by partition key', async () => {
      const { stream } = await setup(4);
      const shards = await stream.listShards();
      expect(shards).toHaveLength(4);
      expect(new Set(shards).size).toBe(4);
      const recs = [];
      for (let d = 0; d < 40; d++)
        for (let i = 0; i < 3; i++) recs.push({ partitionKey: `device-${d}`, data: enc(`${d}:${i}`) });
      await stream.put(recs);
      const all = await readAll(stream, 'c');
      expect(all).toHaveLength(120);
      const shardOfKey = new Map<string, Set<string>>();
      for (const r of all) {
        const s = shardOfKey.get(r.partitionKey) ?? new Set();
        s.add(r.shardId);
        shardOfKey.set(r.partitionKey, s);
      }
      for (const s of shardOfKey.values()) expect(s.size).toBe(1);
      const used = new Set(all.map((r) => r.shardId));
      expect(used.size).toBeGreaterThanOrEqual(3);
    });

    it('resumes each consumer from its own checkpoint in a new instance; an explicit position wins', async () => {
      const { backing, stream } = await setup(1);
      const [shard] = await stream.listShards();
      await stream.put(Array.from({ length: 6 }, (_, i) => ({ partitionKey: 'k', data: enc(`r${i}`) })));
      const first = await stream.read(shard!, { consumer: 'proc', limit: 3 });
      expect(first.records.map((r) => dec(r.data))).toEqual(['r0', 'r1', 'r2']);
      expect(await stream.getCheckpoint('proc', shard!)).toBeUndefined();
      await stream.checkpoint('proc', shard!, first.records[2]!.sequenceNumber);
      expect(await stream.getCheckpoint('proc', shard!)).toBe(first.records[2]!.sequenceNumber);
      await stream.close();

      const again = await backing.newInstance();
      onTestFinished(() => again.close());
      const resumed = await again.read(shard!, { consumer: 'proc', limit: 10 });
      expect(resumed.records.map((r) => dec(r.data))).toEqual(['r3', 'r4', 'r5']);
      expect(resumed.position).toBe(resumed.records[2]!.sequenceNumber);
      const other = await again.read(shard!, { consumer: 'someone-else', limit: 10 });
      expect(other.records.map((r) => dec(r.data))).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
      const explicit = await again.read(shard!, { consumer: 'proc', position: first.records[0]!.sequenceNumber });
      expect(explicit.records.map((r) => dec(r.data))).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
      // nothing new after the last record: empty batch, position stays usable
      const tail = await again.read(shard!, { consumer: 'proc', position: resumed.position });
      expect(tail.records).toEqual([]);
      await again.put([{ partitionKey: 'k', data: enc('r6') }]);
      const more = await again.read(shard!, { consumer: 'proc', position: tail.position ?? resumed.position });
      expect(more.records.map((r) => dec(r.data))).toEqual(['r6']);
    });

    it('checkpointMany() records several shards at once', async () => {
      const { backing, stream } = await setup(2);
      if (!stream.checkpointMany) return;
      await stream.put(Array.from({ length: 20 }, (_, i) => ({ partitionKey: `key-${i}`, data: enc(`m${i}`) })));
      const shards = await stream.listShards();
      const lasts = await Promise.all(
        shards.map(async (sh) => (await stream.read(sh, { consumer: 'many' })).records.at(-1)),
      );
      expect(lasts.every((r) => r !== undefined)).toBe(true);
      await stream.checkpointMany(
        'many',
        lasts.map((r) => ({ shardId: r!.shardId, sequenceNumber: r!.sequenceNumber })),
      );
      await stream.close();
      const again = await backing.newInstance();
      onTestFinished(() => again.close());
      for (let i = 0; i < shards.length; i++) {
        expect(await again.getCheckpoint('many', shards[i]!)).toBe(lasts[i]!.sequenceNumber);
        expect((await again.read(shards[i]!, { consumer: 'many' })).records).toEqual([]);
      }
      await expectCode(
        again.checkpointMany!('many', [{ shardId: shards[0]!, sequenceNumber: 'x' }]),
        'EL_ERR_STREAM_POSITION_INVALID',
      );
    });

    it('refuses a record over 1 MiB, a bad partition key and an unknown shard, with clear errors', async () => {
      const { stream } = await setup(1);
      const key = 'dev-big';
      await expectCode(
        stream.put([{ partitionKey: key, data: Buffer.alloc(1024 * 1024 + 1 - key.length) }]),
        'EL_ERR_STREAM_RECORD_TOO_LARGE',
      );
      await expectCode(stream.put([{ partitionKey: '', data: enc('x') }]), 'EL_ERR_STREAM_RECORD_INVALID');
      await expectCode(stream.put([{ partitionKey: 'k'.repeat(257), data: enc('x') }]), 'EL_ERR_STREAM_RECORD_INVALID');
      await expectCode(
        stream.put([{ partitionKey: 'k', data: 'text' as unknown as Uint8Array }]),
        'EL_ERR_STREAM_RECORD_INVALID',
      );
      // a whole put is refused when one record is bad: nothing was stored
      await expectCode(
        stream.put([
          { partitionKey: 'ok', data: enc('fine') },
          { partitionKey: key, data: Buffer.alloc(2 * 1024 * 1024) },
        ]),
        'EL_ERR_STREAM_RECORD_TOO_LARGE',
      );
      expect(await readAll(stream, 'c')).toEqual([]);
      // exactly at the limit is accepted
      await stream.put([{ partitionKey: key, data: Buffer.alloc(1024 * 1024 - key.length, 1) }]);
      const [rec] = await readAll(stream, 'c');
      expect(rec!.data.byteLength).toBe(1024 * 1024 - key.length);
      await expectCode(stream.read('shardId-999999999999', { consumer: 'c' }), 'EL_ERR_STREAM_SHARD_UNKNOWN');
    });

    it('wakes a waiting consumer on new data and times out otherwise', async () => {
      const { stream } = await setup(1);
      if (!stream.waitForRecords) return;
      expect(await stream.waitForRecords({ timeoutMs: 20 })).toBe(false);
      const [shard] = await stream.listShards();
      await stream.read(shard!, { consumer: 'w' });
      const waiting = stream.waitForRecords({ timeoutMs: 30_000 });
      await stream.put([{ partitionKey: 'k', data: enc('wake') }]);
      expect(await waiting).toBe(true);
      const ac = new AbortController();
      const aborted = stream.waitForRecords({ timeoutMs: 30_000, signal: ac.signal });
      ac.abort();
      expect(await aborted).toBe(false);
    });

    it('close() is idempotent, ends waits, frees its timers, and later use throws EL_ERR_CLOSED', async () => {
      const backing = await factory.open({ shardCount: 1 });
      onTestFinished(() => backing.cleanup());
      const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const stream = await backing.newInstance();
      await stream.put([{ partitionKey: 'k', data: enc('x') }]);
      const [shard] = await stream.listShards();
      await stream.read(shard!, { consumer: 'c' });
      const pending = stream.waitForRecords?.({ timeoutMs: 60_000 });
      await stream.close();
      await stream.close();
      if (pending !== undefined) expect(await pending).toBe(false);
      await expectCode(stream.put([{ partitionKey: 'k', data: enc('x') }]), 'EL_ERR_CLOSED');
      await expectCode(stream.read(shard!, { consumer: 'c' }), 'EL_ERR_CLOSED');
      await new Promise((r) => setImmediate(r));
      const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      expect(timersAfter).toBeLessThanOrEqual(timersBefore);
    });
  });
}
