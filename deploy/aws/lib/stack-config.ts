/**
 * The AWS stack's configuration: CDK context values (cdk.json `context`, or `-c key=value` on the command line)
 * checked into one frozen object. Pure: no AWS calls, no lookups, so `cdk synth` runs offline on a fresh clone.
 *
 * Values from `-c` arrive as strings, values from cdk.json as JSON: numbers and lists accept both ("5000" and
 * 5000, "60000,300000" and [60000, 300000]). An unknown key that looks like one of ours (no `@`, no `:`) is an
 * error with the list of known keys, so a misspelled `streamMod=on-demand` does not silently deploy the default.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FleetSpecSchema, type FleetSpec } from '../../../cloud/plan/fleet-spec.ts';
import { planFleet } from '../../../cloud/plan/plan.ts';
import { loadPriceTable } from '../../../cloud/plan/prices.ts';
import { EdgeloopError } from '../../../protocol/errors.ts';
import { DEFAULT_TOPIC_PREFIX, Topics } from '../../../protocol/topics.ts';
import { issuesLine } from '../../../protocol/zod-issues.ts';
import { DEFAULT_SENSORS } from '../../../simulator/signal-model.ts';

/** Settings of the Kinesis event source mapping that docs/aws-deployment.md states (the test compares the two). */
export const EVENT_SOURCE_MAPPING = Object.freeze({
  startingPosition: 'TRIM_HORIZON',
  batchSize: 300,
  parallelizationFactor: 1,
  bisectBatchOnFunctionError: true,
  maximumRetryAttempts: 10,
  functionResponseTypes: ['ReportBatchItemFailures'],
});

const defaultModelName = (): string =>
  (
    JSON.parse(readFileSync(new URL('../../../models/default/anomaly/manifest.json', import.meta.url), 'utf8')) as {
      name: string;
    }
  ).name;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** a list from JSON or from a comma-separated string */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : v,
    z.array(item).min(1),
  );

/** Every context key the app reads, with its default (docs/aws-deployment.md lists them; a test checks it). */
export const ContextSchema = z.strictObject({
  /** prefix of the physical names (stream, function, queue, rules, policies) */
  namePrefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,23}$/, 'lower-case letters, digits and -, starting with a letter, at most 24')
    .default('edgeloop'),
  /** the MQTT topic prefix of the fleet (protocol/topics.ts) */
  topicPrefix: z.string().default(DEFAULT_TOPIC_PREFIX),
  /** how telemetry reaches Kinesis: an IoT Core topic rule, or the edgeloop ingest bridge on ECS/EC2 */
  ingest: z.enum(['iot-rule', 'bridge']).default('iot-rule'),
  /** Kinesis capacity mode: provisioned with the planner's shard count, or on-demand */
  streamMode: z.enum(['provisioned', 'on-demand']).default('provisioned'),
  /** fleet description for the planner (`edgeloop plan --devices N ...`) */
  devices: int(1, 100_000_000).default(1000),
  readingsPerSecond: z.coerce.number().positive().default(1),
  /** readings per telemetry message */
  batchSize: int(1, 10_000).default(1),
  /** Kinesis retention, hours */
  streamRetentionHours: int(24, 8760).default(24),
  /** the processor's feature windows, ms (EDGELOOP_WINDOWS_MS) */
  windowsMs: list(z.coerce.number().int().positive()).default([60_000]),
  allowedLatenessMs: int(0, 3_600_000).default(5000),
  /** sensor ids of the fleet: the feature group's definitions are generated for them */
  sensors: list(z.string().min(1)).optional(),
  /** model names the agents report: one `model_version_<model>` feature each */
  models: list(z.string().min(1)).optional(),
  featureGroupName: z
    .string()
    .regex(/^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$/, 'a SageMaker feature group name')
    .default('device_features'),
  /** online store TTL, days (records expire from the online store) */
  featureTtlDays: int(1, 3650).optional(),
  lambdaMemoryMb: int(128, 10_240).default(1024),
  lambdaTimeoutSeconds: int(10, 900).default(120),
  lambdaArchitecture: z.enum(['arm64', 'x86_64']).default('arm64'),
  /** a folder holding a built processor.mjs (default: the app builds cloud/lambda with scripts/build-lambda.mjs) */
  lambdaBundle: z.string().min(1).optional(),
  /** days the raw archive and the offline feature store are kept in S3 */
  archiveRetentionDays: int(30, 36_500).default(365),
  /** days after which archive objects move to S3 Standard-IA */
  infrequentAccessAfterDays: int(30, 36_500).default(30),
  /** days S3 access logs are kept */
  accessLogRetentionDays: int(1, 3650).default(90),
  /** an address subscribed to the alarm topic */
  alarmEmail: z.string().email().optional(),
  /** IteratorAge alarm threshold, seconds */
  iteratorAgeAlarmSeconds: int(60, 86_400).default(600),
});

