/**
 * The streaming feature processor as an AWS Lambda handler for a Kinesis event source mapping.
 *
 * Each invocation decodes `event.Records[].kinesis.data` (base64 of the record the ingest put: one device message
 * as JSON, or a documented variant — see cloud/processor/decode-record.ts), runs the same aggregation as the
 * long-running Processor (FeatureAggregator via FeatureBatch) and writes the feature records to a FeatureStore
 * (SageMaker Feature Store in AWS; any FeatureStore works).
 *
 * State: Lambda keeps nothing reliable between invocations, and a container may serve different shards. So every
 * invocation starts from a fresh aggregator seeded from the feature store (the stored record gives `_last`, EWMA
 * base, model versions, last_seen, late_readings and the watermark); windowed statistics are computed from the
 * records of this batch only, and a window is emitted only when the batch holds all of it (a window that starts
 * at or before the stored event time keeps its stored value). Set the mapping's
 * MaximumBatchingWindowInSeconds above the window size plus lateness so most windows fall inside one batch; for
 * exact, continuous windows run the long-running Processor instead.
 *
 * Failures: a feature store write that still fails after the retry policy makes the handler report the batch's
 * first sequence number in `batchItemFailures` (requires FunctionResponseTypes: ["ReportBatchItemFailures"]);
 * Lambda then retries from there. Records that are not device messages are logged and skipped, not reported:
 * reporting a poison record would stop the shard until it expires.
 */
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { systemClock } from '../../lib/clock.ts';
import { SageMakerFeatureStore } from '../feature-store/sagemaker-feature-store.ts';
import { AlertEvaluator } from '../processor/alert-rules.ts';
import { FeatureAggregator } from '../processor/feature-aggregator.ts';
import { FeatureBatch, type BatchResult } from '../processor/feature-batch.ts';
import { emfLine, type EmfMetric } from './emf.ts';
import { z } from 'zod';
import { callback, optionsParser } from '../../lib/options.ts';
import { FeatureOutputSchema } from '../processor/processor-options.ts';

/** The Kinesis event Lambda passes to the handler (the fields used here). */
export interface KinesisStreamEvent {
  Records: KinesisStreamRecord[];
}

export interface KinesisStreamRecord {
  kinesis: {
    kinesisSchemaVersion?: string;
    partitionKey: string;
    sequenceNumber: string;
    /** base64 */
    data: string;
    /** seconds since the epoch, fractional */
    approximateArrivalTimestamp: number;
  };
  eventSource?: string;
  eventVersion?: string;
  /** "shardId-000000000006:4959..." */
  eventID?: string;
  eventName?: string;
  invokeIdentityArn?: string;
  awsRegion?: string;
  eventSourceARN?: string;
}

export interface KinesisBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface HandlerMetricsOptions {
  namespace: string;
  /** dimension name → value, e.g. { FunctionName: 'edgeloop-processor' } */
  dimensions?: Record<string, string>;
  /** writes one EMF line (to the function's stdout in Lambda) */
  write: (line: string) => void;
}

/** The handler's options: the Processor's feature output (store, group, aggregation, alerts) and its own. */
export const ProcessorHandlerOptionsSchema = FeatureOutputSchema.extend({
  /** called after each invocation with what it did (metrics, tests) */
  onBatch: callback<(result: BatchResult) => void>().optional(),
  /** CloudWatch metrics of each invocation as EMF lines (cloud/lambda/emf.ts); none when absent */
  metrics: z
    .custom<HandlerMetricsOptions>(
      (v) => {
        const m = v as Partial<HandlerMetricsOptions> | null;
        return typeof m?.namespace === 'string' && m.namespace !== '' && typeof m.write === 'function';
      },
      { error: '"metrics" must be { namespace: a non-empty string, write: a function }' },
    )
    .optional(),
});

/** `retry`: of feature store calls inside one invocation; default 50 ms .. 1 s, 4 attempts. */
export type ProcessorHandlerOptions = z.input<typeof ProcessorHandlerOptionsSchema>;

export const resolveProcessorHandlerOptions = optionsParser(ProcessorHandlerOptionsSchema, {
  where: 'processorHandler',
});

