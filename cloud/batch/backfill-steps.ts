/**
 * The steps of a backfill job (backfill.ts runs them): planning a range into units from the archive's per-device,
 * per-hour counts, running one unit (its window features COPY'd to a staged Parquet file, fsynced), committing a
 * day (the staged files in and the day's earlier files out by one commit record), and finishing a commit a crash
 * interrupted.
 */
import { channel } from 'node:diagnostics_channel';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { EdgeloopError } from '../../protocol/errors.ts';
import {
  applyDeletes,
  applyRenames,
  fsyncPath,
  readCommit,
  removeTmpFiles,
  writeCommit,
  writeSchemaFile,
} from '../feature-store/parquet-commit.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import type { GroupSchema } from '../feature-store/parquet-schema.ts';
import { floorMod } from '../warehouse/schema.ts';
import type { UnitRow } from './batch-store.ts';
import {
  HOUR_MS,
  planBackfill,
  utcDate,
  type BackfillPlan,
  type BackfillUnit,
  type DeviceHourCount,
} from './backfill-plan.ts';
import {
  alignmentMs,
  featureColumns,
  lookbackMs,
  windowFeatureSql,
  type FeatureColumnDef,
  type WindowFeatureSpec,
} from './window-features.ts';

const C = 'Backfill';

/** What the steps need of the job's options. */
export interface StepContext {
  archiveDir: string;
  spec: WindowFeatureSpec;
  targetRows: number;
  skewFactor: number;
  compression: string;
  group: string;
}

export interface UnitSpec extends BackfillUnit {
  devices?: string[];
}

export const BATCH_CHANNELS = { phase: channel('edgeloop:batch:phase') };

export function phase(p: string, extra: Record<string, string> = {}): void {
  if (BATCH_CHANNELS.phase.hasSubscribers) BATCH_CHANNELS.phase.publish({ phase: p, ...extra });
}

/** Readings files of the archive whose hour partition overlaps [from, to). */
export async function readingFiles(archiveDir: string, from: number, to: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = Math.floor(from / HOUR_MS) * HOUR_MS; h < to; h += HOUR_MS) {
    const iso = new Date(h).toISOString();
    const dir = join(archiveDir, 'readings', `date=${iso.slice(0, 10)}`, `hour=${iso.slice(11, 13)}`);
    for (const f of (await readdir(dir).catch(() => [] as string[])).sort())
      if (f.startsWith('part-') && f.endsWith('.parquet')) out.push(join(dir, f));
  }
  return out;
}

/** Finish a day commit a crash interrupted; drop uncommitted temp files. */
export async function recoverGroup(groupDir: string): Promise<void> {
  await mkdir(groupDir, { recursive: true });
  const commit = await readCommit(groupDir);
  await applyRenames(groupDir, commit.renames);
  await applyDeletes(groupDir, commit.deletes);
  await removeTmpFiles(groupDir);
}

export async function planRange(
  conn: DuckDBConnection,
  ctx: StepContext,
  from: number,
  to: number,
  devices: string[] | undefined,
): Promise<{
  units: BackfillUnit[];
  skewed: BackfillPlan['skewed'];
  columns: FeatureColumnDef[];
  readings: number;
}> {
  const files = await readingFiles(ctx.archiveDir, from, to);
  const noData = (): EdgeloopError =>
    new EdgeloopError(
      'EL_ERR_BATCH_NO_DATA',
      `${C}: the raw archive (${ctx.archiveDir}) holds no readings from ${utcDate(from)} to ${utcDate(to - 1)}${devices ? ` of ${devices.join(', ')}` : ''}`,
    );
  if (files.length === 0) throw noData();
  const list = `[${files.map(sqlString).join(', ')}]`;
  const where = `ts >= make_timestamptz(${from * 1000}::BIGINT) AND ts < make_timestamptz(${to * 1000}::BIGINT)${devices ? ` AND device_id IN (${devices.map(sqlString).join(', ')})` : ''}`;
  const counts = (
    await (
      await conn.runAndReadAll(
        // the hour by arithmetic on the epoch (date_trunc on a TIMESTAMPTZ goes through the ICU calendar per row)
        `SELECT device_id, t - ${floorMod('t', HOUR_MS)} AS h, count(*) AS n FROM (SELECT device_id, epoch_ms(ts) AS t FROM read_parquet(${list}) WHERE ${where}) GROUP BY ALL`,
      )
    ).getRowObjectsJS()
  ).map((x) => ({ device: String(x.device_id), hour: Number(x.h), rows: Number(x.n) }) satisfies DeviceHourCount);
  const readings = counts.reduce((a, c) => a + c.rows, 0);
  if (readings === 0) throw noData();
  const sensors = (
    await (
      await conn.runAndReadAll(`SELECT DISTINCT sensor FROM read_parquet(${list}) WHERE ${where}`)
    ).getRowObjectsJS()
  ).map((x) => String(x.sensor));
  const kw = await conn.runAndReadAll("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'");
  const keywords = new Set(kw.getRowObjectsJS().map((x) => String(x.keyword_name).toLowerCase()));
  const columns = featureColumns(ctx.spec, sensors, keywords);
  if (columns.length === 0)
    throw new EdgeloopError(
      'EL_ERR_BATCH_NO_DATA',
      `${C}: no window features to compute: none of the sensors ${sensors.join(', ')} gets window features`,
    );
  const plan = planBackfill(
    counts,
    { from, to },
    {
      targetRows: ctx.targetRows,
      skewFactor: ctx.skewFactor,
      alignMs: alignmentMs(ctx.spec),
    },
  );
  return { units: plan.units, skewed: plan.skewed, columns, readings };
}

