import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream, type LocalStreamOptions } from '../../../cloud/stream/local-stream.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { isEdgeloopError } from '../../../protocol/errors.ts';
import { describeStreamContract } from './stream-contract.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-stream-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describeStreamContract('LocalStream', {
  async open({ shardCount }) {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-stream-'));
    const path = join(dir, 'stream.db');
    return {
      async newInstance() {
        const s = new LocalStream({ path, shardCount, pollIntervalMs: 50 });
        await s.start();
        return s;
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

async function open(opts: Partial<LocalStreamOptions> & { path: string }): Promise<LocalStream> {
  const s = new LocalStream(opts);
  await s.start();
  onTestFinished(() => s.close());
  return s;
}

const enc = (s: string): Buffer => Buffer.from(s);

describe('LocalStream', () => {
  it('validates options and names the misspelled one', () => {
    expect(() => new LocalStream({ path: 'x.db', shardcount: 2 } as unknown as LocalStreamOptions)).toThrow(
      /unknown option "shardcount" \(did you mean "shardCount"\?\)/,
    );
    expect(() => new LocalStream({ path: 'x.db', shardCount: 0 })).toThrow(
      /shardCount: Too small: expected number to be >=1/,
    );
    expect(() => new LocalStream({ path: 'x.db', synchronous: 'OFF' as 'FULL' })).toThrow(
      /synchronous: Invalid option: expected one of/,
    );
    expect(() => new LocalStream({} as LocalStreamOptions)).toThrow(/path: required/);
  });

  it('uses WAL and the configured synchronous level, and refuses a different shard count later', async () => {
    const path = join(tempDir(), 's.db');
    const s = new LocalStream({ path, shardCount: 3, synchronous: 'NORMAL' });
    await s.start();
    await s.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const other = new LocalStream({ path, shardCount: 4 });
    let caught: unknown;
    await other.start().catch((e: unknown) => (caught = e));
    expect(isEdgeloopError(caught, 'EL_ERR_STREAM_SHARD_COUNT_MISMATCH')).toBe(true);
    await other.close();
  });

  it('refuses use before start()', async () => {
    const s = new LocalStream({ path: ':memory:' });
    await expect(s.put([{ partitionKey: 'k', data: enc('x') }])).rejects.toMatchObject({
      code: 'EL_ERR_STREAM_NOT_STARTED',
    });
    await s.close();
  });

  it('prunes by age on its timer, and a consumer behind retention resumes at the oldest record', async () => {
    const clock = new ManualClock(1_000_000);
    const s = await open({
      path: join(tempDir(), 's.db'),
      shardCount: 1,
      retentionMs: 10_000,
      pruneIntervalMs: 1000,
      clock,
    });
    const [shard] = await s.listShards();
    await s.put([
      { partitionKey: 'k', data: enc('old1') },
      { partitionKey: 'k', data: enc('old2') },
    ]);
    const old = await s.read(shard!, { consumer: 'c' });
    await s.checkpoint('c', shard!, old.records[0]!.sequenceNumber);
    clock.advance(6000);
    await s.put([{ partitionKey: 'k', data: enc('new') }]);
    clock.advance(5000); // old records are now 11 s old; the timer ran at +11 s
    expect(s.stats()).toMatchObject({ records: 1, pruned: 2, bytes: 4 });
    const after = await s.read(shard!, { consumer: 'c' });
    expect(after.records.map((r) => r.data.toString())).toEqual(['new']);
  });

  it('prunes oldest records while stored bytes exceed retentionBytes', async () => {
    const s = await open({ path: join(tempDir(), 's.db'), shardCount: 2, retentionBytes: 1000 });
    for (let i = 0; i < 10; i++) await s.put([{ partitionKey: `k${i}`, data: Buffer.alloc(198, i) }]); // 200 B each
    const st = s.stats();
    expect(st.bytes).toBeLessThanOrEqual(1000);
    expect(st.records).toBe(5);
    const shards = await s.listShards();
    const left: number[] = [];
    for (const sh of shards) for (const r of (await s.read(sh, { consumer: 'c' })).records) left.push(r.data[0]!);
    expect(left.sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9]);
  });

  it('wakes a waiter in another instance on the same file through the fallback poll', async () => {
    const path = join(tempDir(), 's.db');
    const writer = await open({ path, shardCount: 1 });
    const reader = await open({ path, shardCount: 1, pollIntervalMs: 20 });
    const [shard] = await reader.listShards();
    await reader.read(shard!, { consumer: 'r' });
    const waiting = reader.waitForRecords({ timeoutMs: 30_000 });
    await writer.put([{ partitionKey: 'k', data: enc('from-writer') }]);
    expect(await waiting).toBe(true);
    const got = await reader.read(shard!, { consumer: 'r' });
    expect(got.records.map((r) => r.data.toString())).toEqual(['from-writer']);
  });

  it('does not miss a put that lands between reading one shard and waiting', async () => {
    const s = await open({ path: join(tempDir(), 's.db'), shardCount: 2 });
    const [s0] = await s.listShards();
    await s.read(s0!, { consumer: 'c' });
    await s.put([{ partitionKey: 'late', data: enc('x') }]);
    expect(await s.waitForRecords({ timeoutMs: 30_000 })).toBe(true);
  });

  it('rejects a position that is not a sequence number', async () => {
    const s = await open({ path: ':memory:', shardCount: 1 });
    const [shard] = await s.listShards();
    await expect(s.read(shard!, { consumer: 'c', position: 'abc' })).rejects.toMatchObject({
      code: 'EL_ERR_STREAM_POSITION_INVALID',
    });
    await expect(s.checkpoint('c', shard!, '-1')).rejects.toMatchObject({ code: 'EL_ERR_STREAM_POSITION_INVALID' });
  });

  it('refuses a database with a newer schema version', async () => {
    const path = join(tempDir(), 's.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    const s = new LocalStream({ path });
    await expect(s.start()).rejects.toMatchObject({ code: 'EL_ERR_STREAM_SCHEMA' });
    await s.close();
  });
});
