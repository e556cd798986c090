/** LocalStream's options: what may be passed, and their checks and defaults (lib/options.ts checks). */
import { systemClock, type Clock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { checkKnownOptions, intOption, numberOption, oneOfOption, stringOption } from './options.ts';

/** the most records one read() returns */
export const MAX_READ_LIMIT = 10_000;

export interface LocalStreamOptions {
  /** SQLite file path, or ':memory:' (one process only, nothing survives close). Required. */
  path: string;
  /** stream name (shown in logs and metrics). Default 'edgeloop'. */
  name?: string;
  /** number of shards, fixed when the file is created. Default 4. */
  shardCount?: number;
  /** SQLite synchronous level. Default 'FULL' (a resolved put survives a power cut). */
  synchronous?: 'FULL' | 'NORMAL';
  /** records older than this (by arrival) are pruned, ms. Default 24 h (Kinesis' default). Infinity = keep. */
  retentionMs?: number;
  /** oldest records are pruned while the stored data exceeds this, bytes. Default 1 GiB. Infinity = no bound. */
  retentionBytes?: number;
  /** how often retention runs, ms. Default 60 000. */
  pruneIntervalMs?: number;
  /** default and maximum records per read(). Default 1000 / 10 000. */
  defaultReadLimit?: number;
  /** a read stops after this many bytes of data (at least one record is returned). Default 10 MiB. */
  maxReadBytes?: number;
  /** fallback poll for new rows written by other processes while a consumer waits, ms. Default 1000. */
  pollIntervalMs?: number;
  clock?: Clock;
}

const KNOWN = [
  'path',
  'name',
  'shardCount',
  'synchronous',
  'retentionMs',
  'retentionBytes',
  'pruneIntervalMs',
  'defaultReadLimit',
  'maxReadBytes',
  'pollIntervalMs',
  'clock',
] as const;

export interface ResolvedLocalStreamOptions {
  path: string;
  name: string;
  shardCount: number;
  synchronous: 'FULL' | 'NORMAL';
  retentionMs: number;
  retentionBytes: number;
  pruneIntervalMs: number;
  defaultReadLimit: number;
  maxReadBytes: number;
  pollIntervalMs: number;
  clock: Clock;
}

const C = 'LocalStream';

/** Check `opts` and apply the defaults (EL_ERR_CONFIG_INVALID naming the option). */
export function resolveLocalStreamOptions(opts: LocalStreamOptions): ResolvedLocalStreamOptions {
  checkKnownOptions(C, opts, KNOWN);
  if (opts === undefined) throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: options with a "path" are required`);
  const o = Object.freeze({
    path: stringOption(C, 'path', opts.path, ''),
    name: stringOption(C, 'name', opts.name, 'edgeloop'),
    shardCount: intOption(C, 'shardCount', opts.shardCount, 4, 1, 1024),
    synchronous: oneOfOption(C, 'synchronous', opts.synchronous, 'FULL', ['FULL', 'NORMAL'] as const),
    retentionMs: numberOption(C, 'retentionMs', opts.retentionMs, 24 * 3600_000, 1),
    retentionBytes: numberOption(C, 'retentionBytes', opts.retentionBytes, 1024 ** 3, 1),
    pruneIntervalMs: intOption(C, 'pruneIntervalMs', opts.pruneIntervalMs, 60_000, 10),
    defaultReadLimit: intOption(C, 'defaultReadLimit', opts.defaultReadLimit, 1000, 1, MAX_READ_LIMIT),
    maxReadBytes: intOption(C, 'maxReadBytes', opts.maxReadBytes, 10 * 1024 * 1024, 1),
    pollIntervalMs: intOption(C, 'pollIntervalMs', opts.pollIntervalMs, 1000, 1),
    clock: opts.clock ?? systemClock,
  });
  if (o.path === '') throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${C}: option "path" is required`);
  return o;
}
