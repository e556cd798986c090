/**
 * OutboxCore: what the parts of SqliteOutbox share (sqlite-outbox.ts composes them): the database and its prepared
 * statements, the in-memory mirror, the disk guard and the seq high-water mark, the change listeners, and the write
 * discipline every write transaction follows (roll the mirror back with the transaction; on a full volume
 * checkpoint the WAL and try once more). The intake (outbox-intake.ts) writes rows, the read side (outbox-reader.ts)
 * hands them out and deletes them, opening (outbox-open.ts) fills the core in. Internal to the outbox.
 */
import type Database from 'better-sqlite3';
import { channel } from 'node:diagnostics_channel';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { isDiskFull, type DiskGuard } from './disk-guard.ts';
import { OutboxMirror } from './outbox-mirror.ts';
import type { OutboxIncident, ResolvedOutboxOptions } from './outbox-options.ts';
import type { OutboxStatements } from './outbox-schema.ts';
import type { SeqHighWaterMark } from './seq-hwm.ts';

/** diagnostics_channel: `{ reason: 'bytes' | 'age' | 'refused', count }` for every drop or refusal */
export const dropChannel = channel('edgeloop:agent:outbox-drop');
/** diagnostics_channel: `{ code, message, details }` for a seq rollback or a quarantined file found at open */
export const incidentChannel = channel('edgeloop:agent:outbox-incident');

export class OutboxCore {
  readonly options: ResolvedOutboxOptions;
  readonly clock: Clock;
  readonly log: Logger;
  readonly m = new OutboxMirror();
  db: Database.Database | undefined;
  closed = false;
  st!: OutboxStatements;
  pageSize = 4096;
  /** file outboxes only */
  disk: DiskGuard | undefined;
  reserveOk = true;
  /** file outboxes only */
  hwm: SeqHighWaterMark | undefined;
  readonly incidents: OutboxIncident[] = [];
  readonly listeners = new Set<() => void>();

  constructor(options: ResolvedOutboxOptions, clock: Clock, log: Logger) {
    this.options = options;
    this.clock = clock;
    this.log = log;
  }

  dbOrThrow(): Database.Database {
    if (this.closed || !this.db) throw new EdgeloopError('EL_ERR_CLOSED', 'outbox is closed');
    return this.db;
  }

  /** After every commit, ack or prune (the publisher pumps on it). */
  notify(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Run a write transaction; `restore` puts back what memory mirrors when it rolls back. On a full volume the WAL
   * is checkpointed (its frames are then reused from the start instead of the file growing) and the transaction
   * tried once more.
   */
  write<T>(tx: () => T, restore: () => void): T {
    const run = (): T => {
      const r = tx();
      this.m.refusalsStored();
      return r;
    };
    try {
      return run();
    } catch (err) {
      restore();
      if (!isDiskFull(err)) throw err;
      this.checkpoint();
      try {
        return run();
      } catch (e2) {
        restore();
        throw e2;
      }
    }
  }

  /** Checkpoint the WAL into the database file (PASSIVE); failures are left to the write that follows to report. */
  checkpoint(): void {
    try {
      this.db!.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      /* the retry reports */
    }
  }

  /** Inside a write transaction: store the refusals not stored yet. */
  storeRefusals(): void {
    const m = this.m;
    if (m.refusedPending > 0) this.st.putMeta.run('refused', m.refusedSaved + m.refusedPending);
  }
}
