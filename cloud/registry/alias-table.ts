/**
 * AliasTable: the registry's aliases (a name such as `production` pointing at one version of a model) and their
 * history, over the registry's SQLite database (tables `aliases` and `alias_history`, created by its migrations).
 * A move writes the alias and its history row in one transaction; announcing it is the registry's job.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AliasEvent, AliasRecord } from './registry-records.ts';

const ALIAS_RE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

interface AliasRow {
  name: string;
  alias: string;
  version: string;
  updated_at: number;
}

/** Refuse an alias name that is not a letter then up to 63 of [A-Za-z0-9._-], or that is "latest". */
export function assertAliasName(alias: string): void {
  if (typeof alias !== 'string' || !ALIAS_RE.test(alias) || alias === 'latest') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `alias ${JSON.stringify(alias)} is invalid: expected a letter then up to 63 of [A-Za-z0-9._-], not "latest"`,
    );
  }
}

function toAlias(r: AliasRow): AliasRecord {
  return { name: r.name, alias: r.alias, version: r.version, updatedAt: r.updated_at };
}

export class AliasTable {
  readonly #db: Database.Database;
  readonly #stmts: Record<
    'aliasesOf' | 'allAliases' | 'getAlias' | 'setAlias' | 'delAlias' | 'history' | 'historyOf',
    Database.Statement
  >;

  /** Statements are prepared once, on a database whose schema has the alias tables. */
  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      aliasesOf: db.prepare('SELECT * FROM aliases WHERE name = ? ORDER BY alias'),
      allAliases: db.prepare('SELECT * FROM aliases ORDER BY name, alias'),
      getAlias: db.prepare('SELECT * FROM aliases WHERE name = ? AND alias = ?'),
      setAlias: db.prepare(
        `INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      ),
      delAlias: db.prepare('DELETE FROM aliases WHERE name = ? AND alias = ?'),
      history: db.prepare('INSERT INTO alias_history (name, alias, version, previous, at) VALUES (?, ?, ?, ?, ?)'),
      historyOf: db.prepare(
        'SELECT * FROM alias_history WHERE name = ? AND (? IS NULL OR alias = ?) ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /** The aliases of one model, by alias name. */
  of(name: string): AliasRecord[] {
    return (this.#stmts.aliasesOf.all(name) as AliasRow[]).map(toAlias);
  }

  /** Every alias of every model, by model then alias name. */
  all(): AliasRecord[] {
    return (this.#stmts.allAliases.all() as AliasRow[]).map(toAlias);
  }

  get(name: string, alias: string): AliasRecord | undefined {
    const r = this.#stmts.getAlias.get(name, alias) as AliasRow | undefined;
    return r ? toAlias(r) : undefined;
  }

  /** Point `alias` at `version` at time `at`, with a history row; `moved` is false when it pointed there already. */
  set(name: string, alias: string, version: string, at: number): { event: AliasEvent; moved: boolean } {
    const previous = this.get(name, alias)?.version;
    const event: AliasEvent = { name, alias, version, previous, at };
    if (previous === version) return { event, moved: false };
    this.#db.transaction(() => {
      this.#stmts.setAlias.run(name, alias, version, at);
      this.#stmts.history.run(name, alias, version, previous ?? null, at);
    })();
    return { event, moved: true };
  }

  delete(name: string, alias: string): boolean {
    return this.#stmts.delAlias.run(name, alias).changes > 0;
  }

  /** The moves of a model's aliases (or of one alias), newest first. */
  history(name: string, alias: string | undefined, limit: number): AliasEvent[] {
    const a = alias ?? null;
    return (
      this.#stmts.historyOf.all(name, a, a, limit) as Array<{
        name: string;
        alias: string;
        version: string;
        previous: string | null;
        at: number;
      }>
    ).map((r) => ({ name: r.name, alias: r.alias, version: r.version, previous: r.previous ?? undefined, at: r.at }));
  }
}
