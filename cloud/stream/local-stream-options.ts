/**
 * LocalStream's options: one lib/options.ts schema with what each option means and its default (an unknown option
 * is refused with a suggestion, a bad value names the field; EL_ERR_CONFIG_INVALID). The cloud config's
 * `stream.local` section reads the defaults.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { dependency, numberOrInfinity, parseOptions } from '../../lib/options.ts';

/** the most records one read() returns */
export const MAX_READ_LIMIT = 10_000;

export const LocalStreamOptionsSchema = z.strictObject({
  /** SQLite file path, or ':memory:' (one process only, nothing survives close) */
  path: z.string({ error: 'required' }).min(1, 'required'),
  /** stream name (shown in logs and metrics) */
  name: z.string().min(1).default('edgeloop'),
  /** number of shards, fixed when the file is created */
  shardCount: z.number().int().min(1).max(1024).default(4),
  /** SQLite synchronous level: FULL = a resolved put survives a power cut */
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  /** records older than this (by arrival) are pruned, ms (Kinesis' default); Infinity = keep */
  retentionMs: numberOrInfinity(1).default(24 * 3600_000),
  /** oldest records are pruned while the stored data exceeds this, bytes; Infinity = no bound */
  retentionBytes: numberOrInfinity(1).default(1024 ** 3),
  /** how often retention runs, ms */
  pruneIntervalMs: z.number().int().min(10).default(60_000),
  /** records per read() when no limit is given (at most MAX_READ_LIMIT) */
  defaultReadLimit: z.number().int().min(1).max(MAX_READ_LIMIT).default(1000),
  /** a read stops after this many bytes of data (at least one record is returned) */
  maxReadBytes: z
    .number()
    .int()
    .min(1)
    .default(10 * 1024 * 1024),
  /** fallback poll for new rows written by other processes while a consumer waits, ms */
  pollIntervalMs: z.number().int().min(1).default(1000),
  clock: dependency<Clock>('a Clock').optional(),
});

export type LocalStreamOptions = z.input<typeof LocalStreamOptionsSchema>;
export type ResolvedLocalStreamOptions = Readonly<z.output<typeof LocalStreamOptionsSchema> & { clock: Clock }>;

/** LocalStream's defaults (the cloud config's `stream.local` section reads them). */
export const LOCAL_STREAM_DEFAULTS = Object.freeze(LocalStreamOptionsSchema.omit({ path: true }).parse({}));

/** Check `opts` (see the header) and apply the defaults; frozen. */
export function resolveLocalStreamOptions(opts: LocalStreamOptions): ResolvedLocalStreamOptions {
  const o = parseOptions(LocalStreamOptionsSchema, opts, { where: 'LocalStream' });
  return Object.freeze({ ...o, clock: o.clock ?? systemClock });
}
