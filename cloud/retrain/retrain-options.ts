/**
 * The options of the Retrainer, and the RetrainService's schedule: schemas with the defaults, checked with
 * lib/options.ts (an unknown option is refused with a suggestion, a bad value names the field;
 * EL_ERR_RETRAIN_CONFIG). The `retrain:` config section (retrain-config.ts) is built from the same fields, so each
 * default is stated once; the service's own schema (retrain-service.ts) extends the schedule with its parts.
 */
import { z } from 'zod';
import { callback, clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import type { DriftEvent } from '../drift/drift-store.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
import type { Criteria } from './champion-challenger.ts';
import type { RetrainEvent, TrainingParams } from './retrain-steps.ts';

const ms = z.number().int().min(0);
const CODE = 'EL_ERR_RETRAIN_CONFIG';

/** What a job trains on and how a challenger is judged (the Retrainer's options that are data). */
export const RetrainerTuningSchema = z.strictObject({
  /** model name in the registry */
  model: z.string().min(1).default('anomaly'),
  /** the alias the fleet runs: the champion */
  productionAlias: z.string().min(1).default('production'),
  /** the alias an accepted challenger gets */
  candidateAlias: z.string().min(1).default('candidate'),
  /** history a scheduled or manual job without a range trains on, ms (7 days) */
  lookbackMs: z
    .number()
    .int()
    .min(60_000)
    .default(7 * 86_400_000),
  /** a drift-triggered job starts this long before the drift event (the onset precedes its detection), ms */
  onsetLookbackMs: ms.default(3_600_000),
  /** share of the selected steps (the last in time) held out for champion/challenger */
  holdoutFraction: z.number().gt(0).lt(1).default(0.2),
  minTrainWindows: z.number().int().min(1).default(200),
  minHoldoutWindows: z.number().int().min(1).default(50),
  /** steps excluded either side of an anomaly or alert event, ms (default: one window at the median step) */
  guardMs: ms.optional(),
  /** values per feature in the drift reference kept in the manifest */
  referenceSample: z.number().int().min(10).max(10_000).default(500),
  /** over DEFAULT_TRAINING */
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
    } satisfies { [K in keyof TrainingParams]-?: z.ZodType })
    .default({}),
  /** over DEFAULT_CRITERIA */
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
    } satisfies { [K in keyof Criteria]-?: z.ZodType })
    .default({}),
});

export const RetrainerOptionsSchema = RetrainerTuningSchema.extend({
  /** `<dataDir>/retrain`: job store, job files, lock, training key */
  dir: z.string().min(1),
  /** the raw archive (`<dataDir>/archive`) */
  archiveDir: z.string().min(1),
  registry: dependency<ModelRegistry>('a ModelRegistry'),
  ...clockAndLogger,
  /** `retrain.candidate` / `retrain.rejected` after the record step */
  onEvent: callback<(e: RetrainEvent) => void>().optional(),
});

export type RetrainerOptions = z.input<typeof RetrainerOptionsSchema>;
export type ResolvedRetrainerOptions = z.output<typeof RetrainerOptionsSchema>;

export const resolveRetrainerOptions = optionsParser(RetrainerOptionsSchema, { where: 'Retrainer', code: CODE });

/** When jobs start (the RetrainService's options that are data). */
export const RetrainScheduleSchema = z.strictObject({
  /** scheduled jobs every this many ms; 0: none (daily) */
  intervalMs: ms.default(86_400_000),
  /** drift monitors whose `drift.detected` starts a job ([]: none) */
  driftMonitors: z
    .array(z.enum(['input', 'output', 'quality'] as const satisfies readonly DriftEvent['monitor'][]))
    .default(['input', 'output']),
  /** subject kinds whose `drift.detected` starts a job: a device, or a cohort (site, hardware, model version) */
  driftSubjects: z
    .array(z.enum(['device', 'site', 'hardware', 'model'] as const satisfies readonly DriftEvent['subject']['kind'][]))
    .default(['device', 'site', 'hardware', 'model']),
  /**
   * a drift-triggered job that found too little data (EL_ERR_RETRAIN_NO_DATA: right after a detection, the new regime
   * has only minutes of history) or whose challenger was rejected is tried again this much later, on the longer
   * history by then, up to `noDataRetries` times (a newer drift trigger replaces it), ms
   */
  noDataRetryMs: z.number().int().min(1000).default(300_000),
  noDataRetries: z.number().int().min(0).default(12),
});
