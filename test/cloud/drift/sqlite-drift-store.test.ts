import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { CheckEvidence, MonitorRecord } from '../../../cloud/drift/drift-store.ts';
import { SqliteDriftStore } from '../../../cloud/drift/sqlite-drift-store.ts';

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-drift-store-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'drift.db');
}

async function open(path: string, maxEvents?: number): Promise<SqliteDriftStore> {
  const s = new SqliteDriftStore({ path, ...(maxEvents ? { maxEvents } : {}) });
  await s.start();
  onTestFinished(() => s.close());
  return s;
}

const evidence: CheckEvidence = {
  alpha: 0.01,
  n: 100,
  tests: [
    {
      feature: 'temperature',
      statistic: 'ks',
      value: 0.3,
      pValue: 1e-6,
      level: 0.005,
      threshold: 0.2,
      n: 100,
      nRef: 500,
      drifted: true,
    },
  ],
};
const record = (state: 'ok' | 'drift', at: number): MonitorRecord => ({
  subject: { kind: 'device', id: 'd1' },
  monitor: 'input',
  state,
  changedAt: at,
  checkedAt: at,
  fired: 2,
  last: evidence,
});

describe('SqliteDriftStore', () => {
  it('keeps events with their evidence and the monitors’ states across a reopen', async () => {
    const path = tempPath();
    const a = await open(path);
    const e = await a.recordChange(
      {
        type: 'drift.detected',
        at: 10,
        subject: { kind: 'device', id: 'd1' },
        monitor: 'input',
        fired: 2,
        window: 3,
        evidence,
      },
      record('drift', 10),
    );
    expect(e.id).toBe(1);
    await a.putRecords([{ ...record('ok', 20), subject: { kind: 'site', id: 'plant-a' } }]);
    await a.close();
    await expect(a.events()).rejects.toMatchObject({ code: 'EL_ERR_CLOSED' });

    const b = await open(path);
    expect(await b.events()).toEqual([{ ...e }]);
    expect(await b.events({ since: 11 })).toEqual([]);
    expect(await b.records()).toEqual([
      { ...record('drift', 10) },
      { ...record('ok', 20), subject: { kind: 'site', id: 'plant-a' } },
    ]);
    expect(await b.records({ subject: { kind: 'site', id: 'plant-a' } })).toHaveLength(1);
  });

  it('prunes the oldest events beyond maxEvents', async () => {
    const s = await open(tempPath(), 3);
    for (let i = 0; i < 5; i++) {
      await s.recordChange(
        {
          type: i % 2 ? 'drift.cleared' : 'drift.detected',
          at: i,
          subject: { kind: 'device', id: 'd1' },
          monitor: 'input',
          fired: 0,
          window: 3,
          evidence,
        },
        record('ok', i),
      );
    }
    expect((await s.events()).map((e) => e.id)).toEqual([5, 4, 3]);
    expect(await s.events({ limit: 1 })).toHaveLength(1);
  });

  it('refuses a file with a newer schema, and bad options', async () => {
    const path = tempPath();
    const db = new Database(path);
    db.pragma('user_version = 9');
    db.close();
    await expect(new SqliteDriftStore({ path }).start()).rejects.toMatchObject({
      code: 'EL_ERR_DRIFT_STORE',
      message: expect.stringContaining('schema version 9 is newer'),
    });
    expect(() => new SqliteDriftStore({ path, maxEvent: 3 } as never)).toThrow(/unknown option "maxEvent"/);
    expect(() => new SqliteDriftStore({ path: '' })).toThrow(/path is required/);
  });
});
