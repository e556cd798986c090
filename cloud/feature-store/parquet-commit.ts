/**
 * The commit record of one offline feature group: `<dir>/<group>/_commit.json`. It is the single commit point
 * of a flush, written atomically (temp file, fsync, rename, fsync of the directory):
 *
 *   { "format": 1, "schema": {...}, "positions": { "<consumer>": { "<shard>": "<sequence number>" } },
 *     "renames": [{ "from": "date=.../.part-....parquet.tmp", "to": "date=.../part-....parquet" }] }
 *
 * A flush writes its Parquet files (new rows, and older files rewritten to a new schema) under hidden `.tmp`
 * names and fsyncs them, then writes this record, then renames the files into place. At start, renames whose
 * temp file still exists are redone (the flush had committed), and every other `.tmp` file is removed (its
 * flush had not). So a group's visible files, its schema and the stream positions of its rows always agree.
 *
 * A commit may also list `deletes`: committed files a compaction replaced (the raw archive, cloud/archive/). They
 * are removed after the renames, and again at start after a crash (removing a file already gone is a no-op).
 *
 * `_schema.json` beside it is the reader-facing copy of the schema, rewritten after each schema change.
 */
import { open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { EMPTY_SCHEMA, FIXED_COLUMNS, parseSchema, type GroupSchema } from './parquet-schema.ts';

/** stream positions of the rows in a group: consumer → shard → sequence number of the last record */
export type StreamPositions = Record<string, Record<string, string>>;

/** `newer` positions over `older` ones, per consumer and shard */
export function mergePositions(older: StreamPositions, newer: StreamPositions): StreamPositions {
  const out: StreamPositions = {};
  for (const [consumer, shards] of Object.entries(older)) out[consumer] = { ...shards };
  for (const [consumer, shards] of Object.entries(newer)) out[consumer] = { ...out[consumer], ...shards };
  return out;
}

export interface GroupCommit {
  /** false when the group has no commit record yet */
  found?: boolean;
  schema: GroupSchema;
  positions: StreamPositions;
  renames: { from: string; to: string }[];
  /** committed files replaced by this commit's renames (compaction); removed after the renames */
  deletes?: string[];
}

export const COMMIT_FILE = '_commit.json';
export const SCHEMA_FILE = '_schema.json';

/** fsync a file or a directory (directory fsync makes a rename durable; some platforms refuse it). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EISDIR' && (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}

/** Write `text` to `path` atomically and durably. */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  await writeFile(tmp, text);
  await fsyncPath(tmp);
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}

function parsePositions(v: unknown, where: string): StreamPositions {
  const ok =
    typeof v === 'object' &&
    v !== null &&
    Object.values(v).every(
      (m) => typeof m === 'object' && m !== null && Object.values(m).every((s) => typeof s === 'string'),
    );
  if (!ok) throw new Error(`${where}: "positions" must be { consumer: { shard: sequenceNumber } }`);
  return v as StreamPositions;
}

/** Read a group's commit record; the empty one when the group has none yet. */
export async function readCommit(groupDir: string): Promise<GroupCommit> {
  const path = join(groupDir, COMMIT_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { found: false, schema: EMPTY_SCHEMA, positions: {}, renames: [] };
    throw err;
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (v.format !== 1) throw new Error(`${path}: "format" must be 1, got ${JSON.stringify(v.format)}`);
    const renames = v.renames as GroupCommit['renames'];
    if (!Array.isArray(renames) || !renames.every((r) => typeof r?.from === 'string' && typeof r.to === 'string')) {
      throw new Error(`${path}: "renames" must be [{ from, to }]`);
    }
    const deletes = v.deletes ?? [];
    if (!Array.isArray(deletes) || !deletes.every((d) => typeof d === 'string'))
      throw new Error(`${path}: "deletes" must be an array of paths`);
    return {
      found: true,
      schema: parseSchema(v.schema, path),
      positions: parsePositions(v.positions, path),
      renames,
      deletes: deletes as string[],
    };
  } catch (err) {
    throw new EdgeloopError(
      'EL_ERR_OFFLINE_STORE_COMMIT',
      `offline store: ${path} is not a valid commit record: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export async function writeCommit(groupDir: string, c: GroupCommit): Promise<void> {
  const doc = {
    format: 1,
    schema: c.schema,
    positions: c.positions,
    renames: c.renames,
    ...(c.deletes && c.deletes.length > 0 ? { deletes: c.deletes } : {}),
  };
  await writeFileDurably(join(groupDir, COMMIT_FILE), `${JSON.stringify(doc, null, 1)}\n`);
}

/** Rename the committed files into place (again, after a crash), then fsync their directories. */
export async function applyRenames(groupDir: string, renames: GroupCommit['renames']): Promise<void> {
  const dirs = new Set<string>();
  for (const r of renames) {
    const from = join(groupDir, r.from);
    const exists = await stat(from).then(
      () => true,
      () => false,
    );
    if (!exists) continue;
    await rename(from, join(groupDir, r.to));
    dirs.add(dirname(join(groupDir, r.to)));
  }
  for (const d of dirs) await fsyncPath(d);
}

/** Remove the files a committed compaction replaced (again, after a crash), then fsync their directories. */
export async function applyDeletes(groupDir: string, deletes: readonly string[] = []): Promise<void> {
  const dirs = new Set<string>();
  for (const d of deletes) {
    await rm(join(groupDir, d), { force: true });
    dirs.add(dirname(join(groupDir, d)));
  }
  for (const d of dirs) await fsyncPath(d).catch(() => undefined);
}

/** Remove hidden `.tmp` files under `dir` (depth ≤ 2): leftovers of a flush that did not commit. */
export async function removeTmpFiles(dir: string, depth = 0): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth < 2) await removeTmpFiles(p, depth + 1);
    else if (e.isFile() && e.name.startsWith('.') && e.name.endsWith('.tmp')) await rm(p, { force: true });
  }
}

/** The reader-facing schema file. */
export async function writeSchemaFile(groupDir: string, group: string, schema: GroupSchema): Promise<void> {
  const doc = {
    group,
    version: schema.version,
    columns: [
      ...FIXED_COLUMNS.map((c) => ({ name: c.name, type: c.type, nullable: false })),
      ...schema.columns.map((c) => ({ name: c.name, type: c.type, nullable: true, feature: c.feature })),
    ],
    partitioning: ['date'],
  };
  await writeFileDurably(join(groupDir, SCHEMA_FILE), `${JSON.stringify(doc, null, 1)}\n`);
}

/** The version in a group's `_schema.json`; undefined when it is missing or unreadable. */
export async function readSchemaFileVersion(groupDir: string): Promise<number | undefined> {
  try {
    const v = (JSON.parse(await readFile(join(groupDir, SCHEMA_FILE), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The part files of a group directory, as `date=…/part-….parquet` paths, sorted. */
export async function listPartFiles(groupDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(groupDir, { withFileTypes: true }).catch(() => [])) {
    if (!d.isDirectory() || !d.name.startsWith('date=')) continue;
    for (const f of await readdir(join(groupDir, d.name))) {
      if (f.startsWith('part-') && f.endsWith('.parquet')) out.push(`${d.name}/${f}`);
    }
  }
  return out.sort();
}
