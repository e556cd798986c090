import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ingest } from '../../../cloud/ingest/ingest.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';
import { enc, events, range, readAll, setupIngest, telemetry } from './ingest-helpers.ts';

const T = (d: string): string => `edgeloop/v1/${d}/telemetry`;

const setup = setupIngest;

describe('Ingest', () => {
  it('puts valid messages into the stream, one record per message, partition key = deviceId', async () => {
    const { ingest, stream } = await setup();
    const outcomes = await Promise.all([
      ingest.accept({ topic: T('dev-a'), payload: enc(telemetry('dev-a', 1, 100)) }),
      ingest.accept({ topic: T('dev-b'), payload: enc(telemetry('dev-b', 1, 50)) }),
      ingest.accept({ topic: 'edgeloop/v1/dev-a/events', payload: enc(events('dev-a', 101)) }),
      ingest.accept({
        topic: 'edgeloop/v1/dev-a/status',
        payload: enc({ v: 1, type: 'status', deviceId: 'dev-a', seq: 101, ts: 1, online: true }),
      }),
    ]);
    expect(outcomes).toEqual(['stored', 'stored', 'stored', 'stored']);
    const back = await readAll(stream);
    expect(back.records.length).toBe(4);
    for (const r of back.records) expect(r.partitionKey).toBe(r.message.deviceId);
    expect(back.seqs.get('dev-a')!.sort((a, b) => a - b)).toEqual(range(1, 101)); // status carries no records
    expect(ingest.stats()).toMatchObject({ readings: 150, events: 1, stored: 4, deadLetters: 0 });
  });

  it('drops duplicate records per (deviceId, seq) and re-encodes partial overlaps', async () => {
    const { ingest, stream } = await setup();
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).toBe('stored');
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).toBe('duplicate');
    // a resend cut differently: 6..15 overlaps 6..10
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 6, 10)) })).toBe('stored');
    // the same seq twice inside one message counts once
    const m = telemetry('d', 16, 2);
    m.readings.push({ ...m.readings[0]! });
    expect(await ingest.accept({ topic: T('d'), payload: enc(m) })).toBe('stored');
    const back = await readAll(stream);
    expect(back.seqs.get('d')).toEqual(range(1, 17));
    const partial = back.records[1]!.message;
    expect(partial.seq).toBe(11);
    expect((partial.readings as unknown[]).length).toBe(5);
    expect(ingest.stats()).toMatchObject({ duplicateRecords: 16, duplicateMessages: 1, readings: 17 });
  });

  it('handles gaps, out-of-order and descending seqs (the slow path) alongside in-order batches (the fast path)', async () => {
    const { ingest, stream } = await setup();
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).toBe('stored'); // fast
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 21, 10)) })).toBe('stored'); // fast, leaves a gap
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 11, 10)) })).toBe('stored'); // fills the gap
    const desc = telemetry('d', 31, 5);
    desc.readings.reverse();
    expect(await ingest.accept({ topic: T('d'), payload: enc(desc) })).toBe('stored');
    expect(await ingest.accept({ topic: T('d'), payload: enc(desc) })).toBe('duplicate');
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 15, 10)) })).toBe('duplicate');
    expect((await readAll(stream)).seqs.get('d')!.sort((a, b) => a - b)).toEqual(range(1, 35));
  });

  it('dead-letters malformed, oversized and mismatched messages while the valid ones around them arrive', async () => {
    const { ingest, stream, dlq } = await setup({ maxPayloadBytes: 4096 });
    const results = await Promise.all([
      ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 5)) }),
      ingest.accept({ topic: T('d'), payload: Buffer.from('{not json'), clientId: 'd' }),
      ingest.accept({ topic: T('d'), payload: enc({ ...telemetry('d', 6, 1), seq: -1 } as never) }),
      ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 100, 200)) }), // > 4096 bytes
      ingest.accept({ topic: T('d'), payload: enc(telemetry('other', 1, 1)) }), // body says another device
      ingest.accept({ topic: 'edgeloop/v1/d/events', payload: enc(telemetry('d', 7, 1)) }), // wrong type for topic
      ingest.accept({ topic: T('d'), payload: Buffer.from([0xff, 0xfe]) }), // not UTF-8
      ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 6, 5)) }),
      ingest.accept({ topic: 'some/other/topic', payload: Buffer.from('x') }),
    ]);
    expect(results).toEqual([
      'stored',
      'dead-letter',
      'dead-letter',
      'dead-letter',
      'dead-letter',
      'dead-letter',
      'dead-letter',
      'stored',
      'ignored',
    ]);
    expect((await readAll(stream)).seqs.get('d')).toEqual(range(1, 10));
    const dl = dlq.list({ order: 'oldest' });
    expect(dl.map((d) => d.reason)).toEqual([
      'malformed',
      'malformed',
      'oversized',
      'topic-mismatch',
      'topic-mismatch',
      'malformed',
    ]);
    expect(dl[0]!.detail).toMatch(/not JSON/);
    expect(dl[0]!.clientId).toBe('d');
    expect(dl[1]!.detail).toMatch(/^seq: expected a non-negative integer/);
    expect(dl[2]!.detail).toMatch(/over the 4096-byte limit/);
    expect(dl[3]!.detail).toMatch(/deviceId other/);
    expect(dl[4]!.detail).toMatch(/events messages, the message is telemetry/);
    expect(dl[5]!.detail).toMatch(/UTF-8/);
    expect(ingest.stats().deadLetters).toBe(6);
  });

  it('keeps dedup state across a restart (persisted in SQLite)', async () => {
    const first = await setup();
    await first.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 100)) });
    await first.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 150, 10)) });
    await first.close();
    const second = await setup({}, first.dir);
    expect(await second.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 100)) })).toBe('duplicate');
    expect(await second.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 90, 70)) })).toBe('stored');
    const back = await readAll(second.stream);
    expect(back.seqs.get('d')!.sort((a, b) => a - b)).toEqual(range(1, 159));
  });

  it('recovers dedup state from the stream tail: a crash between the stream commit and the dedup commit double-counts nothing', async () => {
    const first = await setup();
    await first.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) });
    await first.close();
    // what a kill -9 right after Stream.put leaves behind: records in the stream the dedup store never saw
    const second = await setup({}, first.dir);
    await second.ingest.close();
    await second.stream.inner.put([{ partitionKey: 'd', data: enc(telemetry('d', 11, 10)) }]);
    await second.dlq.close();
    await second.stream.close();
    const third = await setup({}, first.dir);
    expect(third.ingest.recoveredRecords).toBe(1); // only the tail after the recovery checkpoint was re-read
    expect(await third.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 11, 10)) })).toBe('duplicate');
    expect(await third.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 25)) })).toBe('stored');
    expect((await readAll(third.stream)).seqs.get('d')).toEqual(range(1, 25));
  });

  it('rebuilds a deleted dedup store from the whole stream', async () => {
    const first = await setup();
    await first.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) });
    await first.ingest.accept({ topic: T('e'), payload: enc(telemetry('e', 1, 10)) });
    await first.close();
    await first.close();
    for (const f of ['dedup.db', 'dedup.db-wal', 'dedup.db-shm']) rmSync(join(first.dir, f), { force: true });
    const second = await setup({}, first.dir);
    expect(second.ingest.recoveredRecords).toBe(2);
    expect(await second.ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).toBe('duplicate');
    expect(await second.ingest.accept({ topic: T('e'), payload: enc(telemetry('e', 5, 10)) })).toBe('stored');
    expect((await readAll(second.stream)).seqs.get('e')!.sort((a, b) => a - b)).toEqual(range(1, 14));
  });

  it('does not acknowledge a batch the stream refused, and rolls back its dedup marks', async () => {
    const { ingest, stream } = await setup();
    stream.failNext = 2; // both attempts fail
    await expect(ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).rejects.toMatchObject({
      code: 'EL_ERR_INGEST_STREAM_PUT',
    });
    expect(ingest.stats().putFailures).toBe(1);
    // the redelivery is stored, not mistaken for a duplicate
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) })).toBe('stored');
    // one failure then success: retried internally
    stream.failNext = 1;
    expect(await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 11, 10)) })).toBe('stored');
    expect((await readAll(stream)).seqs.get('d')).toEqual(range(1, 20));
  });

  it('a duplicate of a record still in flight waits for (and shares the fate of) its batch', async () => {
    const { ingest, stream } = await setup();
    stream.failNext = 2;
    const a = ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) });
    const b = ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1, 10)) });
    await expect(a).rejects.toMatchObject({ code: 'EL_ERR_INGEST_STREAM_PUT' });
    await expect(b).rejects.toMatchObject({ code: 'EL_ERR_INGEST_STREAM_PUT' });
    expect((await readAll(stream)).records.length).toBe(0);
  });

  it('batches concurrent messages into few puts, bounded by maxBatchRecords', async () => {
    const { ingest, stream } = await setup({ maxBatchRecords: 50 });
    const all = [];
    for (let i = 0; i < 400; i++)
      all.push(
        ingest.accept({
          topic: T(`dev-${i % 20}`),
          payload: enc(telemetry(`dev-${i % 20}`, 1 + Math.floor(i / 20) * 10, 10)),
        }),
      );
    expect(new Set(await Promise.all(all))).toEqual(new Set(['stored']));
    expect(Math.max(...stream.puts)).toBeLessThanOrEqual(50);
    expect(stream.puts.reduce((a, b) => a + b, 0)).toBe(400);
    expect(stream.puts.length).toBeLessThan(400 / 10);
    const back = await readAll(stream);
    for (let d = 0; d < 20; d++) expect(back.seqs.get(`dev-${d}`)!.sort((a, b) => a - b)).toEqual(range(1, 200));
  });

  it('applies backpressure at maxPendingRecords and flushes on close', async () => {
    const { ingest, stream } = await setup({ maxPendingRecords: 5, maxBatchRecords: 5 });
    const all = Array.from({ length: 30 }, (_, i) =>
      ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 1 + i * 2, 2)) }),
    );
    expect(ingest.stats().pendingRecords).toBeLessThanOrEqual(5);
    await Promise.all(all);
    const late = ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 100, 1)) });
    await ingest.close();
    expect(await late).toBe('stored');
    await expect(ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 200, 1)) })).rejects.toMatchObject({
      code: 'EL_ERR_CLOSED',
    });
    expect((await readAll(stream)).seqs.get('d')!.length).toBe(61);
  });

  it('validates options', () => {
    const base = { stream: {} as Stream, dlq: { add: () => 0 }, dedupPath: ':memory:' };
    expect(() => new Ingest({ ...base, maxBatchRecord: 5 } as never)).toThrow(/unknown option "maxBatchRecord"/);
    expect(() => new Ingest({ ...base, maxBatchRecords: 0 })).toThrow(
      /maxBatchRecords: Too small: expected number to be >=1/,
    );
    expect(() => new Ingest({ ...base, lingerMs: -1 })).toThrow(/lingerMs/);
  });
});
