import { definePart } from '../../lib/parts.ts';
import type { FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import type { BatchScheduler } from '../batch/batch-scheduler.ts';
import { archivePart } from './archive.ts';
import { importPart, type CloudContext, type CloudPart } from './context.ts';

/**
 * The daily batch DAG on a schedule (cloud/batch/, docs/batch.md), when `batch.schedule` is set: at that UTC time
 * it runs compact → refresh → checks → export-dataset, publish for yesterday. When the archive runs in this
 * process, compaction is the archive's own (a flush compacts settled partitions): only one writer of its commit
 * record.
 */
export const batchPart = definePart({
  name: 'batch',
  enabled: (ctx: CloudContext) => ctx.config.batch.schedule !== undefined,
  optional: { archive: archivePart },
  create: async ({ archive }, ctx: CloudContext): Promise<CloudPart<BatchScheduler>> => {
    const { DailyDag } = await importPart('batch', () => import('../batch/daily-dag.ts'));
    const { BatchScheduler } = await importPart('batch', () => import('../batch/batch-scheduler.ts'));
    const p = ctx.paths;
    const dag = new DailyDag({
      archiveDir: p.archive,
      warehousePath: p.warehouse,
      stateDir: p.batch,
      datasetsDir: p.datasets,
      publishDir: p.published,
      offlineDir: p.offline,
      registryDb: `${p.dataDir}/registry/registry.db`,
      dedupDb: p.dedup,
      aggregation: (ctx.config.processor.aggregation ?? {}) as FeatureAggregatorOptions,
      archive: {
        targetFileBytes: ctx.config.archive.targetFileBytes,
        compactSettleMs: ctx.config.archive.compactSettleMs,
      },
      ...(archive
        ? {
            compact: async () => {
              await archive.instance.flush();
              return { detail: 'the running archive flushed and compacted its settled partitions' };
            },
          }
        : {}),
      clock: ctx.clock,
      logger: ctx.logger.child({ part: 'batch' }),
    });
    const scheduler = new BatchScheduler({
      dag,
      schedule: ctx.config.batch.schedule!,
      clock: ctx.clock,
      logger: ctx.logger.child({ part: 'batch' }),
    });
    return {
      name: 'batch',
      instance: scheduler,
      start: async () => scheduler.start(),
      close: () => scheduler.close(),
      health: () => scheduler.health(),
    };
  },
});
