/**
 * The `retrain:` section of the cloud config (docs/retrain.md): the Retrainer's and the RetrainService's option
 * schemas (retrain-options.ts) under their config names, checked with lib/options.ts; shared by the cloud part and
 * `edgeloop retrain`.
 */
import { z } from 'zod';
import { parseOptions } from '../../lib/options.ts';
import { RetrainerTuningSchema, RetrainScheduleSchema, type RetrainerOptions } from './retrain-options.ts';

const schedule = RetrainScheduleSchema.shape;

/** The Retrainer's tuning and the RetrainService's schedule under their config names (their defaults). */
export const RetrainConfigSchema = RetrainerTuningSchema.extend({
  /** a scheduled job every this many ms (0: none) */
  intervalMs: schedule.intervalMs,
  /** drift monitors whose drift.detected starts a job ([] : none) */
  onDrift: schedule.driftMonitors,
  /** subjects whose drift.detected starts a job: a device, or a cohort of devices (site, hardware, model version) */
  onDriftSubjects: schedule.driftSubjects,
  /** a drift-triggered job with too little data yet is tried again this much later, ms, up to noDataRetries times */
  noDataRetryMs: schedule.noDataRetryMs,
  noDataRetries: schedule.noDataRetries,
});
export type RetrainConfig = z.output<typeof RetrainConfigSchema>;

export function parseRetrainConfig(input: unknown, source = 'retrain config'): RetrainConfig {
  return parseOptions(RetrainConfigSchema, input ?? {}, {
    where: source,
    code: 'EL_ERR_RETRAIN_CONFIG',
    prefix: ['retrain'],
  });
}

/** The Retrainer options of a config (without dir, archive, registry, clock, logger, onEvent). */
export function retrainerOptions(
  c: RetrainConfig,
): Omit<RetrainerOptions, 'dir' | 'archiveDir' | 'registry' | 'clock' | 'logger' | 'onEvent'> {
  return {
    model: c.model,
    productionAlias: c.productionAlias,
    candidateAlias: c.candidateAlias,
    lookbackMs: c.lookbackMs,
    onsetLookbackMs: c.onsetLookbackMs,
    holdoutFraction: c.holdoutFraction,
    minTrainWindows: c.minTrainWindows,
    minHoldoutWindows: c.minHoldoutWindows,
    guardMs: c.guardMs,
    referenceSample: c.referenceSample,
    training: c.training as RetrainerOptions['training'],
    criteria: c.criteria as RetrainerOptions['criteria'],
  };
}
