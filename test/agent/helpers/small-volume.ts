/**
 * A real small file system for full-disk tests: a tmpfs of `bytes` mounted on a fresh temp directory (needs root,
 * or CAP_SYS_ADMIN), unmounted and removed when the test finishes; `fillVolume` writes a filler file until the
 * volume answers ENOSPC.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

function tryMount(dir: string, bytes: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether this process may mount a tmpfs (checked once, with a mount and an unmount). */
export const canMountTmpfs: boolean = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-mnt-probe-'));
  const ok = tryMount(dir, 1024 * 1024);
  if (ok) execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return ok;
})();

/** Mount a tmpfs of `bytes` and return its directory. */
export function smallVolume(bytes: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-vol-'));
  if (!tryMount(dir, bytes)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a tmpfs on ${dir} (needs root)`);
  }
  onTestFinished(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fill the volume holding `dir` to the last byte; returns a function deleting the filler. */
export function fillVolume(dir: string): () => void {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'a');
  const big = Buffer.alloc(64 * 1024, 1);
  try {
    for (const size of [big.length, 4096, 1]) {
      for (;;) {
        try {
          writeSync(fd, big, 0, size);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return () => unlinkSync(path);
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}
