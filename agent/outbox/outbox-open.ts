/**
 * Opening the outbox file: open + migrate + integrity check (`PRAGMA quick_check`), with the reserve given back once
 * when the volume is full; a damaged file is quarantined and salvaged into a fresh one (outbox-recovery.ts), which
 * is reported as an EL_ERR_OUTBOX_CORRUPT incident.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';
import { openWalDatabase } from '../../lib/sqlite.ts';
import type { Logger } from '../../lib/logger.ts';
import { isDiskFull, type DiskGuard } from './disk-guard.ts';
import type { OutboxIncident, ResolvedOutboxOptions } from './outbox-options.ts';
import { migrateOutbox, prepareOutboxStatements } from './outbox-schema.ts';
import { copySalvage, isCorruption, quarantineFiles, quickCheck } from './outbox-recovery.ts';

export interface OpenOutboxContext {
  options: ResolvedOutboxOptions;
  /** file outboxes only */
  disk: DiskGuard | undefined;
  /** the seq high-water mark read from its file (0 when none) */
  hwmCeiling: number;
  now: number;
  log: Logger;
  /** run on the opened, checked database (prepare statements, load what memory mirrors); may throw corruption too */
  load: (db: Database.Database) => void;
  /** the reserve file was deleted to let the open succeed */
  onReserveReleased: () => void;
}

export interface OpenedOutbox {
  db: Database.Database;
  incident?: OutboxIncident;
}

/** Open the outbox database; see the header. Throws EL_ERR_OUTBOX_SCHEMA for anything else that fails. */
export function openOutboxDatabase(c: OpenOutboxContext): OpenedOutbox {
  const { path } = c.options;
  try {
    return { db: openChecked(c) };
  } catch (err) {
    if (path === ':memory:' || !isDamaged(err)) {
      if (err instanceof EdgeloopError) throw err;
      throw new EdgeloopError('EL_ERR_OUTBOX_SCHEMA', `${path}: cannot open outbox: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return recover(c, err);
  }
}

function isDamaged(err: unknown): boolean {
  return isCorruption(err) || (err instanceof EdgeloopError && err.code === 'EL_ERR_OUTBOX_CORRUPT');
}

function openChecked(c: OpenOutboxContext): Database.Database {
  try {
    return openOnce(c);
  } catch (err) {
    if (!isDiskFull(err) || !c.disk?.releaseReserve()) throw err;
    c.onReserveReleased();
    return openOnce(c);
  }
}

function openOnce(c: OpenOutboxContext): Database.Database {
  const o = c.options;
  let db: Database.Database | undefined;
  try {
    db = openWalDatabase(o.path, { synchronous: o.durability === 'full' ? 'FULL' : 'NORMAL', cacheKiB: o.cacheKiB });
    db.pragma('temp_store = MEMORY');
    migrateOutbox(db, o.path);
    if (o.path !== ':memory:' && o.integrityCheck === 'quick') {
      const problems = quickCheck(db);
      if (problems.length > 0)
        throw new EdgeloopError('EL_ERR_OUTBOX_CORRUPT', `${o.path}: quick_check: ${problems[0]}`, {
          details: { problems },
        });
    }
    c.load(db);
    return db;
  } catch (err) {
    db?.close();
    throw err;
  }
}

/** Quarantine the damaged file, open a fresh outbox, copy what is readable into it, seq above all that was known. */
function recover(c: OpenOutboxContext, err: unknown): OpenedOutbox {
  const { path } = c.options;
  const problem =
    err instanceof EdgeloopError && Array.isArray(err.details?.problems)
      ? String(err.details.problems[0])
      : (err as Error).message;
  const quarantinedAs = quarantineFiles(path, c.now);
  const db = openChecked(c);
  const { sal, seq } = copySalvage(db, prepareOutboxStatements(db), quarantinedAs, c.hwmCeiling, c.now, c.log);
  c.load(db);
  const details = {
    path,
    quarantinedAs,
    problem,
    salvaged: { telemetry: sal?.telemetry ?? 0, events: sal?.events ?? 0 },
    unreadableRanges: sal?.skippedRanges ?? 0,
    orphanReadings: sal?.orphans ?? 0,
    nextSeq: seq + 1,
  };
  const message =
    `outbox ${path} is damaged (${problem}); moved to ${quarantinedAs}, ${details.salvaged.telemetry} readings and ${details.salvaged.events} ` +
    `events salvaged into a fresh outbox (${details.unreadableRanges} unreadable ranges skipped); seq continues at ${seq + 1}`;
  return { db, incident: { code: 'EL_ERR_OUTBOX_CORRUPT', message, details } };
}
