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
import type { RetryPolicy } from '../../lib/backoff.ts';
import type { Clock } from '../../lib/clock.ts';
import type { FeatureStore } from '../feature-store/feature-store.ts';
import { SageMakerFeatureStore } from '../feature-store/sagemaker-feature-store.ts';
import { AlertEvaluator, type Alert, type AlertRuleSpec } from '../processor/alert-rules.ts';
import { FeatureAggregator, type FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import { FeatureBatch, type BatchResult, type FeatureWriteInfo, type OfflineSink } from '../processor/feature-batch.ts';
import { checkKnownOptions, invalidOption, stringOption } from '../stream/options.ts';

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

export interface ProcessorHandlerOptions {
  store: FeatureStore;
  /** Default 'device_features'. */
  group?: string;
  aggregation?: FeatureAggregatorOptions;
  alertRules?: (string | AlertRuleSpec)[];
  alertSink?: (alert: Alert) => void | Promise<void>;
  offlineStore?: OfflineSink;
  /** retry of feature store calls inside one invocation. Default 50 ms .. 1 s, 4 attempts. */
  retry?: Partial<RetryPolicy>;
  onFeatureWrite?: (info: FeatureWriteInfo) => void;
  /** called after each invocation with what it did (metrics, tests) */
  onBatch?: (result: BatchResult) => void;
  clock?: Clock;
  logger?: Logger;
}

const KNOWN = ['store', 'group', 'aggregation', 'alertRules', 'alertSink', 'offlineStore', 'retry', 'onFeatureWrite', 'onBatch', 'clock', 'logger'] as const;
const C = 'processorHandler';

/** The part of the Lambda context object the handler reads. */
export interface LambdaContext {
  awsRequestId?: string;
}

export type KinesisHandler = (event: KinesisStreamEvent, context?: LambdaContext) => Promise<KinesisBatchResponse>;

/** Build a handler around a started FeatureStore. Alert state is per invocation (edge-triggered within a batch). */
export function createProcessorHandler(opts: ProcessorHandlerOptions): KinesisHandler {
  checkKnownOptions(C, opts, KNOWN);
  if (!opts?.store || typeof opts.store.putMany !== 'function') throw invalidOption(C, 'store', 'a FeatureStore', opts?.store);
  const group = stringOption(C, 'group', opts.group, 'device_features');
  // validate once, at cold start
  new FeatureAggregator(opts.aggregation);
  const rules = new AlertEvaluator(opts.alertRules).rules.map((r) => ({ when: `${r.feature} ${r.op} ${r.threshold}`, severity: r.severity, name: r.name }));
  const baseLog = opts.logger ?? silentLogger;

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
      log.info({ records: result.records, devices: result.devices, written: result.written, invalid: result.invalidRecords }, 'kinesis batch processed');
    } catch (err) {
      const first = records[0]!.kinesis.sequenceNumber;
      log.error({ err, code: (err as { code?: unknown }).code, firstSequenceNumber: first, records: records.length }, 'kinesis batch failed; reporting it for retry');
      response.batchItemFailures.push({ itemIdentifier: first });
    }
    return response;
  };
}

/**
 * Build the handler from environment variables (the Lambda's configuration):
 *   EDGELOOP_FEATURE_GROUP (default device_features), EDGELOOP_WINDOWS_MS (comma-separated window sizes, default
 *   60000), EDGELOOP_ALLOWED_LATENESS_MS (default 5000), EDGELOOP_ALERT_RULES (rules separated by ';'),
 *   EDGELOOP_RECORD_IDENTIFIER_NAME (default entity_id), EDGELOOP_EVENT_TIME_NAME (default event_time),
 *   EDGELOOP_FEATURE_TTL_MS (optional), EDGELOOP_SAGEMAKER_ENDPOINT (optional, e.g. a VPC endpoint or a local
 *   test endpoint). Region (AWS_REGION) and credentials come from the Lambda runtime as usual.
 */
export function handlerFromEnv(env: Record<string, string | undefined>, extra: { logger?: Logger } = {}): KinesisHandler {
  const group = env.EDGELOOP_FEATURE_GROUP ?? 'device_features';
  const ttl = env.EDGELOOP_FEATURE_TTL_MS ? Number(env.EDGELOOP_FEATURE_TTL_MS) : undefined;
  const store = new SageMakerFeatureStore({
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    ...(env.EDGELOOP_SAGEMAKER_ENDPOINT ? { endpoint: env.EDGELOOP_SAGEMAKER_ENDPOINT } : {}),
    recordIdentifierName: env.EDGELOOP_RECORD_IDENTIFIER_NAME ?? 'entity_id',
    eventTimeName: env.EDGELOOP_EVENT_TIME_NAME ?? 'event_time',
    ...(ttl !== undefined ? { defaultTtlMs: ttl } : {}),
  });
  const windows = (env.EDGELOOP_WINDOWS_MS ?? '60000').split(',').map((s) => ({ sizeMs: Number(s.trim()) }));
  const inner = createProcessorHandler({
    store,
    group,
    aggregation: { windows, allowedLatenessMs: Number(env.EDGELOOP_ALLOWED_LATENESS_MS ?? 5000) },
    alertRules: (env.EDGELOOP_ALERT_RULES ?? '').split(';').map((s) => s.trim()).filter((s) => s.length > 0),
    ...(extra.logger ? { logger: extra.logger } : {}),
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
 * The Lambda's logger: JSON lines on stdout (CloudWatch Logs takes each line as one event), written synchronously
 * so nothing is lost when the execution environment is frozen after an invocation. Level from EDGELOOP_LOG_LEVEL,
 * else from Lambda's log level setting (AWS_LAMBDA_LOG_LEVEL), else info.
 */
export function lambdaLogger(env: Record<string, string | undefined>): Logger {
  const level = env.EDGELOOP_LOG_LEVEL ?? env.AWS_LAMBDA_LOG_LEVEL?.toLowerCase() ?? 'info';
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: true }));
}

let lazy: KinesisHandler | undefined;
/** The Lambda entry point: `processor.handler` in the bundle that `npm run build:lambda` writes. */
export async function handler(event: KinesisStreamEvent, context?: LambdaContext): Promise<KinesisBatchResponse> {
  lazy ??= handlerFromEnv(process.env, { logger: lambdaLogger(process.env) });
  return lazy(event, context);
}
