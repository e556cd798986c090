/**
 * The Processor's options: one schema with the defaults, its `aggregation` section the FeatureAggregator's own
 * schema. Checked with lib/options.ts: an unknown option is refused with a suggestion, a bad value names the field.
 */
import { z } from 'zod';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { callback, clockAndLogger, optionsParser } from '../../lib/options.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import type { FeatureStore } from '../feature-store/feature-store.ts';
import type { Stream } from '../stream/stream.ts';
import type { Alert, AlertRuleSpec } from './alert-rules.ts';
import { FeatureAggregatorOptionsSchema } from './feature-aggregator.ts';
import type { FeatureWriteInfo, OfflineSink } from './feature-batch.ts';

const hasMethod = (v: unknown, name: string): boolean =>
  typeof (v as Record<string, unknown> | null | undefined)?.[name] === 'function';

/** A started Stream (anything with read()), an injected part. */
export const streamOption = z.custom<Stream>((v) => hasMethod(v, 'read'), { error: '"stream" must be a Stream' });

/** A started FeatureStore (anything with putMany()), an injected part. */
export const featureStoreOption = z.custom<FeatureStore>((v) => hasMethod(v, 'putMany'), {
  error: '"store" must be a FeatureStore',
});

/** Options the Processor and the Lambda handler share: where features go, how they are computed, alerts. */
export const FeatureOutputSchema = z.strictObject({
  store: featureStoreOption,
  /** feature group written */
  group: z.string().min(1).default('device_features'),
  /** windows, lateness, EWMA, anomaly window: see FeatureAggregatorOptions */
  aggregation: FeatureAggregatorOptionsSchema.optional(),
  /** threshold rules on features, e.g. 'temperature_mean_1m > 80' (checked by AlertEvaluator) */
  alertRules: z.custom<(string | AlertRuleSpec)[]>().optional(),
  /** receives every alert state change (firing / resolved); errors are logged and counted, not retried */
  alertSink: callback<(alert: Alert) => void | Promise<void>>().optional(),
  /** every feature record is also appended here */
  offlineStore: z
    .custom<OfflineSink>((v) => hasMethod(v, 'append'), { error: 'expected an object with append()' })
    .optional(),
  /** retry of feature store calls (each caller states its policy) */
  retry: z.custom<Partial<RetryPolicy>>((v) => typeof v === 'object' && v !== null).optional(),
  /** called after each feature record write with the device time → feature update lag (benchmarks, metrics) */
  onFeatureWrite: callback<(info: FeatureWriteInfo) => void>().optional(),
  ...clockAndLogger,
});

export const ProcessorOptionsSchema = FeatureOutputSchema.extend({
  stream: streamOption,
  /** checkpoint name on the stream */
  consumer: z.string().min(1).default('processor'),
  /** records read per shard per step */
  batchSize: z.number().int().min(1).max(10_000).default(500),
  /** longest idle wait before reading again when the stream is empty, ms */
  idleWaitMs: z.number().int().min(1).default(1000),
  /** how often the shard list is refreshed, ms */
  shardRefreshMs: z.number().int().min(1).default(60_000),
  /** devices kept in memory; the least recently active are evicted (and re-seeded from the store) */
  maxDevices: z.number().int().min(1).default(100_000),
  /** each decoded device message from the stream, before aggregation */
  onMessage: callback<(msg: DeviceMessage) => void>().optional(),
});

/**
 * `offlineStore`: ParquetOfflineStore makes the history exactly-once (see processor.ts); `retry` defaults to
 * 100 ms .. 5 s, full jitter, until closed.
 */
export type ProcessorOptions = z.input<typeof ProcessorOptionsSchema>;
export type ResolvedProcessorOptions = z.output<typeof ProcessorOptionsSchema>;

export const resolveProcessorOptions = optionsParser(ProcessorOptionsSchema, { where: 'Processor' });
