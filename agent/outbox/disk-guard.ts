/**
 * DiskGuard: the outbox's view of the volume it lives on.
 *
 * - Free-space budget: new records are admitted only while the volume keeps `minFreeBytes` free after them
 *   (`admitOnDisk`, pure). Free pages inside the database file (SQLite's freelist, left by acknowledged rows) count
 *   as free: the next inserts reuse them.
 * - Reserve: a preallocated file of `reserveBytes` (`<outbox>.reserve`). Deleting acknowledged rows needs disk too
 *   (WAL frames); when such a delete hits SQLITE_FULL, the reserve is deleted to give the space back and the delete
 *   is retried. The reserve is re-created once the volume has room for it and the budget again.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';

/**
 * disk bytes counted per accounted byte when admitting records: an upper bound (a telemetry row measures ~0.5: ~26
 * bytes of file for its 48 + name accounted bytes; an event's JSON is stored as it is accounted, ~1)
 */
export const DISK_BYTES_PER_ACCOUNTED_BYTE = 1;

export interface DiskAdmission {
  /** bytes free on the volume for an unprivileged writer */
  freeBytes: number;
  /** free pages inside the database file, bytes */
  reusableBytes: number;
  /** accounted bytes of the records to admit */
  incomingBytes: number;
  minFreeBytes: number;
}

/** True when, after the records, free space on the volume plus free pages in the file stays at minFreeBytes or more. */
export function admitOnDisk(a: DiskAdmission): boolean {
  return a.freeBytes + a.reusableBytes - a.incomingBytes * DISK_BYTES_PER_ACCOUNTED_BYTE >= a.minFreeBytes;
}

/** SQLite or the file system said the volume is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT';
}

/** SQLITE_FULL / ENOSPC on the intake path means the same as the budget: EL_ERR_OUTBOX_FULL (other errors as they are). */
export function fullDiskError(err: unknown, path: string, what: string): unknown {
  if (!isDiskFull(err)) return err;
  return new EdgeloopError(
    'EL_ERR_OUTBOX_FULL',
    `outbox refused ${what}: the volume holding ${path} is full (${(err as Error).message}); accepted again once delivered records free space`,
    { cause: err, details: { reason: 'disk' } },
  );
}

export interface DiskGuardOptions {
  /** the database file (the volume is the one holding its directory) */
  path: string;
  reserveBytes: number;
  minFreeBytes: number;
}

const CHUNK = Buffer.alloc(64 * 1024);

export class DiskGuard {
  readonly dir: string;
  readonly reservePath: string;
  readonly #o: DiskGuardOptions;

  constructor(o: DiskGuardOptions) {
    this.#o = o;
    this.dir = dirname(o.path);
    this.reservePath = `${o.path}.reserve`;
  }

  /** bytes available on the volume (statfs bavail × bsize) */
  freeBytes(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /**
   * The free-space budget: EL_ERR_OUTBOX_FULL when admitting `bytes` (accounted) would leave less than minFreeBytes,
   * `reusableBytes` (free pages in the file) counting as free; undefined when they fit or statfs is unavailable
   * (SQLITE_FULL is then still mapped by fullDiskError).
   */
  refusal(bytes: number, reusableBytes: number, what: string): EdgeloopError | undefined {
    let freeBytes: number;
    try {
      freeBytes = this.freeBytes();
    } catch {
      return undefined;
    }
    const { minFreeBytes, path } = this.#o;
    if (admitOnDisk({ freeBytes, reusableBytes, incomingBytes: bytes, minFreeBytes })) return undefined;
    return new EdgeloopError(
      'EL_ERR_OUTBOX_FULL',
      `outbox refused ${what}: the volume holding ${path} has ${freeBytes} bytes free (+${reusableBytes} reusable in the file), ` +
        `under outbox.minFreeBytes (${minFreeBytes}); accepted again once delivered records free space`,
      { details: { reason: 'disk', freeBytes, reusableBytes, minFreeBytes } },
    );
  }

  /** the volume's size, bytes */
  totalBytes(): number {
    const s = statfsSync(this.dir);
    return s.blocks * s.bsize;
  }

  get reserved(): boolean {
    return this.#o.reserveBytes === 0 || existsSync(this.reservePath);
  }

  /**
   * Create the reserve file when it is missing and the volume has room for it on top of `minFreeBytes`. Never
   * throws: a reserve that cannot be written now is tried again later. Returns true when the reserve is in place.
   */
  ensureReserve(): boolean {
    const size = this.#o.reserveBytes;
    if (size === 0 || existsSync(this.reservePath)) return true;
    try {
      if (this.freeBytes() < size + this.#o.minFreeBytes) return false;
    } catch {
      return false;
    }
    const tmp = `${this.reservePath}.tmp`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'w');
      // written, not truncated to size: a sparse file would not hold any space
      for (let done = 0; done < size; ) {
        const n = Math.min(CHUNK.length, size - done);
        done += writeSync(fd, CHUNK, 0, n);
      }
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.reservePath);
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      tryUnlink(tmp);
      return false;
    }
  }

  /** Delete the reserve file (space for the delete path). Returns true when there was one to delete. */
  releaseReserve(): boolean {
    return this.#o.reserveBytes > 0 && tryUnlink(this.reservePath);
  }
}

function tryUnlink(p: string): boolean {
  try {
    unlinkSync(p);
    return true;
  } catch {
    return false;
  }
}
