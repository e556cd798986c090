/** The data-directory lock within one process: refusal names the holder, release hands it on, files it leaves. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { acquireDataDirLock, HOLDER_FILE, LOCK_FILE } from '../../lib/data-dir-lock.ts';
import { isEdgeloopError } from '../../protocol/errors.ts';

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'el-lock-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return join(d, 'data');
}

describe('acquireDataDirLock', () => {
  it('creates the directory, records the holder, refuses a second holder with its PID, and hands over on release', () => {
    const d = dir();
    const a = acquireDataDirLock({ dir: d, command: 'edgeloop test' });
    expect(JSON.parse(readFileSync(join(d, HOLDER_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
      command: 'edgeloop test',
    });
    let err: unknown;
    try {
      acquireDataDirLock({ dir: d, holderWaitMs: 0 });
    } catch (e) {
      err = e;
    }
    expect(isEdgeloopError(err, 'EL_ERR_DATA_DIR_LOCKED')).toBe(true);
    expect((err as Error).message).toBe(
      `data directory ${d} is in use by PID ${process.pid} (this process) (edgeloop test), since ${JSON.parse(readFileSync(join(d, HOLDER_FILE), 'utf8')).startedAt}; stop that process or give this one another data directory`,
    );
    expect((err as { details: unknown }).details).toMatchObject({
      dataDir: d,
      pid: process.pid,
      lockFile: join(d, LOCK_FILE),
    });
    a.release();
    a.release();
    expect(existsSync(join(d, HOLDER_FILE))).toBe(false);
    const b = acquireDataDirLock({ dir: d });
    b[Symbol.dispose]();
    // only the lock database stays (never deleted: see lib/data-dir-lock.ts)
    expect(readdirSync(d)).toEqual([LOCK_FILE]);
  });

  it('a holder file left by a process that is gone is taken over and reported', () => {
    const d = dir();
    const first = acquireDataDirLock({ dir: d, command: 'first' });
    // what a kill -9 leaves: the holder file stays; the kernel has dropped the lock (here: the connection closes)
    const holder = readFileSync(join(d, HOLDER_FILE), 'utf8');
    first.release();
    writeFileSync(join(d, HOLDER_FILE), holder.replace(`"pid":${process.pid}`, '"pid":2147483646'));
    const seen: Array<{ pid: number; command: string }> = [];
    const second = acquireDataDirLock({ dir: d, onTakeover: (prev) => seen.push(prev) });
    onTestFinished(() => second.release());
    expect(seen).toMatchObject([{ pid: 2147483646, command: 'first' }]);
  });
});
