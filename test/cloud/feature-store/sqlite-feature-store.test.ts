import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  SqliteFeatureStore,
  type SqliteFeatureStoreOptions,
} from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { CONTRACT_GROUPS, describeFeatureStoreContract } from './feature-store-contract.ts';

describeFeatureStoreContract('SqliteFeatureStore', {
  async open({ clock }) {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-fs-'));
    const store = new SqliteFeatureStore({ path: join(dir, 'features.db'), groups: CONTRACT_GROUPS, clock });
    return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-fs-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('SqliteFeatureStore', () => {
  it('validates options', () => {
    expect(
      () => new SqliteFeatureStore({ path: 'x', defaultTTLMs: 5 } as unknown as SqliteFeatureStoreOptions),
    ).toThrow(/unknown option "defaultTTLMs" \(did you mean "defaultTtlMs"\?\)/);
    expect(() => new SqliteFeatureStore({ path: 'x', groups: { g: { ttlMs: -1 } } })).toThrow(/groups.g.ttlMs/);
    expect(() => new SqliteFeatureStore({ path: 'x', groups: { 'bad group': {} } })).toThrow(/feature group/);
  });

  it('keeps records across a reopen and prunes expired rows on its timer', async () => {
    const path = join(tempDir(), 'f.db');
    const clock = new ManualClock(1_000_000);
    const a = new SqliteFeatureStore({ path, defaultTtlMs: 10_000, pruneIntervalMs: 1000, clock });
    await a.start();
    await a.putMany('g', [
      { entityId: 'old', eventTime: 995_000, features: { v: 1 } },
      { entityId: 'new', eventTime: 1_000_000, features: { v: 2 } },
    ]);
    clock.advance(6000); // 'old' is 11 s old now, pruned by the timer
    await a.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.prepare('SELECT entity FROM feature_records').pluck().all()).toEqual(['new']);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const b = new SqliteFeatureStore({ path, clock });
    await b.start();
    onTestFinished(() => b.close());
    expect(await b.get('g', 'new')).toEqual({ entityId: 'new', eventTime: 1_000_000, features: { v: 2 } });
  });

  it('refuses use before start()', async () => {
    const s = new SqliteFeatureStore({ path: ':memory:' });
    await expect(s.get('g', 'x')).rejects.toMatchObject({ code: 'EL_ERR_FEATURE_STORE_NOT_STARTED' });
    await s.close();
  });
});
