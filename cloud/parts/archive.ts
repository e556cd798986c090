import { Counter } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import type { RawArchive } from '../archive/raw-archive.ts';
import { ARCHIVE_TABLE_NAMES } from '../archive/archive-tables.ts';
import { importPart, simplePart, type CloudContext, type CloudPart } from './context.ts';
import { streamPart } from './stream.ts';

/**
 * The raw Parquet archive (`<dataDir>/archive`): a stream consumer of its own ('archive'), exactly once from its
 * checkpoint. On when `archive.enabled` is true, or unset with the local stream.
 */
export const archivePart = definePart({
  name: 'archive',
  enabled: (ctx: CloudContext) => ctx.config.archive.enabled ?? ctx.config.stream.kind === 'local',
  requires: { stream: streamPart },
  create: async ({ stream }, ctx: CloudContext): Promise<CloudPart<RawArchive>> => {
    const { RawArchive } = await importPart('archive', () => import('../archive/raw-archive.ts'));
    const c = ctx.config.archive;
    const archive = new RawArchive({
      stream: stream.instance,
      dir: ctx.paths.archive,
      flushRows: c.flushRows,
      flushIntervalMs: c.flushIntervalMs,
      targetFileBytes: c.targetFileBytes,
      compactSettleMs: c.compactSettleMs,
      clock: ctx.clock,
      logger: ctx.logger.child({ part: 'archive' }),
    });
    new Counter({
      name: 'edgeloop_archive_rows_total',
      help: 'Rows committed to the raw Parquet archive, by table (this process).',
      labelNames: ['table'],
      registers: [ctx.registry],
      collect() {
        this.reset();
        const s = archive.stats();
        for (const t of ARCHIVE_TABLE_NAMES) this.inc({ table: t }, s.rowsWritten[t]);
      },
    });
    return simplePart('archive', archive, () => archive.health());
  },
});
