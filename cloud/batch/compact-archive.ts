/**
 * Compaction of the raw archive by a batch job, when no archive consumer runs on it (the running RawArchive
 * compacts settled partitions itself at each flush, and owns `_commit.json` while it runs: the caller makes sure
 * it does not, e.g. by holding the data directory's lock). Same plan (cloud/archive/compaction.ts) and the same
 * commit protocol as the archive's own compaction: the merged file is written as an fsynced `.tmp`, one commit
 * record names the rename and the deletes, with the stream positions of the last commit kept as they were.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { listPartitions } from '../archive/archive-files.ts';
import { ARCHIVE_TABLE_NAMES } from '../archive/archive-tables.ts';
import { planCompaction } from '../archive/compaction.ts';
import {
  applyDeletes,
  applyRenames,
  fsyncPath,
  readCommit,
  removeTmpFiles,
  writeCommit,
} from '../feature-store/parquet-commit.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';

/** Merge the small files of settled partitions; returns the files merged and the bytes written. */
export async function compactArchive(
  conn: DuckDBConnection,
  dir: string,
  o: { now: number; settleMs: number; targetBytes: number; compression?: string },
): Promise<{ groups: number; filesMerged: number; bytes: number }> {
  const commit = await readCommit(dir);
  if (!commit.found) return { groups: 0, filesMerged: 0, bytes: 0 };
  // finish what a crash interrupted first, as the archive does at start
  await applyRenames(dir, commit.renames);
  await applyDeletes(dir, commit.deletes);
  for (const t of ARCHIVE_TABLE_NAMES) await removeTmpFiles(join(dir, t)).catch(() => undefined);
  const plan = planCompaction(await listPartitions(dir), o);
  let filesMerged = 0;
  let bytes = 0;
  for (const g of plan) {
    const base = `part-${o.now}-${randomBytes(4).toString('hex')}.parquet`;
    const from = `${g.partition}/.${base}.tmp`;
    const list = `[${g.files.map((f) => sqlString(join(dir, f))).join(', ')}]`;
    await conn.run(
      `COPY (SELECT * FROM read_parquet(${list}) ORDER BY device_id, seq, ts) TO ${sqlString(join(dir, from))} (FORMAT parquet, COMPRESSION ${o.compression ?? 'zstd'})`,
    );
    await fsyncPath(join(dir, from));
    const renames = [{ from, to: `${g.partition}/${base}` }];
    await writeCommit(dir, { schema: commit.schema, positions: commit.positions, renames, deletes: g.files });
    await applyRenames(dir, renames);
    await applyDeletes(dir, g.files);
    filesMerged += g.files.length;
    bytes += (await stat(join(dir, renames[0]!.to))).size;
  }
  return { groups: plan.length, filesMerged, bytes };
}