/** context keys of the CDK CLI itself that carry no `@` or `:` */
const CDK_OWN_KEYS = ['cli-telemetry'];

export type StackContextInput = z.input<typeof ContextSchema>;
export const CONTEXT_KEYS: readonly string[] = Object.keys(ContextSchema.shape);

export interface StackConfig extends Readonly<Omit<z.output<typeof ContextSchema>, 'sensors' | 'models'>> {
  readonly sensors: readonly string[];
  readonly models: readonly string[];
  readonly topics: Topics;
  /** what `edgeloop plan` says this fleet needs */
  readonly plan: {
    readonly fleet: FleetSpec;
    readonly shards: number;
    readonly batchingWindowSeconds: number;
    readonly monthlyUsd: number;
  };
}

/**
 * Check the context values (only the keys this app reads; CDK's own settings, `@aws-cdk/...` feature flags,
 * `aws:cdk:...` and `cli-telemetry`, are skipped) and size the stream with the planner.
 */
export function stackConfig(context: Record<string, unknown>): StackConfig {
  const ours = Object.fromEntries(
    Object.entries(context).filter(([k]) => !k.includes('@') && !k.includes(':') && !CDK_OWN_KEYS.includes(k)),
  );
  const unknown = Object.keys(ours).filter((k) => !CONTEXT_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new EdgeloopError(
      'EL_ERR_DEPLOY_CONTEXT',
      `unknown context key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${CONTEXT_KEYS.join(', ')})`,
    );
  }
  const r = ContextSchema.safeParse(ours);
  if (!r.success) throw new EdgeloopError('EL_ERR_DEPLOY_CONTEXT', `context: ${issuesLine(r.error.issues)}`);
  const c = r.data;
  let topics: Topics;
  try {
    topics = new Topics(c.topicPrefix);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_DEPLOY_CONTEXT', `context topicPrefix: ${(cause as Error).message}`, { cause });
  }
  // the planner's own arithmetic: the same fleet description `edgeloop plan` takes
  const fleet = FleetSpecSchema.parse({
    devices: c.devices,
    readingsPerSecond: c.readingsPerSecond,
    batchSize: c.batchSize,
    windows: c.windowsMs.map((ms) => Math.max(1, Math.ceil(ms / 1000))),
    retentionDays: c.archiveRetentionDays,
    lambda: {
      memoryMb: c.lambdaMemoryMb,
      batchSize: EVENT_SOURCE_MAPPING.batchSize,
      parallelizationFactor: EVENT_SOURCE_MAPPING.parallelizationFactor,
    },
  });
  const plan = planFleet(fleet, loadPriceTable());
  return Object.freeze({
    ...c,
    sensors: c.sensors ?? DEFAULT_SENSORS.map((s) => s.name),
    models: c.models ?? [defaultModelName()],
    topics,
    plan: Object.freeze({
      fleet,
      shards: plan.kinesis.shards,
      batchingWindowSeconds: plan.lambda.batchingWindowSeconds,
      monthlyUsd: plan.aws.monthlyUsd,
    }),
  });
}
