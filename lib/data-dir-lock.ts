/**
 * One process per data directory. `acquireDataDirLock({ dir })` takes an exclusive lock for the life of the process
 * (until `release()`), and refuses a second process with EL_ERR_DATA_DIR_LOCKED naming the holder's PID and command.
 *
 * How: the lock is SQLite's own exclusive lock (a POSIX fcntl lock held by the kernel) on a dedicated database,
 * `<dir>/edgeloop.lock`, opened with `locking_mode = EXCLUSIVE` and written once. The kernel drops the lock when the
 * holder exits in any way, kill -9 and power cuts included, so a stale lock cannot exist and a reused PID (every
 * boot of a Pi hands out the same PIDs) can never be mistaken for a live holder, which a PID-file lock
 * (`open(..., 'wx')` + `kill(pid, 0)`) cannot rule out, and its stale-file takeover races between two starters.
 * Who holds it is written next to it in `<dir>/edgeloop.lock.json` ({ pid, command, startedAt }) for the
 * error message; when a new holder finds a holder file of a process that is gone, it logs the takeover.
 * The lock database is never deleted (deleting it would let a newcomer lock a fresh file while an old holder still
 * holds the unlinked one). Requires a local filesystem with POSIX locks (not NFS without lockd).
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgeloopError } from '../protocol/errors.ts';
import { silentLogger, type Logger } from './logger.ts';

export const LOCK_FILE = 'edgeloop.lock';
export const HOLDER_FILE = 'edgeloop.lock.json';

export interface DataDirLockOptions {
  dir: string;
  /** what holds the lock, shown to a refused second process; default: this process's command line */
  command?: string;
  /** where the takeover of a dead holder's lock is logged (warn) */
  logger?: Logger;
  /** called instead of logging when the lock of a process that is gone is taken over */
  onTakeover?: (previous: LockHolder, dir: string) => void;
  /** a refused process waits this long for a just-started holder to write its holder file, ms; default 1000 */
  holderWaitMs?: number;
}

export interface LockHolder {
  pid: number;
  command: string;
  startedAt: string;
  hostname?: string;
}

export interface DataDirLock {
  readonly dir: string;
  readonly path: string;
  /** release the lock (idempotent); the process exiting releases it too */
  release(): void;
  [Symbol.dispose](): void;
}

export function acquireDataDirLock(o: DataDirLockOptions): DataDirLock {
  const dir = resolve(o.dir);
  const log = o.logger ?? silentLogger;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const holderPath = join(dir, HOLDER_FILE);
  const previous = readHolder(holderPath);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 0 });
    db.pragma('journal_mode = OFF');
    db.pragma('locking_mode = EXCLUSIVE');
    // the first write takes the EXCLUSIVE lock; in this locking mode it is held until the connection closes
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, at TEXT NOT NULL)');
    db.prepare('INSERT INTO holder (pid, at) VALUES (?, ?)').run(process.pid, new Date().toISOString());
    db.exec('DELETE FROM holder WHERE rowid < (SELECT max(rowid) FROM holder)');
  } catch (err) {
    db?.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY' && (err as { code?: string }).code !== 'SQLITE_LOCKED')
      throw err;
    throw lockedError(dir, path, waitForHolder(holderPath, previous, o.holderWaitMs ?? 1000));
  }
  if (previous && previous.pid !== process.pid) {
    if (o.onTakeover) o.onTakeover(previous, dir);
    else
      log.warn(
        { dataDir: dir, previousPid: previous.pid, previousCommand: previous.command },
        'data directory lock: the previous holder is gone, taking over',
      );
  }
  const me: LockHolder = {
    pid: process.pid,
    command: o.command ?? commandLine(process.pid) ?? process.argv.join(' '),
    startedAt: new Date().toISOString(),
    hostname: hostname(),
  };
  const tmp = `${holderPath}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(me) + '\n');
  renameSync(tmp, holderPath);
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    if (readHolder(holderPath)?.pid === process.pid) rmSync(holderPath, { force: true });
    db!.close();
  };
  return { dir, path, release, [Symbol.dispose]: release };
}

function lockedError(dir: string, path: string, holder: LockHolder | undefined): EdgeloopError {
  const who = holder
    ? `PID ${holder.pid}${holder.pid === process.pid ? ' (this process)' : ''} (${holder.command}), since ${holder.startedAt}`
    : 'another process (its PID is not recorded yet)';
  return new EdgeloopError(
    'EL_ERR_DATA_DIR_LOCKED',
    `data directory ${dir} is in use by ${who}; stop that process or give this one another data directory`,
    { details: { dataDir: dir, lockFile: path, ...(holder ? { pid: holder.pid, command: holder.command } : {}) } },
  );
}

/** The holder file, re-read until it names a live process other than the one it named before (a new holder). */
function waitForHolder(holderPath: string, before: LockHolder | undefined, waitMs: number): LockHolder | undefined {
  const until = Date.now() + waitMs;
  for (;;) {
    const h = readHolder(holderPath);
    if (h && isAlive(h.pid)) return h;
    if (Date.now() >= until) return h ?? before;
    // a synchronous pause: the caller is a process starting up that is about to exit with this error
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(h.pid) ? h : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process from /proc (Linux), or undefined. */
function commandLine(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return s || undefined;
  } catch {
    return undefined;
  }
}
