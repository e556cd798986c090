import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import {
  SqliteOutbox,
  TELEMETRY_ROW_OVERHEAD,
  dropChannel,
  type SqliteOutboxOptions,
} from '../../../agent/outbox/sqlite-outbox.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function open(opts: Partial<SqliteOutboxOptions> & { path: string }): SqliteOutbox {
  const ob = SqliteOutbox.open(opts);
  onTestFinished(() => ob.close());
  return ob;
}

const r = (i: number, sensor = 't') => ({ sensor, ts: 1_000 + i, value: i });

describe('SqliteOutbox', () => {
  it('assigns one increasing seq across telemetry and events, persisted across reopen', async () => {
    const path = join(tempDir(), 'o.db');
    const clock = new ManualClock(5_000);
    let ob = SqliteOutbox.open({ path, clock });
    const p1 = ob.append([r(1), r(2), r(3)]);
    const p2 = ob.append([r(4)]);
    ob.flushIntake();
    expect(await p1).toEqual({ firstSeq: 1, lastSeq: 3 });
    expect(await p2).toEqual({ firstSeq: 4, lastSeq: 4 });
    expect(ob.appendEvents([{ ts: 9, kind: 'anomaly', severity: 'warning', score: 2 }])).toEqual({
      firstSeq: 5,
      lastSeq: 5,
    });
    ob.close();
    ob = open({ path, clock });
    expect(ob.lastSeq).toBe(5);
    expect(ob.telemetryCount).toBe(4);
    expect(ob.eventCount).toBe(1);
    const p = ob.append([r(6)]);
    ob.flushIntake();
    expect(await p).toEqual({ firstSeq: 6, lastSeq: 6 });
  });

  it('commits after intakeLingerMs or intakeMaxRows, not before', async () => {
    const clock = new ManualClock(0);
    const ob = open({ path: join(tempDir(), 'o.db'), clock, intakeLingerMs: 5, intakeMaxRows: 10 });
    let done = false;
    const p = ob.append([r(1)]).then(() => (done = true));
    await Promise.resolve();
    expect(ob.intakeBuffered).toBe(1);
    expect(ob.telemetryCount).toBe(0);
    clock.advance(5);
    await p;
    expect(done).toBe(true);
    expect(ob.telemetryCount).toBe(1);
    const q = ob.append(Array.from({ length: 10 }, (_, i) => r(i)));
    expect(ob.intakeBuffered).toBe(0); // flushed synchronously at the row bound
    expect(await q).toEqual({ firstSeq: 2, lastSeq: 11 });
  });

  it('hands out the events lane and telemetry by cursor, cut by count and bytes; ack deletes; rewind re-sends', async () => {
    const ob = open({ path: join(tempDir(), 'o.db') });
    const p = ob.append(Array.from({ length: 250 }, (_, i) => r(i, i % 2 ? 'vibration' : 'température')));
    ob.flushIntake();
    await p;
    ob.appendEvents([{ ts: 1, kind: 'alert', severity: 'info' }]);
    const e = ob.nextBatch('events', 100, 10_000)!;
    expect(e.count).toBe(1);
    expect(JSON.parse(e.json)[0]).toMatchObject({ seq: 251, kind: 'alert' });
    expect(ob.nextBatch('events', 100, 10_000)).toBeUndefined();
    const a = ob.nextBatch('telemetry', 100, 1_000_000)!;
    expect([a.firstSeq, a.lastSeq, a.count]).toEqual([1, 100, 100]);
    const rows = JSON.parse(a.json);
    expect(rows[0]).toEqual({ seq: 1, sensor: 'température', ts: 1000, value: 0 });
    const b = ob.nextBatch('telemetry', 1000, 2_000)!;
    expect(Buffer.byteLength(b.json)).toBeLessThanOrEqual(2_000);
    expect(b.firstSeq).toBe(101);
    expect(JSON.parse(b.json).length).toBe(b.count);
    ob.ack(a);
    expect(ob.telemetryCount).toBe(150);
    ob.rewind();
    const again = ob.nextBatch('telemetry', 1000, 1_000_000)!;
    expect(again.firstSeq).toBe(101);
    expect(again.count).toBe(150);
    ob.ack(again);
    ob.ack(e);
    expect(ob.stats()).toMatchObject({ telemetry: 0, events: 0, bytes: 0 });
  });

  it('over the byte bound drops exactly the oldest telemetry, never events, and counts it; then refuses telemetry', async () => {
    const path = join(tempDir(), 'o.db');
    const per = TELEMETRY_ROW_OVERHEAD + 1; // sensor "t"
    const seen: Array<{ reason: string; count: number }> = [];
    const onDrop = (m: unknown): void => void seen.push(m as { reason: string; count: number });
    dropChannel.subscribe(onDrop);
    onTestFinished(() => void dropChannel.unsubscribe(onDrop));
    const ob = open({ path, maxBytes: per * 100 });
    const p = ob.append(Array.from({ length: 100 }, (_, i) => r(i)));
    ob.flushIntake();
    await p;
    expect(ob.stats()).toMatchObject({ telemetry: 100, bytes: per * 100, drops: { bytes: 0 } });
    const q = ob.append(Array.from({ length: 30 }, (_, i) => r(100 + i)));
    ob.flushIntake();
    expect(await q).toEqual({ firstSeq: 101, lastSeq: 130 });
    expect(ob.stats()).toMatchObject({ telemetry: 100, drops: { bytes: 30 } });
    expect(ob.nextBatch('telemetry', 1, 1e6)!.firstSeq).toBe(31);
    // an event needs room: more telemetry goes, the event stays
    const ev = {
      ts: 1,
      kind: 'anomaly' as const,
      severity: 'critical' as const,
      context: { pad: 'x'.repeat(per * 60) },
    };
    ob.appendEvents([ev]);
    const s = ob.stats();
    expect(s.events).toBe(1);
    expect(s.bytes).toBeLessThanOrEqual(per * 100);
    const dropped = s.drops.bytes - 30;
    expect(s.telemetry).toBe(100 - dropped);
    // fill with events until only events remain, then telemetry is refused with EL_ERR_OUTBOX_FULL
    expect(() => ob.appendEvents([ev])).toThrow(expect.objectContaining({ code: 'EL_ERR_OUTBOX_FULL' }));
    const before = ob.stats();
    expect(before.events).toBe(1); // the events already in stay
    // an event exactly as large as the room left besides the first event: fits by dropping all telemetry
    const firstEventBytes = s.bytes - s.telemetry * per;
    const shell = JSON.stringify({ ...ev, context: { pad: '' }, seq: ob.lastSeq + 1 }).length;
    const big = { ...ev, context: { pad: 'y'.repeat(per * 100 - firstEventBytes - shell) } };
    ob.appendEvents([big]);
    expect(ob.stats().telemetry).toBe(0);
    const refused = ob.append([r(1)]);
    ob.flushIntake();
    await expect(refused).rejects.toMatchObject({ code: 'EL_ERR_OUTBOX_FULL' });
    const fin = ob.stats();
    expect(fin.events).toBe(2);
    expect(fin.refused).toBe(2); // one event, one reading
    expect(fin.drops.bytes).toBe(130);
    expect(fin.bytes).toBe(per * 100);
    // the same drops and refusals on the diagnostics channel
    const sum = (reason: string) => seen.filter((x) => x.reason === reason).reduce((a, x) => a + x.count, 0);
    expect([sum('bytes'), sum('refused')]).toEqual([130, 2]);
    ob.close();
    // counters survive a restart
    const again = open({ path, maxBytes: per * 100 });
    expect(again.stats()).toMatchObject({ events: 2, refused: 2, drops: { bytes: 130 } });
  });

  it('drops telemetry older than maxAgeMs by acceptance time (counted), keeps events and young rows', async () => {
    const clock = new ManualClock(1_000_000);
    const ob = open({ path: join(tempDir(), 'o.db'), clock, maxAgeMs: 60_000 });
    const a = ob.append([r(1), r(2)]);
    ob.flushIntake();
    await a;
    ob.appendEvents([{ ts: 1, kind: 'alert', severity: 'info' }]);
    clock.advance(30_000);
    const b = ob.append([r(3)]);
    ob.flushIntake();
    await b;
    expect(ob.stats().oldestAgeMs).toBe(30_000);
    clock.advance(30_001);
    expect(ob.prune()).toBe(2);
    const s = ob.stats();
    expect(s).toMatchObject({ telemetry: 1, events: 1, drops: { age: 2, bytes: 0 } });
    expect(s.oldestAgeMs).toBe(60_001); // the event, accepted with the first two readings
  });

  it('migrates a fresh file to the current schema and refuses a newer one', () => {
    const path = join(tempDir(), 'o.db');
    SqliteOutbox.open({ path }).close();
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.pragma('user_version = 99');
    db.close();
    expect(() => SqliteOutbox.open({ path })).toThrow(expect.objectContaining({ code: 'EL_ERR_OUTBOX_SCHEMA' }));
  });

  it('rejects misspelled and bad options; use after close throws EL_ERR_CLOSED', () => {
    expect(() => new SqliteOutbox({ path: 'x', maxbytes: 1 } as never)).toThrow(/unknown option "maxbytes"/);
    expect(() => new SqliteOutbox({ path: 'x', durability: 'fast' as never })).toThrow(/durability/);
    const ob = SqliteOutbox.open({ path: ':memory:' });
    ob.close();
    ob.close();
    expect(() => ob.append([r(1)])).toThrow(expect.objectContaining({ code: 'EL_ERR_CLOSED' }));
  });

  it('writes each record\'s numbers as JSON.stringify does: whole numbers without ".0", others round-trip exactly', async () => {
    const ob = open({ path: ':memory:' });
    const readings = [
      { sensor: 'a', ts: 1_795_639_826_842, value: 300.60756260952638 },
      { sensor: 'b', ts: 1.5, value: 1500 },
      { sensor: 'c', ts: 0, value: -2.5e-7 },
      { sensor: 'd', ts: 2, value: 1e300 },
      { sensor: 'e', ts: 3, value: 2 ** 53 + 2 },
    ];
    const p = ob.append(readings);
    ob.flushIntake();
    await p;
    const json = ob.nextBatch('telemetry', 10, 100_000)!.json;
    expect(json).toContain('{"seq":1,"sensor":"a","ts":1795639826842,"value":300.60756260952638}');
    expect(json).toContain('"ts":1.5,"value":1500}');
    expect(json).not.toMatch(/\d\.0[,}]/);
    expect(
      (JSON.parse(json) as Array<{ sensor: string; ts: number; value: number }>).map(({ sensor, ts, value }) => ({
        sensor,
        ts,
        value,
      })),
    ).toEqual(readings);
  });

  it("runs WAL with the configured durability and a bounded page cache (not better-sqlite3's 16 MiB default)", () => {
    const dir = tempDir();
    expect(open({ path: join(dir, 'a.db') }).sqliteSettings()).toEqual({
      journalMode: 'wal',
      synchronous: 'normal',
      cacheKiB: 2048,
    });
    expect(open({ path: join(dir, 'b.db'), durability: 'full', cacheKiB: 512 }).sqliteSettings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      cacheKiB: 512,
    });
    // what the outbox replaces: a bare better-sqlite3 connection
    const bare = new Database(join(dir, 'c.db'));
    expect(bare.pragma('cache_size', { simple: true })).toBe(-16000);
    bare.close();
    expect(() => new SqliteOutbox({ path: 'x', cacheKiB: 10 })).toThrow(
      /cacheKiB: Too small: expected number to be >=64/,
    );
  });
});
