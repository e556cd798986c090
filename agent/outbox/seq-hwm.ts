/**
 * SeqHighWaterMark: a ceiling on every seq the outbox has handed out, kept in a small file next to the database
 * (outside SQLite, so losing the WAL or the whole database does not lose it).
 *
 * The ceiling is advanced before a seq above it is used, in blocks (`block` seqs ahead; the step doubles while
 * advances come less than a second apart, so a fast producer costs a few fsyncs per second, not one per block),
 * and written crash-safely: a temp file is written and fsynced, renamed over the old one, and the directory is
 * fsynced. The outbox records the same ceiling in its own meta table inside the commit that first uses it; a file
 * ceiling above the database's therefore means the database lost committed transactions (see sqlite-outbox.ts).
 *
 * File format: one JSON line `{"v":1,"ceiling":<seq>}`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../../lib/clock.ts';

/** the step stops doubling at this many blocks */
const MAX_STEP_BLOCKS = 64;

export interface SeqHwmRead {
  /** 0 when the file does not exist */
  ceiling: number;
  /** the file exists but does not hold a ceiling (then `ceiling` is 0) */
  unreadable: boolean;
}

/** Read the ceiling stored at `path`. */
export function readSeqHwm(path: string): SeqHwmRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ceiling: 0, unreadable: false };
    throw err;
  }
  try {
    const v = (JSON.parse(text) as { ceiling?: unknown }).ceiling;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return { ceiling: v, unreadable: false };
  } catch {
    /* reported below */
  }
  return { ceiling: 0, unreadable: true };
}

/** Write `ceiling` to `path` atomically and durably (temp file + fsync, rename, fsync of the directory). */
export function writeSeqHwm(path: string, ceiling: number): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify({ v: 1, ceiling })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export interface SeqHighWaterMarkOptions {
  path: string;
  /** seqs reserved per advance, at least */
  block: number;
  clock: Clock;
  /** the ceiling already on disk */
  ceiling: number;
}

export class SeqHighWaterMark {
  readonly path: string;
  readonly #block: number;
  readonly #clock: Clock;
  #ceiling: number;
  #step: number;
  #lastAdvance = -Infinity;

  constructor(o: SeqHighWaterMarkOptions) {
    this.path = o.path;
    this.#block = o.block;
    this.#clock = o.clock;
    this.#ceiling = o.ceiling;
    this.#step = o.block;
  }

  /** every seq handed out so far is at most this */
  get ceiling(): number {
    return this.#ceiling;
  }

  /**
   * Make sure `lastSeq` is under the ceiling; advances and writes the file when it is not (throws the file
   * system's error, e.g. ENOSPC, leaving the ceiling as it was). Returns true when the ceiling moved.
   */
  cover(lastSeq: number): boolean {
    if (lastSeq <= this.#ceiling) return false;
    const now = this.#clock.now();
    this.#step = now - this.#lastAdvance < 1000 ? Math.min(this.#step * 2, this.#block * MAX_STEP_BLOCKS) : this.#block;
    const next = lastSeq + this.#step;
    writeSeqHwm(this.path, next);
    this.#ceiling = next;
    this.#lastAdvance = now;
    return true;
  }

  /** Raise the ceiling to `ceiling` without the block step (the outbox starting above a detected rollback). */
  raiseTo(ceiling: number): void {
    if (ceiling <= this.#ceiling) return;
    writeSeqHwm(this.path, ceiling);
    this.#ceiling = ceiling;
  }
}