/** The part of the Lambda context object the handler reads. */
export interface LambdaContext {
  awsRequestId?: string;
}

export type KinesisHandler = (event: KinesisStreamEvent, context?: LambdaContext) => Promise<KinesisBatchResponse>;

/** Build a handler around a started FeatureStore. Alert state is per invocation (edge-triggered within a batch). */
export function createProcessorHandler(options: ProcessorHandlerOptions): KinesisHandler {
  const opts = resolveProcessorHandlerOptions(options);
  const group = opts.group;
  // validate once, at cold start
  new FeatureAggregator(opts.aggregation);
  const rules = new AlertEvaluator(opts.alertRules).rules.map((r) => ({
    when: `${r.feature} ${r.op} ${r.threshold}`,
    severity: r.severity,
    name: r.name,
  }));
  const baseLog = opts.logger ?? silentLogger;
  const metrics = opts.metrics;
  const clock = opts.clock ?? systemClock;

  return async (event, context) => {
    const records = Array.isArray(event?.Records) ? event.Records : [];
    const log = context?.awsRequestId ? baseLog.child({ requestId: context.awsRequestId }) : baseLog;
    const response: KinesisBatchResponse = { batchItemFailures: [] };
    if (records.length === 0) return response;
    const batch = new FeatureBatch({
      store: opts.store,
      group,
      aggregator: new FeatureAggregator(opts.aggregation),
      alerts: new AlertEvaluator(rules),
      alertSink: opts.alertSink,
      offline: opts.offlineStore,
      onFeatureWrite: opts.onFeatureWrite,
      retry: { minMs: 50, maxMs: 1000, maxAttempts: 4, ...opts.retry },
      clock: opts.clock,
      logger: log,
    });
    const items = records.map((r) => ({
      data: Buffer.from(r.kinesis?.data ?? '', 'base64'),
      arrivedAt: Math.round((r.kinesis?.approximateArrivalTimestamp ?? 0) * 1000),
      id: r.eventID ?? r.kinesis?.sequenceNumber,
    }));
    try {
      const result = await batch.process(items);
      opts.onBatch?.(result);
      log.info(
        { records: result.records, devices: result.devices, written: result.written, invalid: result.invalidRecords },
        'kinesis batch processed',
      );
    } catch (err) {
      const first = records[0]!.kinesis.sequenceNumber;
      log.error(
        { err, code: (err as { code?: unknown }).code, firstSequenceNumber: first, records: records.length },
        'kinesis batch failed; reporting it for retry',
      );
      response.batchItemFailures.push({ itemIdentifier: first });
    }
    if (metrics)
      metrics.write(
        emfLine(
          metrics.namespace,
          metrics.dimensions ?? {},
          invocationMetrics(batch, records.length, response),
          clock.now(),
        ),
      );
    return response;
  };
}

/** What one invocation did, as metrics: the batch's counters, the newest feature lag, whether it was reported. */
function invocationMetrics(batch: FeatureBatch, records: number, response: KinesisBatchResponse): EmfMetric[] {
  const c = batch.counters;
  const out: EmfMetric[] = [
    { name: 'Records', value: records, unit: 'Count' },
    { name: 'InvalidRecords', value: c.invalidRecords, unit: 'Count' },
    { name: 'FeatureWrites', value: c.featureWrites, unit: 'Count' },
    { name: 'StaleWrites', value: c.staleWrites, unit: 'Count' },
    { name: 'WriteRetries', value: c.writeRetries, unit: 'Count' },
    { name: 'FailedBatches', value: response.batchItemFailures.length > 0 ? 1 : 0, unit: 'Count' },
  ];
  if (batch.lag.count > 0)
    out.push({ name: 'FeatureLagMaxMs', value: batch.lag.snapshot([100]).p100!, unit: 'Milliseconds' });
  return out;
}

