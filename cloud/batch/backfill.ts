/**
 * Backfill: recompute the processor's window features (window-features.ts) for a range of UTC days from the raw
 * archive, into the offline store's layout, and re-aggregate the warehouse for that range.
 *
 * Output: `<offlineDir>/<group>/date=YYYY-MM-DD/part-bf<job>-<n>.parquet` (group `device_windows` by default),
 * the offline store's Hive layout and schema (entity_id, event_time, write_time, one DOUBLE column per feature,
 * SQL-safe names), with its `_commit.json` / `_schema.json`. A day is committed as one: its new files are renamed
 * in and the files of earlier backfills of that day deleted by one commit record (cloud/feature-store/
 * parquet-commit.ts), so a reader sees the old day or the new one, and a rerun replaces rather than duplicates.
 * With `devices`, the earlier files of the day are rewritten without those devices in the same commit.
 *
 * A job: plan (backfill-plan.ts, from per-device, per-hour counts of the archive) → units run by a pool of
 * `parallel` workers on one DuckDB instance, each unit retried per `retry` (lib/retry.ts) → days committed →
 * warehouse re-aggregated. Checkpoints (batch-store.ts): a unit is marked done once its output file is fsynced
 * in the staging directory (`<stateDir>/staging/job-<id>/`), committed once its day is. A job killed at any
 * point (kill -9) is resumed by the same command: it finds the unfinished job by its parameters, keeps its plan,
 * feature columns and write time, and runs only the units not done (or done but whose staged file a crash
 * removed before its day was committed).
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { retry } from '../../lib/retry.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { z } from 'zod';
import { optionRuleError, parseOptions } from '../../lib/options.ts';
import { BackfillOptionsSchema, type BackfillOptions } from './backfill-options.ts';
import { BatchStore, type UnitRow } from './batch-store.ts';
import {
  commitDay,
  phase,
  planRange,
  recoverGroup,
  runUnit,
  type StepContext,
  type UnitSpec,
} from './backfill-steps.ts';

/**
 * diagnostics_channel `edgeloop:batch:phase`: `{ phase, unit?, date? }` at 'unit-done' (a unit's output fsynced
 * and checkpointed), 'day-committed' (the day's commit record written), 'day-applied' (its files in place), and
 * 'day-checkpointed' (its units marked committed). Crash tests stop the process at each.
 */
export { BATCH_CHANNELS, readingFiles } from './backfill-steps.ts';
export type { BackfillOptions, BackfillProgress } from './backfill-options.ts';
import { DAY_MS } from './backfill-plan.ts';
import { windowFeatureSpec, type FeatureColumnDef, type WindowFeatureSpec } from './window-features.ts';

export interface BackfillResult {
  jobId: number;
  resumed: boolean;
  units: number;
  /** units done in this run (the rest were done by the run that was killed) */
  unitsRun: number;
  unitsOk: number;
  unitsFailed: number;
  /** units that needed more than one attempt */
  unitsRetried: number;
  attempts: number;
  /** units ok / units, 0..1 */
  successRate: number;
  /** devices split into sub-ranges (skew) */
  skewed: { date: string; device: string; rows: number; medianRows: number; units: number }[];
  /** readings in the range (of the devices asked for) */
  readings: number;
  /** feature rows written */
  rows: number;
  bytes: number;
  daysCommitted: string[];
  daysFailed: string[];
  /** hours the warehouse re-aggregated; undefined when no warehouse was given */
  hoursAggregated: number | undefined;
  ms: number;
  errors: { unit: string; error: string }[];
}

const C = 'Backfill';

/** Parse `YYYY-MM-DD` or an ISO time at UTC midnight (or ms since the epoch) as the start of a UTC day. */
export function parseDay(v: string, what: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t) || t % DAY_MS !== 0)
    throw new EdgeloopError(
      'EL_ERR_BATCH_RANGE',
      `${what} ${JSON.stringify(v)} is not a UTC day: give YYYY-MM-DD (or an ISO time at 00:00Z)`,
    );
  return t;
}

export class Backfill {
  readonly #o: z.output<typeof BackfillOptionsSchema>;
  readonly #group: string;
  readonly #spec: WindowFeatureSpec;
  readonly #target: number;
  readonly #skew: number;
  readonly #parallel: number;
  readonly #threads: number;
  readonly #compression: string;
  readonly #retry: Partial<RetryPolicy>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #steps: StepContext;

