import { Counter, Histogram } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import type { ParquetOfflineStore } from '../feature-store/parquet-offline-store.ts';
import type { Processor } from '../processor/processor.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import { importPart, type CloudContext, type CloudPart } from './context.ts';
import { cloudDriftPart } from './drift.ts';
import { featureStorePart } from './feature-store.ts';
import { maintenancePart } from './maintenance.ts';
import { streamPart } from './stream.ts';

/**
 * The stream processor: windows, EWMA and alerts from the stream into the feature store, and, with the SQLite store
 * and `featureStore.offline.enabled`, into the Parquet history (`offline`): started before the processor and
 * closed after it, because the processor flushes into it while closing. With the drift part running, every feature
 * write and every status and events message read from the stream is observed by the drift monitors.
 */
export const processorPart = definePart({
  name: 'processor',
  requires: { stream: streamPart, store: featureStorePart },
  optional: { drift: cloudDriftPart, maintenance: maintenancePart },
  create: async (
    { stream, store, drift, maintenance },
    ctx: CloudContext,
  ): Promise<CloudPart<Processor> & { offline: ParquetOfflineStore | undefined }> => {
    const { Processor } = await importPart('processor', () => import('../processor/processor.ts'));
    const lag = new Histogram({
      name: 'edgeloop_processor_feature_lag_seconds',
      help: 'Device timestamp of the newest reading to feature-store write.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [ctx.registry],
    });
    const off = ctx.config.featureStore.offline;
    let offline: ParquetOfflineStore | undefined;
    if (off.enabled && ctx.config.featureStore.kind === 'sqlite') {
      const { ParquetOfflineStore } = await import('../feature-store/parquet-offline-store.ts');
      offline = new ParquetOfflineStore({
        dir: ctx.paths.offline,
        flushRows: off.flushRows,
        flushIntervalMs: off.flushIntervalMs,
        clock: ctx.clock,
        logger: ctx.logger.child({ part: 'offline-store' }),
      });
    }
    const user = ctx.config.processor as Record<string, unknown>;
    const userHook = user.onFeatureWrite as ((i: { lagMs: number | undefined }) => void) | undefined;
    const processor = new Processor({
      ...(user as object),
      stream: stream.instance,
      store: store.instance,
      ...(offline ? { offlineStore: offline } : {}),
      clock: ctx.clock,
      logger: ctx.logger.child({ part: 'processor' }),
      onFeatureWrite: (info) => {
        if (info.lagMs !== undefined) lag.observe(Math.max(0, info.lagMs) / 1000);
        drift?.observeFeatures(info);
        userHook?.(info);
      },
      ...(drift || maintenance
        ? {
            onMessage: (m: DeviceMessage) => {
              maintenance?.instance.observe(m);
              if (!drift) return;
              if (m.type === 'status') drift.observeStatus(m);
              else if (m.type === 'events') drift.observeEvents(m);
            },
          }
        : {}),
    });
    new Counter({
      name: 'edgeloop_processor_loop_errors_total',
      help: 'Errors in the processor loop (retried).',
      registers: [ctx.registry],
      collect() {
        this.reset();
        this.inc(processor.stats().loopErrors);
      },
    });
    return {
      name: 'processor',
      instance: processor,
      offline,
      start: async () => {
        await offline?.start();
        await processor.start();
      },
      close: async () => {
        await processor.close();
        await offline?.close();
      },
      health: () => ({ ok: true, lagMs: processor.stats().lagMs }),
    };
  },
});
