/**
 * The drift service's options: one schema with the defaults. DriftTuningSchema (check interval, test, windows,
 * policy) is also the drift config section's (drift-part.ts), so each default is stated once. Checked with
 * lib/options.ts: an unknown option is refused with a suggestion, a bad value names the field.
 */
import { z } from 'zod';
import { callback, clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import type { Correction } from './calibration.ts';
import type { DriftEvent, DriftStore } from './drift-store.ts';
import type { DriftStatisticChoice } from './input-drift.ts';
import { MonitorPolicySchema } from './monitor.ts';

export const DriftTuningSchema = z.strictObject({
  /** check every this many ms */
  intervalMs: z.number().int().min(1000).default(60_000),
  /** family-wise false-alarm rate per check and monitor */
  alpha: z.number().gt(0).lt(1).default(0.01),
  correction: z.enum(['holm', 'bonferroni', 'none'] as const satisfies readonly Correction[]).default('holm'),
  statistic: z
    .enum(['auto', 'ks', 'wasserstein', 'psi'] as const satisfies readonly DriftStatisticChoice[])
    .default('auto'),
  /** simulated-null replicates (PSI, Wasserstein) */
  replicates: z.number().int().min(200).default(2000),
  /** hysteresis, minimum samples, cooldown (monitor.ts) */
  policy: MonitorPolicySchema.prefault({}),
  /**
   * the smallest statistic (KS D, normed Wasserstein-1, PSI) at which an input test fires, for one device and for a
   * cohort (InputDriftTester.check; docs/drift.md "Effect floor"). 0: the calibrated test alone.
   */
  minEffect: z
    .strictObject({ device: z.number().min(0).default(0), cohort: z.number().min(0).default(0) })
    .prefault({}),
  /** values kept per device and feature */
  maxSamples: z.number().int().min(10).default(1000),
  /** values kept per cohort and feature */
  maxCohortSamples: z.number().int().min(10).default(10_000),
  /** devices tracked */
  maxDevices: z.number().int().min(1).default(10_000),
  /** a device window older than this is checked for data quality even when short (a silent sensor), ms (1 h) */
  maxWindowMs: z.number().int().min(1000).default(3_600_000),
  /**
   * a monitor's record (last evidence) is written to the store at most this often, ms; state changes are written at
   * once with their event. status() answers from memory.
   */
  persistEveryMs: z.number().int().min(0).default(300_000),
});

export const DriftServiceOptionsSchema = DriftTuningSchema.extend({
  store: dependency<DriftStore>('a DriftStore'),
  /** sufficient quality checks that set a device's record-rate baseline */
  rateBaselineChecks: z.number().int().min(1).default(3),
  /** site and hardware of a device (cohorts); the model version comes from its status messages */
  deviceInfo:
    callback<
      (deviceId: string) => { site?: string | undefined; hardware?: string | undefined } | undefined
    >().optional(),
  /** every state change, after it is stored */
  onEvent: callback<(e: DriftEvent) => void>().optional(),
  ...clockAndLogger,
});

export type DriftServiceOptions = z.input<typeof DriftServiceOptionsSchema>;
export type ResolvedDriftServiceOptions = z.output<typeof DriftServiceOptionsSchema>;

export const resolveDriftServiceOptions = optionsParser(DriftServiceOptionsSchema, {
  where: 'DriftService',
  code: 'EL_ERR_INVALID_ARGUMENT',
});
