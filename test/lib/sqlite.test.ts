import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openWalDatabase } from '../../lib/sqlite.ts';

describe('openWalDatabase', () => {
  it('creates the folder and opens WAL with the given synchronous level, busy timeout and page cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-sqlite-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'a', 'b', 'x.db');
    const db = openWalDatabase(path, { synchronous: 'FULL' });
    onTestFinished(() => void db.close());
    expect(existsSync(path)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('cache_size', { simple: true })).toBe(-2048);
    const other = openWalDatabase(join(dir, 'y.db'), { synchronous: 'NORMAL', busyTimeoutMs: 100, cacheKiB: 16_000 });
    onTestFinished(() => void other.close());
    expect([
      other.pragma('synchronous', { simple: true }),
      other.pragma('busy_timeout', { simple: true }),
      other.pragma('cache_size', { simple: true }),
    ]).toEqual([1, 100, -16000]);
  });

  it('opens :memory: and throws for a file that is not a database', () => {
    const mem = openWalDatabase(':memory:', { synchronous: 'NORMAL' });
    expect(mem.pragma('cache_size', { simple: true })).toBe(-2048);
    mem.close();
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-sqlite-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not an SQLite database, but it is long enough to have a header of sorts....');
    expect(() => openWalDatabase(junk, { synchronous: 'NORMAL' })).toThrow(/not a database/);
  });
});