/**
 * Build the handler from environment variables (the Lambda's configuration):
 *   EDGELOOP_FEATURE_GROUP (default device_features), EDGELOOP_WINDOWS_MS (comma-separated window sizes, default
 *   60000), EDGELOOP_ALLOWED_LATENESS_MS (default 5000), EDGELOOP_ALERT_RULES (rules separated by ';'),
 *   EDGELOOP_RECORD_IDENTIFIER_NAME (default entity_id), EDGELOOP_EVENT_TIME_NAME (default event_time),
 *   EDGELOOP_FEATURE_TTL_MS (optional), EDGELOOP_SAGEMAKER_ENDPOINT (optional, e.g. a VPC endpoint or a local
 *   test endpoint), EDGELOOP_METRICS_NAMESPACE (default edgeloop; empty: no metrics; metrics need
 *   `extra.writeMetrics`). Region (AWS_REGION) and credentials come from the Lambda runtime as usual.
 */
export function handlerFromEnv(
  env: Record<string, string | undefined>,
  extra: { logger?: Logger; writeMetrics?: (line: string) => void } = {},
): KinesisHandler {
  const ttl = env.EDGELOOP_FEATURE_TTL_MS ? Number(env.EDGELOOP_FEATURE_TTL_MS) : undefined;
  // an unset variable leaves its option out: the components' schemas hold the defaults
  const store = new SageMakerFeatureStore({
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    ...(env.EDGELOOP_SAGEMAKER_ENDPOINT ? { endpoint: env.EDGELOOP_SAGEMAKER_ENDPOINT } : {}),
    recordIdentifierName: env.EDGELOOP_RECORD_IDENTIFIER_NAME,
    eventTimeName: env.EDGELOOP_EVENT_TIME_NAME,
    ...(ttl !== undefined ? { defaultTtlMs: ttl } : {}),
  });
  const namespace = env.EDGELOOP_METRICS_NAMESPACE ?? 'edgeloop';
  const windowsMs = env.EDGELOOP_WINDOWS_MS;
  const lateness = env.EDGELOOP_ALLOWED_LATENESS_MS;
  const options: ProcessorHandlerOptions = {
    store,
    group: env.EDGELOOP_FEATURE_GROUP,
    aggregation: {
      windows: windowsMs === undefined ? undefined : windowsMs.split(',').map((s) => ({ sizeMs: Number(s.trim()) })),
      allowedLatenessMs: lateness === undefined ? undefined : Number(lateness),
    },
    alertRules: (env.EDGELOOP_ALERT_RULES ?? '')
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    ...(extra.logger ? { logger: extra.logger } : {}),
  };
  // the group written (the variable's, or the default), for the metrics' dimension
  const { group } = resolveProcessorHandlerOptions(options);
  const inner = createProcessorHandler({
    ...options,
    ...(extra.writeMetrics && namespace !== ''
      ? {
          metrics: {
            namespace,
            dimensions: { FunctionName: env.AWS_LAMBDA_FUNCTION_NAME ?? 'edgeloop-processor', FeatureGroup: group },
            write: extra.writeMetrics,
          },
        }
      : {}),
  });
  // started by the first invocation that needs it, not at module load: a rejection there would be unhandled
  let started: Promise<void> | undefined;
  return async (event, context) => {
    started ??= store.start().catch((err: unknown) => {
      started = undefined;
      throw err;
    });
    await started;
    return inner(event, context);
  };
}

/**
 * The Lambda's output: JSON log lines and EMF metric lines on stdout (CloudWatch Logs takes each line as one
 * event), written synchronously so nothing is lost when the execution environment is frozen after an invocation.
 * Log level from EDGELOOP_LOG_LEVEL, else from Lambda's log level setting (AWS_LAMBDA_LOG_LEVEL), else info.
 */
export function lambdaOutput(env: Record<string, string | undefined>): {
  logger: Logger;
  writeMetrics: (line: string) => void;
} {
  const level = env.EDGELOOP_LOG_LEVEL ?? env.AWS_LAMBDA_LOG_LEVEL?.toLowerCase() ?? 'info';
  const stdout = pino.destination({ fd: 1, sync: true });
  return {
    logger: pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stdout),
    writeMetrics: (line) => void stdout.write(line + '\n'),
  };
}

let lazy: KinesisHandler | undefined;
/** The Lambda entry point: `processor.handler` in the bundle that `npm run build:lambda` writes. */
export async function handler(event: KinesisStreamEvent, context?: LambdaContext): Promise<KinesisBatchResponse> {
  lazy ??= handlerFromEnv(process.env, lambdaOutput(process.env));
  return lazy(event, context);
}