export async function runUnit(
  conn: DuckDBConnection,
  ctx: StepContext,
  u: UnitSpec,
  columns: FeatureColumnDef[],
  writeTime: number,
  out: string,
): Promise<{ rows: number; bytes: number }> {
  const files = await readingFiles(ctx.archiveDir, u.from - lookbackMs(ctx.spec), u.to);
  const tmp = `${out}.tmp`;
  if (files.length === 0) return { rows: 0, bytes: 0 };
  const sql = windowFeatureSql(ctx.spec, {
    files,
    from: u.from,
    to: u.to,
    deviceRange: { first: u.first, last: u.last },
    devices: u.devices,
    columns,
    writeTime,
  });
  const res = await conn.run(`COPY (${sql}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION ${ctx.compression})`);
  await fsyncPath(tmp);
  await rename(tmp, out);
  return { rows: Number(res.rowsChanged), bytes: (await stat(out)).size };
}

/** One commit for the day: the job's staged files in, the day's earlier files out (or rewritten without `devices`). */
export async function commitDay(
  conn: DuckDBConnection,
  ctx: StepContext,
  groupDir: string,
  date: string,
  jobId: number,
  units: UnitRow[],
  stagedPath: (u: UnitRow) => string,
  columns: FeatureColumnDef[],
  devices: string[] | undefined,
): Promise<number> {
  const dayDir = `date=${date}`;
  await mkdir(join(groupDir, dayDir), { recursive: true });
  const old = (await readdir(join(groupDir, dayDir)).catch(() => [] as string[]))
    .filter((f) => f.startsWith('part-') && f.endsWith('.parquet'))
    .sort()
    .map((f) => `${dayDir}/${f}`);
  const renames: { from: string; to: string }[] = [];
  let n = 0;
  for (const u of units) {
    if (!u.rows) continue;
    const base = `part-bf${jobId}-${String(n++).padStart(4, '0')}.parquet`;
    const from = `${dayDir}/.${base}.tmp`;
    await rename(stagedPath(u), join(groupDir, from));
    renames.push({ from, to: `${dayDir}/${base}` });
  }
  if (devices && old.length > 0) {
    // the rest of the fleet keeps its rows: the old files without the devices recomputed
    const base = `part-bf${jobId}-keep.parquet`;
    const from = `${dayDir}/.${base}.tmp`;
    await conn.run(
      `COPY (SELECT * FROM read_parquet([${old.map((f) => sqlString(join(groupDir, f))).join(', ')}], union_by_name = true)
       WHERE entity_id NOT IN (${devices.map(sqlString).join(', ')}) ORDER BY entity_id, event_time)
       TO ${sqlString(join(groupDir, from))} (FORMAT parquet, COMPRESSION ${ctx.compression})`,
    );
    await fsyncPath(join(groupDir, from));
    renames.push({ from, to: `${dayDir}/${base}` });
  }
  const prev = await readCommit(groupDir);
  const next: GroupSchema = {
    version: prev.schema.version,
    columns: columns.map((c) => ({ name: c.column, feature: c.feature, type: 'DOUBLE' })),
  };
  if (JSON.stringify(prev.schema.columns) !== JSON.stringify(next.columns)) next.version++;
  await fsyncPath(join(groupDir, dayDir));
  const deletes = old.filter((f) => !renames.some((r) => r.to === f));
  await writeCommit(groupDir, { schema: next, positions: {}, renames, deletes });
  phase('day-committed', { date });
  await applyRenames(groupDir, renames);
  await applyDeletes(groupDir, deletes);
  phase('day-applied', { date });
  await writeSchemaFile(groupDir, ctx.group, next);
  return renames.length;
}
