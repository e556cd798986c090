/**
 * The evaluation status of a model version (retraining's champion/challenger writes `candidate` or `rejected`, or
 * any other word a workflow uses) with its reason and details, over the registry's SQLite database (table
 * `version_status`, created by its migrations). One status per version: a new one replaces the last.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface VersionStatus {
  name: string;
  version: string;
  status: string;
  reason: string | undefined;
  details: Record<string, unknown> | undefined;
  at: number;
}

const STATUS_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** Refuse a status word that is not [a-z][a-z0-9-]* (up to 32 characters). */
export function assertStatusWord(status: string): void {
  if (!STATUS_RE.test(status))
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `status ${JSON.stringify(status)} is invalid: expected [a-z][a-z0-9-]*`,
    );
}

export class VersionStatusTable {
  readonly #set: Database.Statement;
  readonly #get: Database.Statement;

  /** Statements are prepared once, on a database whose schema has the status table. */
  constructor(db: Database.Database) {
    this.#set = db.prepare(
      `INSERT INTO version_status (name, version, status, reason, details, at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(name, version) DO UPDATE SET status = excluded.status, reason = excluded.reason,
         details = excluded.details, at = excluded.at`,
    );
    this.#get = db.prepare('SELECT * FROM version_status WHERE name = ? AND version = ?');
  }

  set(
    name: string,
    version: string,
    status: string,
    reason: string | undefined,
    details: Record<string, unknown> | undefined,
    at: number,
  ): VersionStatus {
    this.#set.run(name, version, status, reason ?? null, details ? JSON.stringify(details) : null, at);
    return { name, version, status, reason, details, at };
  }

  get(name: string, version: string): VersionStatus | undefined {
    const r = this.#get.get(name, version) as
      | { name: string; version: string; status: string; reason: string | null; details: string | null; at: number }
      | undefined;
    if (!r) return undefined;
    return {
      name: r.name,
      version: r.version,
      status: r.status,
      reason: r.reason ?? undefined,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : undefined,
      at: r.at,
    };
  }
}