  constructor(opts: BackfillOptions) {
    const o = parseOptions(BackfillOptionsSchema, opts, { where: C });
    this.#o = o;
    this.#group = o.group;
    if (!/^[a-z][a-z0-9_]*$/.test(this.#group))
      throw optionRuleError(
        C,
        'group',
        `group ${JSON.stringify(this.#group)} must match [a-z][a-z0-9_]*`,
        'EL_ERR_BATCH_INVALID',
      );
    this.#spec = windowFeatureSpec(o.aggregation);
    this.#target = o.targetRows;
    if (!(typeof o.skewFactor === 'number' && o.skewFactor > 1))
      throw optionRuleError(
        C,
        'skewFactor',
        `skewFactor must be a number > 1, got ${o.skewFactor}`,
        'EL_ERR_BATCH_INVALID',
      );
    this.#skew = o.skewFactor;
    this.#parallel = o.parallel;
    this.#threads = o.threads;
    this.#compression = o.compression;
    this.#retry = { minMs: 200, maxMs: 5000, maxAttempts: 3, ...o.retry };
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#steps = {
      archiveDir: o.archiveDir,
      spec: this.#spec,
      targetRows: this.#target,
      skewFactor: this.#skew,
      compression: this.#compression,
      group: this.#group,
    };
  }

  get spec(): WindowFeatureSpec {
    return this.#spec;
  }

  /** Run (or resume) the backfill of the windows ending in the UTC days [from, to). */
  async run(r: { from: number; to: number; devices?: readonly string[] }): Promise<BackfillResult> {
    const t0 = performance.now();
    if (!(r.from < r.to) || r.from % DAY_MS !== 0 || r.to % DAY_MS !== 0)
      throw new EdgeloopError(
        'EL_ERR_BATCH_RANGE',
        `${C}: the range must be whole UTC days with from < to, got ${new Date(r.from).toISOString()} .. ${new Date(r.to).toISOString()}`,
      );
    const devices = r.devices && r.devices.length > 0 ? [...new Set(r.devices)].sort() : undefined;
    const store = BatchStore.open(join(this.#o.stateDir, 'batch.db'));
    const instance = await DuckDBInstance.create(':memory:', { threads: String(this.#threads) });
    const conns: DuckDBConnection[] = [];
    try {
      for (let i = 0; i < this.#parallel; i++) {
        const c = await instance.connect();
        await c.run("SET TimeZone = 'UTC'");
        conns.push(c);
      }
      const groupDir = join(this.#o.offlineDir, this.#group);
      await recoverGroup(groupDir);
      const key = JSON.stringify({
        from: r.from,
        to: r.to,
        devices: devices ?? null,
        group: this.#group,
        windows: this.#spec.windows,
        stats: this.#spec.stats,
      });
      let job = store.openJob(key);
      const resumed = job !== undefined;
      let skewed: BackfillResult['skewed'] = [];
      if (job) store.resetFailed(job.jobId);
      else {
        const planned = await planRange(conns[0]!, this.#steps, r.from, r.to, devices);
        skewed = planned.skewed;
        const now = this.#clock.now();
        const jobId = store.createJob(
          {
            key,
            params: JSON.stringify({
              from: r.from,
              to: r.to,
              devices: devices ?? null,
              skewed,
              readings: planned.readings,
            }),
            columns: JSON.stringify(planned.columns),
            writeTime: now,
            createdAt: now,
          },
          planned.units.map((u) => ({ unitId: u.id, date: u.date, spec: JSON.stringify({ ...u, devices }) })),
        );
        job = store.openJob(key)!;
        if (job.jobId !== jobId) throw new Error('batch state: job lost after insert');
      }
      const params = JSON.parse(job.params) as { skewed: BackfillResult['skewed']; readings: number };
      skewed = params.skewed;
      const columns = JSON.parse(job.columns) as FeatureColumnDef[];
      const jobId = job.jobId;
      const staging = join(this.#o.stateDir, 'staging', `job-${jobId}`);
      await mkdir(staging, { recursive: true });
      const stagedPath = (u: UnitRow): string => join(staging, `${u.unitId.replace('/', '_')}.parquet`);
      // a unit marked done whose staged file is gone (a crash during its day's commit) runs again
      for (const u of store.units(jobId)) {
        if (u.status !== 'done') continue;
        if (!(await exists(stagedPath(u))))
          store.unitEnded(jobId, u.unitId, { status: 'pending', at: this.#clock.now() });
      }
      const all = store.units(jobId);
      const todo = all.filter((u) => u.status === 'pending');
      this.#o.onProgress?.({ kind: 'planned', jobId, units: all.length, resumed });
      this.#log.info({ jobId, units: all.length, todo: todo.length, resumed }, 'backfill planned');
      let attempts = 0;
      let retried = 0;
      const errors: BackfillResult['errors'] = [];
      let next = 0;
      const worker = async (conn: DuckDBConnection): Promise<void> => {
        for (;;) {
          const u = todo[next++];
          if (!u) return;
          const spec = JSON.parse(u.spec) as UnitSpec;
          let tries = 0;
          try {
            const res = await retry(
              async (attempt) => {
                tries = attempt;
                attempts++;
                store.unitStarted(jobId, u.unitId, this.#clock.now());
                await this.#o.beforeUnit?.(spec, attempt);
                return runUnit(conn, this.#steps, spec, columns, job!.writeTime, stagedPath(u));
              },
              {
                policy: this.#retry,
                clock: this.#clock,
                onFailedAttempt: ({ error, attempt, delayMs }) =>
                  this.#log.warn({ err: error, unit: u.unitId, attempt, delayMs }, 'backfill unit failed'),
              },
            );
            if (tries > 1) retried++;
            store.unitEnded(jobId, u.unitId, {
              status: 'done',
              at: this.#clock.now(),
              rows: res.rows,
              bytes: res.bytes,
            });
            phase('unit-done', { unit: u.unitId });
            this.#o.onProgress?.({
              kind: 'unit',
              jobId,
              unit: u.unitId,
              status: 'done',
              attempts: tries,
              rows: res.rows,
            });
          } catch (err) {
            if (tries > 1) retried++;
            const msg = (err as Error).message;
            errors.push({ unit: u.unitId, error: msg });
            store.unitEnded(jobId, u.unitId, { status: 'failed', at: this.#clock.now(), error: msg });
            this.#o.onProgress?.({ kind: 'unit', jobId, unit: u.unitId, status: 'failed', attempts: tries, rows: 0 });
          }
        }
      };
      await Promise.all(conns.map((c) => worker(c)));

      // commit every day whose units are all done
      const after = store.units(jobId);
      const byDate = new Map<string, UnitRow[]>();
      for (const u of after) byDate.set(u.date, [...(byDate.get(u.date) ?? []), u]);
      const daysCommitted: string[] = [];
      const daysFailed: string[] = [];
      for (const [date, units] of [...byDate].sort()) {
        if (units.every((u) => u.status === 'committed')) {
          daysCommitted.push(date);
          continue;
        }
        if (!units.every((u) => u.status === 'done' || u.status === 'committed')) {
          daysFailed.push(date);
          continue;
        }
        const files = await commitDay(
          conns[0]!,
          this.#steps,
          groupDir,
          date,
          jobId,
          units,
          stagedPath,
          columns,
          devices,
        );
        store.markCommitted(jobId, date, this.#clock.now());
        phase('day-checkpointed', { date });
        for (const u of units) await rm(stagedPath(u), { force: true });
        daysCommitted.push(date);
        this.#o.onProgress?.({ kind: 'day', jobId, date, files });
      }
      let hoursAggregated: number | undefined;
      if (this.#o.warehouse && daysCommitted.length > 0) {
        const { Warehouse } = await import('../warehouse/warehouse.ts');
        const wh = await Warehouse.open({
          path: this.#o.warehouse.path,
          archiveDir: this.#o.archiveDir,
          offlineDir: this.#o.offlineDir,
          ...(this.#o.warehouse.registryDb ? { registryDb: this.#o.warehouse.registryDb } : {}),
          ...(this.#o.warehouse.dedupDb ? { dedupDb: this.#o.warehouse.dedupDb } : {}),
          checks: { maxStalenessMs: null },
        });
        try {
          hoursAggregated = (await wh.refresh({ reaggregate: { from: r.from, to: r.to } })).hoursAggregated;
        } finally {
          wh.close();
        }
      }
      const final = store.units(jobId);
      const ok = final.filter((u) => u.status === 'done' || u.status === 'committed');
      const result: BackfillResult = {
        jobId,
        resumed,
        units: final.length,
        unitsRun: todo.length,
        unitsOk: ok.length,
        unitsFailed: final.length - ok.length,
        unitsRetried: retried,
        attempts,
        successRate: final.length === 0 ? 1 : ok.length / final.length,
        skewed,
        readings: params.readings,
        rows: ok.reduce((a, u) => a + (u.rows ?? 0), 0),
        bytes: ok.reduce((a, u) => a + (u.bytes ?? 0), 0),
        daysCommitted,
        daysFailed,
        hoursAggregated,
        ms: performance.now() - t0,
        errors,
      };
      if (result.unitsFailed === 0) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      store.finishJob(jobId, result.unitsFailed === 0 ? 'done' : 'failed', this.#clock.now(), formatBackfill(result));
      return result;
    } finally {
      for (const c of conns) c.closeSync();
      instance.closeSync();
      store.close();
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** One line per job: what ran, the success rate, the throughput. */
export function formatBackfill(r: BackfillResult): string {
  const mrps = r.ms > 0 ? r.readings / (r.ms / 1000) / 1e6 : 0;
  const lines = [
    `backfill job ${r.jobId}${r.resumed ? ' (resumed)' : ''}: ${r.unitsOk}/${r.units} units ok (success rate ${(r.successRate * 100).toFixed(1)} %), ` +
      `${r.unitsRun} run now, ${r.unitsRetried} retried, ${r.attempts} attempts`,
    `  ${r.readings} readings -> ${r.rows} window rows, ${r.bytes} bytes in ${(r.ms / 1000).toFixed(2)} s (${mrps.toFixed(2)} M readings/s)`,
    `  days committed: ${r.daysCommitted.join(', ') || 'none'}${r.daysFailed.length > 0 ? `; not committed (failed units): ${r.daysFailed.join(', ')}` : ''}`,
  ];
  for (const s of r.skewed)
    lines.push(
      `  skew: ${s.device} on ${s.date}: ${s.rows} readings (${(s.rows / Math.max(1, s.medianRows)).toFixed(0)}x the median) split into ${s.units} units`,
    );
  if (r.hoursAggregated !== undefined) lines.push(`  warehouse: ${r.hoursAggregated} hours re-aggregated`);
  for (const e of r.errors.slice(0, 5)) lines.push(`  failed unit ${e.unit}: ${e.error}`);
  return lines.join('\n');
}
