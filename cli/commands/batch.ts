/**
 * `edgeloop batch backfill|run|status`: the batch jobs over the raw archive (<dataDir>/archive). Wiring only:
 * cloud/batch/ does the work. See docs/batch.md.
 */
import type { CliContext } from '../../lib/cli-context.ts';
import { numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { acquireDataDirLock, type DataDirLock } from '../../lib/data-dir-lock.ts';
import { createCliLogger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureAggregatorOptions } from '../../cloud/processor/feature-aggregator.ts';
import { requireStore, resolveDataDir } from './features.ts';

export const help = `usage: edgeloop batch backfill --from DAY --to DAY [--devices ID,ID...] [options]
       edgeloop batch run [--date DAY] [--restart] [options]
       edgeloop batch status [--runs N] [options]

Batch jobs over the raw archive (<dataDir>/archive) that the cloud writes. See docs/batch.md.

  backfill  recompute the processor's window features (its processor.aggregation config) for the UTC days
            [--from, --to) from the archive into <dataDir>/offline/device_windows, and re-aggregate the warehouse
            for them. Skewed devices are split, units are retried and checkpointed: after a crash or a failed
            unit, the same command resumes the job. Exit 1 when units still failed (their days not committed).
  run       the daily DAG for one UTC day (default yesterday): compact -> refresh -> checks -> export-dataset,
            publish. A failed task stops its dependents; run again to resume from it (--restart: all tasks).
  status    the run log of the latest DAG runs and backfill jobs

options:
  --from DAY, --to DAY   backfill: first day and the day after the last (YYYY-MM-DD, UTC)
  --devices LIST         backfill: only these device ids (comma-separated)
  --target-rows N        backfill: readings per unit (default: batch.targetRows, 2000000)
  --skew-factor X        backfill: split devices with X times the median's readings (default: batch.skewFactor, 100)
  --parallel N           backfill: units at once (default: batch.parallel, 2)
  --no-aggregates        backfill: leave the warehouse alone
  --date DAY             run: the logical date (default: yesterday, UTC)
  --restart              run: run every task again, even those that succeeded for that date
  --runs N               status: how many runs and jobs to show (default 3)
  --config FILE          cloud config, for dataDir, processor.aggregation and batch (or EDGELOOP_CONFIG)
  --data-dir DIR         the cloud's data directory (default: dataDir of the config, ./.edgeloop/cloud)

exit status: 0 done, 1 failed units or tasks, no archive, a bad range, 2 wrong flags.
`;

const SUBS = ['backfill', 'run', 'status'] as const;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('batch', argv, {
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      devices: { type: 'string' },
      'target-rows': { type: 'string' },
      'skew-factor': { type: 'string' },
      parallel: { type: 'string' },
      'no-aggregates': { type: 'boolean' },
      date: { type: 'string' },
      restart: { type: 'boolean' },
      runs: { type: 'string', default: '3' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [sub, ...rest] = positionals;
  if (!SUBS.includes(sub as (typeof SUBS)[number]))
    throw usageError(
      'batch',
      sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`,
      `${SUBS.join(', ')}; see edgeloop batch --help`,
    );
  if (rest.length > 0)
    throw usageError('batch', `unexpected argument ${JSON.stringify(rest[0])}`, `edgeloop batch ${sub} [options]`);
  const { config, paths } = await resolveDataDir(values, ctx);
  const logger = createCliLogger(ctx.env.EDGELOOP_LOG_LEVEL ?? 'warn');
  const aggregation = (config.processor.aggregation ?? {}) as FeatureAggregatorOptions;

  if (sub === 'status') {
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const db = join(paths.batch, 'batch.db');
    if (!existsSync(db)) {
      ctx.stdout.write(`no batch runs yet in ${paths.dataDir}\n`);
      return 0;
    }
    const { BatchStore } = await import('../../cloud/batch/batch-store.ts');
    const { formatRunLog } = await import('../../cloud/batch/daily-dag.ts');
    const n = numberFlag('batch', '--runs', values.runs, { min: 1, integer: true })!;
    const store = BatchStore.open(db);
    try {
      const runs = store.runs(n).map((r) => ({ run: r, tasks: store.tasks(r.runId) }));
      ctx.stdout.write(runs.length > 0 ? formatRunLog(runs) : 'no DAG runs yet\n');
      const jobs = store.jobs(n);
      if (jobs.length > 0) {
        ctx.stdout.write('\n');
        for (const j of jobs)
          ctx.stdout.write(
            `${j.summary ?? `backfill job ${j.jobId}: ${j.status} (units: ${store.units(j.jobId).length})`}\n`,
          );
      }
    } finally {
      store.close();
    }
    return 0;
  }

  requireStore(paths.archive, 'raw archive', paths.dataDir, 'has the cloud run there with archive.enabled?');
  if (sub === 'backfill') {
    const { Backfill, parseDay, formatBackfill } = await import('../../cloud/batch/backfill.ts');
    if (values.from === undefined || values.to === undefined)
      throw usageError('batch', `missing --${values.from === undefined ? 'from' : 'to'}`, 'a UTC day, YYYY-MM-DD');
    const from = parseDay(values.from, '--from');
    const to = parseDay(values.to, '--to');
    if (!(from < to))
      throw new EdgeloopError(
        'EL_ERR_BATCH_RANGE',
        `--to ${values.to} must be after --from ${values.from} (--to is the day after the last)`,
      );
    const { existsSync } = await import('node:fs');
    const bf = new Backfill({
      archiveDir: paths.archive,
      offlineDir: paths.offline,
      stateDir: paths.batch,
      aggregation,
      targetRows:
        numberFlag('batch', '--target-rows', values['target-rows'], { min: 1, integer: true }) ??
        config.batch.targetRows,
      skewFactor:
        numberFlag('batch', '--skew-factor', values['skew-factor'], { min: 1.0001 }) ?? config.batch.skewFactor,
      parallel: numberFlag('batch', '--parallel', values.parallel, { min: 1, integer: true }) ?? config.batch.parallel,
      threads: config.batch.threads,
      retry: { maxAttempts: config.batch.maxAttempts },
      warehouse:
        values['no-aggregates'] === true || !existsSync(paths.warehouse)
          ? undefined
          : { path: paths.warehouse, registryDb: `${paths.dataDir}/registry/registry.db`, dedupDb: paths.dedup },
      logger,
    });
    const devices = values.devices
      ?.split(',')
      .map((d) => d.trim())
      .filter(Boolean);
    const r = await bf.run({ from, to, ...(devices ? { devices } : {}) });
    ctx.stdout.write(`${formatBackfill(r)}\n`);
    if (r.unitsFailed > 0) {
      ctx.stderr.write(
        `edgeloop batch: ${r.unitsFailed} unit(s) failed after retries; run the same command again to resume [EL_ERR_BATCH_UNIT_FAILED]\n`,
      );
      return 1;
    }
    return 0;
  }

  // run
  const { DailyDag, formatRunLog } = await import('../../cloud/batch/daily-dag.ts');
  const { BatchStore } = await import('../../cloud/batch/batch-store.ts');
  const { join } = await import('node:path');
  // the cloud's archive owns the archive's commit record while it runs: compaction is then its own
  let lock: DataDirLock | undefined;
  let holder: string | undefined;
  try {
    lock = acquireDataDirLock({ dir: paths.dataDir, command: 'edgeloop batch run', logger, holderWaitMs: 0 });
  } catch (err) {
    if ((err as EdgeloopError).code !== 'EL_ERR_DATA_DIR_LOCKED') throw err;
    holder = (err as EdgeloopError).message;
  }
  try {
    const dag = new DailyDag({
      archiveDir: paths.archive,
      warehousePath: paths.warehouse,
      stateDir: paths.batch,
      datasetsDir: paths.datasets,
      publishDir: paths.published,
      offlineDir: paths.offline,
      registryDb: `${paths.dataDir}/registry/registry.db`,
      dedupDb: paths.dedup,
      aggregation,
      archive: { targetFileBytes: config.archive.targetFileBytes, compactSettleMs: config.archive.compactSettleMs },
      ...(holder !== undefined
        ? {
            compact: async () => ({
              detail: 'left to the running cloud: its archive compacts settled partitions itself',
            }),
          }
        : {}),
      logger,
    });
    const r = await dag.run({ ...(values.date ? { date: values.date } : {}), restart: values.restart === true });
    const store = BatchStore.open(join(paths.batch, 'batch.db'));
    try {
      ctx.stdout.write(formatRunLog([{ run: store.runs(1)[0]!, tasks: store.tasks(r.runId) }]));
    } finally {
      store.close();
    }
    if (r.status === 'failed') {
      const failed = r.reports.filter((x) => x.status === 'failed').map((x) => x.task);
      ctx.stderr.write(
        `edgeloop batch: task ${failed.join(', ')} failed for ${r.date}; \`edgeloop batch run --date ${r.date}\` resumes from it [EL_ERR_BATCH_TASK_FAILED]\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    lock?.release();
  }
}
