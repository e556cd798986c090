/**
 * Opening the outbox file: open + migrate + integrity check (`PRAGMA quick_check`), with the reserve given back once
 * when the volume is full; a damaged file is quarantined and salvaged into a fresh one (outbox-recovery.ts), which
 * is reported as an EL_ERR_OUTBOX_CORRUPT incident. Then (openOutbox) the mirror is loaded from the file and the
 * seq high-water mark (seq-hwm.ts) is checked against what the database recorded: a file ceiling above it means
 * committed transactions are gone, and the counter restarts above the ceiling (an EL_ERR_OUTBOX_SEQ_ROLLBACK
 * incident); a ceiling below it (the file was deleted or damaged) is raised back.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';
import { openWalDatabase } from '../../lib/sqlite.ts';
import type { Logger } from '../../lib/logger.ts';
import { DISK_BYTES_PER_ACCOUNTED_BYTE, DiskGuard, isDiskFull } from './disk-guard.ts';
import { incidentChannel, type OutboxCore } from './outbox-core.ts';
import type { OutboxIncident, ResolvedOutboxOptions } from './outbox-options.ts';
import { migrateOutbox, prepareOutboxStatements } from './outbox-schema.ts';
import { copySalvage, isCorruption, quarantineFiles, quickCheck } from './outbox-recovery.ts';
import { SeqHighWaterMark, readSeqHwm } from './seq-hwm.ts';

/**
 * Open (or create and migrate) the outbox's database into `core`: statements, mirror, disk guard, high-water mark;
 * incidents found on the way are logged, counted and kept in `core.incidents`.
 */
export function openOutbox(core: OutboxCore): Database.Database {
  const { path } = core.options;
  const m = core.m;
  const onFile = path !== ':memory:';
  const hwmPath = `${path}.seq-hwm`;
  let hwm = { ceiling: 0, unreadable: false };
  if (onFile) {
    core.disk = new DiskGuard({
      path,
      reserveBytes: core.options.reserveBytes,
      minFreeBytes: core.options.minFreeBytes,
    });
    hwm = readSeqHwm(hwmPath);
    if (hwm.unreadable)
      core.log.warn(
        { file: hwmPath },
        'seq high-water mark file unreadable: rewritten from what the database recorded',
      );
  }
  const opened = openOutboxDatabase({
    options: core.options,
    disk: core.disk,
    hwmCeiling: hwm.ceiling,
    now: core.clock.now(),
    log: core.log,
    load: (db) => {
      core.st = prepareOutboxStatements(db);
      core.pageSize = db.pragma('page_size', { simple: true }) as number;
      loadMirror(core, db);
    },
    onReserveReleased: () => (core.reserveOk = false),
  });
  const db = opened.db;
  core.db = db;
  if (opened.incident) {
    // the salvaged outbox continues above everything known, even if its counters could not be stored
    const next = opened.incident.details.nextSeq as number;
    m.seq = Math.max(m.seq, next - 1);
    m.dbCeiling = Math.max(m.dbCeiling, next - 1);
    m.quarantined = Math.max(m.quarantined, 1);
    recordIncident(core, opened.incident);
  }
  if (!onFile) return db;
  if (hwm.ceiling > m.dbCeiling) restartAboveRollback(core, hwm.ceiling);
  core.hwm = new SeqHighWaterMark({
    path: hwmPath,
    block: core.options.seqBlock,
    clock: core.clock,
    ceiling: hwm.ceiling,
  });
  if (hwm.ceiling < m.dbCeiling) {
    // the file was deleted or damaged: put back what the database recorded (or at the next commit, if the disk is full)
    try {
      core.hwm.raiseTo(m.dbCeiling);
    } catch (err) {
      core.log.warn({ err, file: hwmPath }, 'seq high-water mark not rewritten yet');
    }
  }
  core.reserveOk = core.disk!.ensureReserve();
  warnIfVolumeSmall(core, core.disk!);
  return db;
}

/** Read the counters, sensors and row figures that memory mirrors. */
function loadMirror(core: OutboxCore, db: Database.Database): void {
  const m = core.m;
  m.loadMeta(new Map((core.st.allMeta.all() as [string, number][]).map(([k, v]) => [k, v])));
  for (const [id, name] of db.prepare('SELECT id, name FROM sensors').raw(true).all() as [number, string][]) {
    m.registerSensor(id, name);
  }
  const perSensor = db.prepare('SELECT sensor_id, count(*) FROM telemetry GROUP BY sensor_id').raw(true).all() as [
    number,
    number,
  ][];
  const [ec, eb] = db.prepare('SELECT count(*), coalesce(sum(bytes), 0) FROM events').raw(true).get() as [
    number,
    number,
  ];
  m.loadRows(perSensor, ec, eb);
}

/** The high-water mark is above what the database recorded: committed transactions are gone. */
function restartAboveRollback(core: OutboxCore, ceiling: number): void {
  const m = core.m;
  const from = m.seq;
  m.seq = Math.max(m.seq, ceiling);
  m.dbCeiling = ceiling;
  m.seqRollbacks++;
  try {
    core.db!.transaction(() => {
      core.st.setMeta.run(m.seq, 'seq');
      core.st.putMeta.run('seq_ceiling', ceiling);
      core.st.putMeta.run('seq_rollbacks', m.seqRollbacks);
    })();
  } catch (err) {
    // kept in memory; the high-water mark still covers every seq handed out
    core.log.warn({ err }, 'seq rollback not recorded in the outbox');
  }
  const path = core.options.path;
  recordIncident(core, {
    code: 'EL_ERR_OUTBOX_SEQ_ROLLBACK',
    message:
      `outbox ${path}: seq counter ${from} is below the high-water mark ${ceiling}: committed transactions were lost ` +
      `(WAL file deleted or lost in a power cut); readings accepted after seq ${from} are gone, new seqs start at ${m.seq + 1}`,
    details: { path, dbSeq: from, ceiling, nextSeq: m.seq + 1 },
  });
}

function recordIncident(core: OutboxCore, incident: OutboxIncident): void {
  const { code, message, details } = incident;
  core.incidents.push(incident);
  if (incidentChannel.hasSubscribers) incidentChannel.publish({ code, message, details });
  core.log.error({ code, ...details }, message);
}

/** maxBytes is a bound on accounted bytes; say so when the volume could never hold that much. */
function warnIfVolumeSmall(core: OutboxCore, disk: DiskGuard): void {
  try {
    const total = disk.totalBytes();
    const need = core.options.maxBytes * DISK_BYTES_PER_ACCOUNTED_BYTE;
    if (need > total) {
      core.log.warn(
        { maxBytes: core.options.maxBytes, volumeBytes: total },
        `outbox.maxBytes needs about ${need} bytes of disk, the volume has ${total}: the free-space bound (minFreeBytes) applies first`,
      );
    }
  } catch {
    /* statfs unsupported: the SQLITE_FULL handling still applies */
  }
}

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
