/**
 * A damaged outbox file (truncated, garbage pages, a destroyed header): the open does not fail; the file is moved
 * aside as <path>.corrupt-<timestamp>, what is readable is salvaged with its seqs, the incident carries
 * EL_ERR_OUTBOX_CORRUPT and is counted, and new seqs continue above everything handed out before.
 */
import { closeSync, openSync, readdirSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteOutbox } from '../../../agent/outbox/sqlite-outbox.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const N = 20_000;

/** An outbox with N readings (value = seq) and 3 events, closed (WAL checkpointed into the file). */
async function writeOutbox(path: string): Promise<number> {
  const ob = SqliteOutbox.open({ path, intakeMaxRows: 5000 });
  for (let i = 0; i < N; i += 5000) {
    const p = ob.append(
      Array.from({ length: 5000 }, (_, j) => ({
        sensor: j % 2 ? 'rpm' : 'torque',
        ts: 1000 + i + j,
        value: i + j + 1,
      })),
    );
    ob.flushIntake();
    await p;
  }
  for (let i = 0; i < 3; i++) ob.appendEvents([{ ts: 5 + i, kind: 'anomaly', severity: 'warning', score: i }]);
  const last = ob.lastSeq;
  ob.close();
  return last;
}

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function reopen(path: string): SqliteOutbox {
  const ob = SqliteOutbox.open({ path });
  onTestFinished(() => ob.close());
  return ob;
}

function drainAll(ob: SqliteOutbox): Array<{ seq: number; value: number }> {
  const out: Array<{ seq: number; value: number }> = [];
  for (let b = ob.nextBatch('telemetry', 5000, 1 << 20); b; b = ob.nextBatch('telemetry', 5000, 1 << 20)) {
    out.push(...(JSON.parse(b.json) as Array<{ seq: number; value: number }>));
  }
  return out;
}

const damages: Array<[string, (path: string) => void]> = [
  ['truncated to 60 %', (p) => truncateSync(p, Math.floor((statSync(p).size * 0.6) / 4096) * 4096)],
  [
    'garbage pages in the middle',
    (p) => overwrite(p, Math.floor(statSync(p).size / 2 / 4096) * 4096, randomBytes(8 * 4096)),
  ],
];

describe('SqliteOutbox with a damaged file', () => {
  it.each(damages)(
    '%s: quarantined, readable rows salvaged with their seqs, EL_ERR_OUTBOX_CORRUPT counted, seq continues',
    async (_name, damage) => {
      const dir = tempDir();
      const path = join(dir, 'outbox.db');
      const last = await writeOutbox(path);
      damage(path);

      const ob = reopen(path);
      expect(ob.incidents).toHaveLength(1);
      const inc = ob.incidents[0]!;
      expect(inc.code).toBe('EL_ERR_OUTBOX_CORRUPT');
      expect(inc.message).toMatch(/damaged .*moved to .*outbox\.db\.corrupt-/);
      const quarantined = readdirSync(dir).filter((f) => /^outbox\.db\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/.test(f));
      expect(quarantined).toHaveLength(1);
      expect(inc.details.quarantinedAs).toBe(join(dir, quarantined[0]!));
      expect(ob.stats().incidents).toEqual({ seqRollbacks: 0, quarantined: 1 });

      // some of it was readable, not all of it; every salvaged reading kept its seq (value = seq here)
      const rows = drainAll(ob);
      expect(rows.length).toBeGreaterThan(N / 4);
      expect(rows.length).toBeLessThan(N);
      for (const r of rows) expect(r.value).toBe(r.seq);
      expect(ob.telemetryCount).toBe(rows.length);
      expect(ob.lastSeq).toBeGreaterThanOrEqual(last);
      const p = ob.append([{ sensor: 'rpm', ts: 1, value: 1 }]);
      ob.flushIntake();
      expect((await p).firstSeq).toBeGreaterThan(last);
      ob.close();
      // the fresh file is sound and remembers the incident
      const again = reopen(path);
      expect(again.incidents).toHaveLength(0);
      expect(again.stats().incidents.quarantined).toBe(1);
    },
  );

  it('a destroyed header (not a database any more): quarantined, nothing to salvage, seq continues above the high-water mark', async () => {
    const dir = tempDir();
    const path = join(dir, 'outbox.db');
    const last = await writeOutbox(path);
    overwrite(path, 0, randomBytes(4096));
    const ob = reopen(path);
    expect(ob.incidents.map((i) => i.code)).toEqual(['EL_ERR_OUTBOX_CORRUPT']);
    expect(ob.incidents[0]!.details.salvaged).toEqual({ telemetry: 0, events: 0 });
    expect(ob.telemetryCount).toBe(0);
    const p = ob.append([{ sensor: 'rpm', ts: 1, value: 1 }]);
    ob.flushIntake();
    expect((await p).firstSeq).toBeGreaterThan(last);
  });

  it('integrityCheck: "off" skips the check (a sound file opens the same way)', async () => {
    const path = join(tempDir(), 'outbox.db');
    await writeOutbox(path);
    const ob = SqliteOutbox.open({ path, integrityCheck: 'off' });
    onTestFinished(() => ob.close());
    expect(ob.incidents).toHaveLength(0);
    expect(ob.telemetryCount).toBe(N);
  });
});
