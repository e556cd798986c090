import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteDlq } from '../../../cloud/dlq/sqlite-dlq.ts';
import { ManualClock } from '../../../lib/clock.ts';

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-dlq-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('SqliteDlq', () => {
  it('stores dead letters with reason, topic, truncated payload and counts them', async () => {
    const dir = tempDir();
    const clock = new ManualClock(1_000);
    const dlq = await SqliteDlq.create({ path: join(dir, 'dlq.db'), maxPayloadBytes: 8, clock });
    onTestFinished(() => dlq.close());
    const id1 = dlq.add({
      reason: 'malformed',
      detail: 'seq: expected a non-negative integer',
      code: 'EL_ERR_MESSAGE_INVALID',
      topic: 'edgeloop/v1/d1/telemetry',
      clientId: 'd1',
      deviceId: 'd1',
      payload: Buffer.from('{"bad":true,"x":1}'),
    });
    clock.advance(10);
    dlq.add({
      reason: 'oversized',
      detail: 'too big',
      topic: 'edgeloop/v1/d2/telemetry',
      deviceId: 'd2',
      payload: Buffer.alloc(4),
    });
    const all = dlq.list();
    expect(all.map((d) => d.reason)).toEqual(['oversized', 'malformed']);
    const m = all[1]!;
    expect(m.id).toBe(id1);
    expect(m.at).toBe(1_000);
    expect(m.payload.toString()).toBe('{"bad":t');
    expect(m.payloadBytes).toBe(18);
    expect(m.truncated).toBe(true);
    expect(m.code).toBe('EL_ERR_MESSAGE_INVALID');
    expect(m.deviceId).toBe('d1');
    expect(all[0]!.truncated).toBe(false);
    expect(dlq.list({ reason: 'malformed' }).length).toBe(1);
    expect(dlq.list({ deviceId: 'd2' })[0]!.reason).toBe('oversized');
    expect(dlq.list({ limit: 1, order: 'oldest' })[0]!.id).toBe(id1);
    expect(dlq.counts()).toEqual({
      malformed: 1,
      oversized: 1,
      unauthorized: 0,
      'topic-mismatch': 0,
      'ts-out-of-range': 0,
    });
    expect(dlq.sessionCounts().malformed).toBe(1);
  });

  it('applies retention by rows and age; counts survive pruning and reopening', async () => {
    const dir = tempDir();
    const clock = new ManualClock(0);
    const path = join(dir, 'dlq.db');
    const dlq = await SqliteDlq.create({ path, maxRows: 3, maxAgeMs: 1000, pruneEvery: 1_000_000, clock });
    for (let i = 0; i < 5; i++)
      dlq.add({ reason: 'unauthorized', detail: String(i), topic: 't', payload: Buffer.from([i]) });
    expect(dlq.prune()).toBe(2);
    expect(dlq.list().map((d) => d.detail)).toEqual(['4', '3', '2']);
    clock.advance(2000);
    dlq.add({ reason: 'malformed', detail: 'new', topic: 't', payload: Buffer.alloc(0) });
    expect(dlq.prune()).toBe(3);
    expect(dlq.list().map((d) => d.detail)).toEqual(['new']);
    await dlq.close();
    await dlq.close(); // idempotent
    expect(() => dlq.add({ reason: 'malformed', detail: '', topic: 't', payload: Buffer.alloc(0) })).toThrow(/closed/);
    const ro = await SqliteDlq.create({ path, readonly: true });
    onTestFinished(() => ro.close());
    expect(ro.counts()).toEqual({
      malformed: 1,
      oversized: 0,
      unauthorized: 5,
      'topic-mismatch': 0,
      'ts-out-of-range': 0,
    });
  });

  it('rejects bad options and unreadable paths with clear errors', async () => {
    expect(() => new SqliteDlq({ path: ':memory:', maxRow: 3 } as never)).toThrow(/unknown option "maxRow"/);
    expect(() => new SqliteDlq({ path: ':memory:', maxRows: -1 })).toThrow(/maxRows/);
    await expect(SqliteDlq.create({ path: join(tempDir(), 'missing.db'), readonly: true })).rejects.toMatchObject({
      code: 'EL_ERR_DLQ_OPEN',
    });
  });
});
