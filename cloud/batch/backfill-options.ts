/**
 * The Backfill's options: one schema with the defaults. Its tuning (unit size, skew, parallelism) is also the cloud
 * config's `batch` section (cloud/config.ts), so each default is stated once. The group's pattern and the skew
 * factor's bound are checked after parsing, with EL_ERR_BATCH_INVALID (backfill.ts).
 */
import { z } from 'zod';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { callback, clockAndLogger, requiredString } from '../../lib/options.ts';
import { parquetCompressionOption } from '../feature-store/parquet-offline-store-options.ts';
import type { FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import type { BackfillUnit } from './backfill-plan.ts';

/** The backfill's tuning, also the cloud config's `batch` section (cloud/config.ts): each default stated once. */
export const BackfillTuningSchema = z.strictObject({
  /** readings per unit, about */
  targetRows: z.number().int().min(1).default(2_000_000),
  /**
   * a device with this many times the median device's readings of a day is split into sub-ranges; a number > 1,
   * checked after parsing (EL_ERR_BATCH_INVALID)
   */
  skewFactor: z.custom<number>().default(100),
  /** units run at once */
  parallel: z.number().int().min(1).default(2),
  /** DuckDB threads */
  threads: z.number().int().min(1).default(2),
});

export const BackfillOptionsSchema = BackfillTuningSchema.extend({
  /** the raw archive root (`<dataDir>/archive`) */
  archiveDir: requiredString('a directory'),
  /** the offline store root (`<dataDir>/offline`) */
  offlineDir: requiredString('a directory'),
  /** checkpoints and staging (`<dataDir>/batch`) */
  stateDir: requiredString('a directory'),
  /** offline group written, [a-z][a-z0-9_]* (checked after parsing: EL_ERR_BATCH_INVALID) */
  group: z.string().min(1).default('device_windows'),
  /** the processor's aggregation options (its `processor.aggregation` config): the window definitions */
  aggregation: z.custom<FeatureAggregatorOptions>().optional(),
  /** retries of a unit (maxAttempts counts calls); default 3 attempts, 200 ms .. 5 s */
  retry: z.custom<Partial<RetryPolicy>>().optional(),
  compression: parquetCompressionOption,
  /** re-aggregate this warehouse for the range after the features (undefined: skip) */
  warehouse: z.custom<{ path: string; registryDb?: string; dedupDb?: string } | undefined>().optional(),
  /** fault drills and tests: called before each attempt of a unit; a throw fails the attempt */
  beforeUnit: callback<(unit: BackfillUnit, attempt: number) => void | Promise<void>>().optional(),
  /** progress: a unit done or failed, a day committed */
  onProgress: callback<(e: BackfillProgress) => void>().optional(),
  ...clockAndLogger,
});

export type BackfillOptions = z.input<typeof BackfillOptionsSchema>;

export type BackfillProgress =
  | { kind: 'planned'; jobId: number; units: number; resumed: boolean }
  | { kind: 'unit'; jobId: number; unit: string; status: 'done' | 'failed'; attempts: number; rows: number }
  | { kind: 'day'; jobId: number; date: string; files: number };
