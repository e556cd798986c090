/**
 * The outbox on a real full volume (a small tmpfs): new records are refused with EL_ERR_OUTBOX_FULL and counted,
 * deleting acknowledged rows succeeds by giving back the reserve file, and intake resumes once delivered rows have
 * freed pages in the file, while the volume itself stays full.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteOutbox, type SqliteOutboxOptions } from '../../../agent/outbox/sqlite-outbox.ts';
import { admitOnDisk } from '../../../agent/outbox/disk-guard.ts';
import { canMountTmpfs, fillVolume, freeBytes, smallVolume } from '../helpers/small-volume.ts';

const MiB = 1024 * 1024;
const r = (i: number) => ({ sensor: 'vibration', ts: 1_000 + i, value: i });

function open(opts: Partial<SqliteOutboxOptions> & { path: string }): SqliteOutbox {
  const ob = SqliteOutbox.open({ minFreeBytes: 128 * 1024, reserveBytes: MiB, ...opts });
  onTestFinished(() => ob.close());
  return ob;
}

async function appendMany(ob: SqliteOutbox, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = ob.append(Array.from({ length: Math.min(1000, n - i) }, (_, j) => r(i + j)));
    ob.flushIntake();
    await p;
  }
}

/** Move the WAL into the database file and truncate it: the next write then needs new disk for its frames. */
function checkpointTruncate(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function drain(ob: SqliteOutbox): number {
  let n = 0;
  for (let b = ob.nextBatch('telemetry', 2000, 120_000); b; b = ob.nextBatch('telemetry', 2000, 120_000)) {
    ob.ack(b);
    n += b.count;
  }
  return n;
}

describe('admitOnDisk', () => {
  it('admits while minFreeBytes stays free; free pages inside the file count as free', () => {
    expect(admitOnDisk({ freeBytes: 10_000, reusableBytes: 0, incomingBytes: 1000, minFreeBytes: 9000 })).toBe(true);
    expect(admitOnDisk({ freeBytes: 10_000, reusableBytes: 0, incomingBytes: 1001, minFreeBytes: 9000 })).toBe(false);
    expect(admitOnDisk({ freeBytes: 0, reusableBytes: 1_000_000, incomingBytes: 1000, minFreeBytes: 999_000 })).toBe(
      true,
    );
    expect(admitOnDisk({ freeBytes: 0, reusableBytes: 1_000_000, incomingBytes: 1000, minFreeBytes: 999_001 })).toBe(
      false,
    );
  });
});

describe.skipIf(!canMountTmpfs)('SqliteOutbox on a full volume (tmpfs)', () => {
  it('refuses new readings with EL_ERR_OUTBOX_FULL (counted), deletes acknowledged rows through the reserve, then takes readings again', async () => {
    const dir = smallVolume(8 * MiB);
    const path = join(dir, 'outbox.db');
    const ob = open({ path });
    expect(existsSync(`${path}.reserve`)).toBe(true);
    await appendMany(ob, 20_000);
    checkpointTruncate(path);
    fillVolume(dir);
    expect(freeBytes(dir)).toBe(0);

    const refused = ob.append([r(1), r(2)]);
    ob.flushIntake();
    await expect(refused).rejects.toMatchObject({ code: 'EL_ERR_OUTBOX_FULL', details: { reason: 'disk' } });
    expect(() => ob.appendEvents([{ ts: 1, kind: 'alert', severity: 'info' }])).toThrow(
      expect.objectContaining({ code: 'EL_ERR_OUTBOX_FULL' }),
    );
    expect(ob.stats().refused).toBe(3);
    expect(ob.telemetryCount).toBe(20_000); // nothing of the backlog lost

    // the broker acknowledges everything: every delete succeeds, the first one by giving back the reserve
    expect(drain(ob)).toBe(20_000);
    expect(ob.telemetryCount).toBe(0);
    expect(existsSync(`${path}.reserve`)).toBe(false);
    expect(ob.stats().disk).toMatchObject({ reserve: false });

    // with the volume full again, the free pages the delivered rows left in the file are enough: intake resumes
    fillVolume(dir);
    expect(freeBytes(dir)).toBe(0);
    const again = ob.append(Array.from({ length: 500 }, (_, i) => r(i)));
    ob.flushIntake();
    await expect(again).resolves.toMatchObject({ firstSeq: 20_001, lastSeq: 20_500 });
  });

  it('with the reserve used up, a delete that hits SQLITE_FULL throws EL_ERR_OUTBOX_FULL and keeps the rows and the counts', async () => {
    const dir = smallVolume(8 * MiB);
    const path = join(dir, 'outbox.db');
    const ob = open({ path, reserveBytes: 0 });
    await appendMany(ob, 20_000);
    checkpointTruncate(path);
    fillVolume(dir);
    const b = ob.nextBatch('telemetry', 2000, 120_000)!;
    let failures = 0;
    for (let i = 0; i < 10; i++) {
      try {
        ob.ack(b);
        break;
      } catch (err) {
        expect(err).toMatchObject({ code: 'EL_ERR_OUTBOX_FULL', details: { reason: 'disk' } });
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(ob.telemetryCount).toBe(20_000);
    ob.close();
    // what memory said matches the file
    const db = new Database(path, { readonly: true });
    onTestFinished(() => {
      db.close();
    });
    expect(db.prepare('SELECT count(*) FROM telemetry').pluck().get()).toBe(20_000);
  });

  it('SQLITE_FULL inside the intake commit (the volume filled between two checks) is EL_ERR_OUTBOX_FULL; memory matches the file after the rollback', async () => {
    const dir = smallVolume(8 * MiB);
    const path = join(dir, 'outbox.db');
    let ob = open({ path, minFreeBytes: 0, reserveBytes: 0 });
    await appendMany(ob, 20_000);
    // delivered rows leave free pages in the file, so the budget admits the next commit; its WAL frames do not fit
    for (let i = 0; i < 5; i++) ob.ack(ob.nextBatch('telemetry', 2000, 120_000)!);
    checkpointTruncate(path);
    const unfill = fillVolume(dir);
    const before = { count: ob.telemetryCount, bytes: ob.telemetryBytes, lastSeq: ob.lastSeq };
    const p = ob.append(Array.from({ length: 500 }, (_, i) => ({ sensor: `new-sensor-${i % 3}`, ts: i, value: i })));
    ob.flushIntake();
    await expect(p).rejects.toMatchObject({
      code: 'EL_ERR_OUTBOX_FULL',
      details: { reason: 'disk' },
      cause: { code: 'SQLITE_FULL' },
    });
    expect({ count: ob.telemetryCount, bytes: ob.telemetryBytes, lastSeq: ob.lastSeq }).toEqual(before);
    expect(ob.stats().refused).toBe(500);
    unfill();
    const q = ob.append([{ sensor: 'new-sensor-1', ts: 1, value: 1 }]);
    ob.flushIntake();
    expect(await q).toEqual({ firstSeq: before.lastSeq + 1, lastSeq: before.lastSeq + 1 });
    const mirrored = ob.stats();
    ob.close();
    ob = open({ path });
    expect(ob.stats()).toMatchObject({
      telemetry: mirrored.telemetry,
      bytes: mirrored.bytes,
      lastSeq: mirrored.lastSeq,
      refused: 500,
    });
  });

  it('opens on a full volume (restart while full) and refuses instead of failing', async () => {
    const dir = smallVolume(8 * MiB);
    const path = join(dir, 'outbox.db');
    let ob: SqliteOutbox = open({ path });
    await appendMany(ob, 5000);
    fillVolume(dir);
    ob.close();
    ob = open({ path });
    expect(ob.telemetryCount).toBe(5000);
    const p = ob.append([r(1)]);
    ob.flushIntake();
    await expect(p).rejects.toMatchObject({ code: 'EL_ERR_OUTBOX_FULL' });
    expect(drain(ob)).toBe(5000);
  });
});
