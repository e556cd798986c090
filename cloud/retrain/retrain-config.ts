/**
 * The `retrain:` section of the cloud config (docs/retrain.md): checked here, shared by the cloud part and
 * `edgeloop retrain`.
 */
import { z } from 'zod';
import { EdgeloopError } from '../../protocol/errors.ts';
import { issuesLine } from '../../protocol/zod-issues.ts';
import type { RetrainerOptions } from './retrainer.ts';

const ms = z.number().int().min(0);
const fraction = z.number().gt(0).lt(1);

export const RetrainConfigSchema = z.strictObject({
  /** model name in the registry */
  model: z.string().min(1).default('anomaly'),
  /** the alias the fleet runs: the champion */
  productionAlias: z.string().min(1).default('production'),
  /** the alias an accepted challenger gets */
  candidateAlias: z.string().min(1).default('candidate'),
  /** a scheduled job every this many ms (0: none) */
  intervalMs: ms.default(86_400_000),
  /** drift monitors whose drift.detected starts a job ([] : none) */
  onDrift: z.array(z.enum(['input', 'output', 'quality'])).default(['input', 'output']),
  /** subjects whose drift.detected starts a job: a device, or a cohort of devices (site, hardware, model version) */
  onDriftSubjects: z
    .array(z.enum(['device', 'site', 'hardware', 'model']))
    .default(['device', 'site', 'hardware', 'model']),
  /** history a scheduled or manual job trains on, ms */
  lookbackMs: z
    .number()
    .int()
    .min(60_000)
    .default(7 * 86_400_000),
  /** a drift-triggered job with too little data yet is tried again this much later, ms, up to noDataRetries times */
  noDataRetryMs: z.number().int().min(1000).default(300_000),
  noDataRetries: z.number().int().min(0).default(12),
  /** a drift-triggered job starts this long before the drift event, ms */
  onsetLookbackMs: ms.default(3_600_000),
  /** share of the selected steps (the last in time) held out for champion/challenger */
  holdoutFraction: fraction.default(0.2),
  minTrainWindows: z.number().int().min(1).default(200),
  minHoldoutWindows: z.number().int().min(1).default(50),
  /** steps excluded either side of an anomaly or alert event, ms (default: one window at the median step) */
  guardMs: ms.optional(),
  /** values per feature in the drift reference kept in the manifest */
  referenceSample: z.number().int().min(10).max(10_000).default(500),
  training: z
    .strictObject({
      epochs: z.number().int().min(1).optional(),
      batchSize: z.number().int().min(1).optional(),
      learningRate: z.number().positive().optional(),
      hidden: z.array(z.number().int().min(1)).min(1).optional(),
      stride: z.number().int().min(1).optional(),
      minSteps: z.number().int().min(0).optional(),
      threshold: z
        .strictObject({
          quantile: z.number().gt(0).lt(1),
          margin: z.number().min(1),
          trimMads: z.number().positive().optional(),
        })
        .optional(),
      seed: z.number().int().optional(),
    })
    .default({}),
  criteria: z
    .strictObject({
      falseAlarmMargin: z.number().min(0).max(1).optional(),
      detectionMargin: z.number().min(0).max(1).optional(),
      maxP99Ms: z.number().positive().optional(),
      maxLatencyRatio: z.number().positive().optional(),
      maxBytes: z.number().int().positive().optional(),
      injected: z.number().int().min(1).optional(),
      spikeSigma: z.number().positive().optional(),
      driftSigma: z.number().positive().optional(),
      maxWindows: z.number().int().min(1).optional(),
      latencyRuns: z.number().int().min(1).optional(),
      seed: z.number().int().optional(),
    })
    .default({}),
});
export type RetrainConfig = z.output<typeof RetrainConfigSchema>;

export function parseRetrainConfig(input: unknown, source = 'retrain config'): RetrainConfig {
  const r = RetrainConfigSchema.safeParse(input ?? {});
  if (!r.success)
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_CONFIG',
      `${source}: ${issuesLine(r.error.issues, { prefix: ['retrain'] })}`,
    );
  return r.data;
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
