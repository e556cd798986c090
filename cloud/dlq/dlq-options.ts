/**
 * The dead-letter store's options (sqlite-dlq.ts): one lib/options.ts schema with what each option means and its
 * default (an unknown option is refused with a suggestion, a bad value names the field; EL_ERR_INVALID_ARGUMENT).
 * The cloud config's `dlq` section reads the defaults.
 */
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import { dependency } from '../../lib/options.ts';

const nonNegative = z.number().min(0);

export const SqliteDlqOptionsSchema = z.strictObject({
  /** SQLite file; ':memory:' for a throwaway store */
  path: z.string({ error: 'required' }).min(1, 'required'),
  /** bytes of each payload kept */
  maxPayloadBytes: nonNegative.default(4096),
  /** rows kept */
  maxRows: nonNegative.default(100_000),
  /** age of rows kept, ms */
  maxAgeMs: nonNegative.default(7 * 24 * 3600_000),
  /** prune after this many inserts */
  pruneEvery: nonNegative.default(1000),
  clock: dependency<Clock>('a Clock').optional(),
  /** open read-only (CLI inspection) */
  readonly: z.boolean().default(false),
});

export type SqliteDlqOptions = z.input<typeof SqliteDlqOptionsSchema>;
export type ResolvedDlqOptions = Readonly<Omit<z.output<typeof SqliteDlqOptionsSchema>, 'clock'>>;

/** The store's defaults (the cloud config's `dlq` section reads them). */
export const DLQ_DEFAULTS = Object.freeze(SqliteDlqOptionsSchema.omit({ path: true }).parse({}));
