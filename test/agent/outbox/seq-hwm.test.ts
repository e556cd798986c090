/**
 * The seq high-water mark: a lost WAL (the database file without its WAL, as after a power cut on some SD cards or
 * an operator deleting outbox.db-wal) no longer rolls the seq counter back; the rollback is detected and counted.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteOutbox } from '../../../agent/outbox/sqlite-outbox.ts';
import { readSeqHwm } from '../../../agent/outbox/seq-hwm.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function open(path: string): SqliteOutbox {
  const ob = SqliteOutbox.open({ path, intakeMaxRows: 5000 });
  onTestFinished(() => ob.close());
  return ob;
}

async function append(ob: SqliteOutbox, n: number): Promise<{ firstSeq: number; lastSeq: number }> {
  let first = 0;
  let last = 0;
  for (let i = 0; i < n; i += 5000) {
    const p = ob.append(
      Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({ sensor: 's', ts: i + j, value: i + j })),
    );
    ob.flushIntake();
    const r = await p;
    first ||= r.firstSeq;
    last = r.lastSeq;
  }
  return { firstSeq: first, lastSeq: last };
}

describe('seq high-water mark', () => {
  it('a database file without its WAL: seq restarts above every seq handed out, the rollback is counted and reported', async () => {
    const dir = tempDir();
    const path = join(dir, 'outbox.db');
    const ob = open(path);
    const { lastSeq } = await append(ob, 25_000);
    expect(lastSeq).toBe(25_000);
    // the 25,000 readings are committed in the WAL, not yet checkpointed; copy what survives without it
    const dir2 = tempDir();
    const path2 = join(dir2, 'outbox.db');
    copyFileSync(path, path2);
    copyFileSync(`${path}.seq-hwm`, `${path2}.seq-hwm`);
    expect(existsSync(`${path2}-wal`)).toBe(false);

    const lost = open(path2);
    expect(lost.telemetryCount).toBe(0); // the readings are gone with the WAL...
    expect(lost.lastSeq).toBeGreaterThanOrEqual(25_000); // ...but not the seqs
    expect(lost.incidents.map((i) => i.code)).toEqual(['EL_ERR_OUTBOX_SEQ_ROLLBACK']);
    expect(lost.incidents[0]!.details).toMatchObject({ dbSeq: 0 });
    expect(lost.stats().incidents).toEqual({ seqRollbacks: 1, quarantined: 0 });
    const next = await append(lost, 10);
    expect(next.firstSeq).toBeGreaterThan(25_000);
    lost.close();
    // counted once: a clean reopen finds nothing
    const again = open(path2);
    expect(again.incidents).toHaveLength(0);
    expect(again.stats().incidents.seqRollbacks).toBe(1);
    expect(again.lastSeq).toBe(next.lastSeq);
  });

  it('a normal restart continues right after the last seq (no gap, no incident); the mark is ahead of the counter on disk', async () => {
    const path = join(tempDir(), 'outbox.db');
    let ob = open(path);
    const a = await append(ob, 12_345);
    expect(readSeqHwm(`${path}.seq-hwm`).ceiling).toBeGreaterThanOrEqual(a.lastSeq);
    ob.close();
    ob = open(path);
    expect(ob.incidents).toHaveLength(0);
    expect((await append(ob, 1)).firstSeq).toBe(a.lastSeq + 1);
    expect(JSON.parse(readFileSync(`${path}.seq-hwm`, 'utf8'))).toMatchObject({ v: 1 });
  });

  it('a deleted or unreadable mark file is rewritten at the next commit, without a false rollback', async () => {
    const path = join(tempDir(), 'outbox.db');
    let ob = open(path);
    const a = await append(ob, 100);
    ob.close();
    rmSync(`${path}.seq-hwm`);
    ob = open(path);
    expect(ob.incidents).toHaveLength(0);
    expect((await append(ob, 1)).firstSeq).toBe(a.lastSeq + 1);
    expect(readSeqHwm(`${path}.seq-hwm`).ceiling).toBeGreaterThan(a.lastSeq);
    ob.close();
    writeFileSync(`${path}.seq-hwm`, 'not json');
    expect(readSeqHwm(`${path}.seq-hwm`)).toEqual({ ceiling: 0, unreadable: true });
    ob = open(path);
    expect(ob.incidents).toHaveLength(0);
    expect((await append(ob, 1)).firstSeq).toBe(a.lastSeq + 2);
    expect(readSeqHwm(`${path}.seq-hwm`).ceiling).toBeGreaterThan(a.lastSeq + 2);
  });
});
