/**
 * The cloud process's configuration (cloud.yaml + EDGELOOP_* overrides, loaded by cli/load-config.ts).
 * Every field has a default, so an empty file runs everything embedded under .edgeloop/cloud (lib/data-dirs.ts).
 * docs/cloud.md lists the options with units; docs/cloud.example.yaml is a complete example.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { MaintenanceConfigSchema } from './maintenance/config.ts';
import { RecommendConfigSchema } from './recommend/config.ts';
import { DEFAULT_DATA_DIRS } from '../lib/data-dirs.ts';
import { parseOptions } from '../lib/options.ts';
import {
  BROKER_DEFAULTS,
  BrokerLoginRateLimitSchema,
  BrokerTlsOptionsSchema,
  EmbeddedBrokerOptionsSchema,
} from './broker/broker-options.ts';
import { DLQ_DEFAULTS } from './dlq/dlq-options.ts';
import { LOCAL_STREAM_DEFAULTS, LocalStreamOptionsSchema } from './stream/local-stream-options.ts';
import { DEFAULT_TIME_BOUNDS, INGEST_DEFAULTS } from './ingest/ingest-options.ts';
import { MQTT_INGEST_DEFAULTS, MqttIngestClientOptionsSchema } from './ingest/mqtt-ingest-options.ts';
import { RawArchiveTuningSchema } from './archive/raw-archive-options.ts';
import { BackfillTuningSchema } from './batch/backfill-options.ts';
import { ParquetOfflineStoreOptionsSchema } from './feature-store/parquet-offline-store-options.ts';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().min(1);
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const client = MqttIngestClientOptionsSchema.shape;
const broker = EmbeddedBrokerOptionsSchema.shape;
const tls = BrokerTlsOptionsSchema.shape;
const localStream = LocalStreamOptionsSchema.shape;

const TlsSchema = z.strictObject({
  /** TLS listener port (0 = any free port) */
  port: tls.port,
  /** server certificate and key files (PEM) */
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA that signs device certificates; enables client-certificate authentication */
  caFile: z.string().min(1).optional(),
  requireClientCert: tls.requireClientCert,
});

/** the embedded broker's options (their defaults); files for the TLS material and the credentials */
const EmbeddedBrokerSchema = z.strictObject({
  host: broker.host,
  /** plain MQTT port; null = TLS only */
  port: broker.port,
  tls: TlsSchema.optional(),
  /** YAML/JSON file with devices/services and scrypt password hashes */
  credentialsFile: z.string().min(1).optional(),
  allowAnonymous: broker.allowAnonymous,
  /** allow allowAnonymous on a non-loopback host (anyone on the network may connect); logged as a warning */
  insecure: broker.insecure,
  /** failed MQTT logins per client address and per username (cloud/broker/login-rate-limiter.ts); false = none */
  loginRateLimit: z.union([z.literal(false), BrokerLoginRateLimitSchema]).prefault({}),
  requireClientIdMatch: broker.requireClientIdMatch,
  requireRegisteredDevices: broker.requireRegisteredDevices,
  unauthorizedPublish: broker.unauthorizedPublish,
  drainTimeoutMs: z.number().int().min(0).default(BROKER_DEFAULTS.drainTimeoutMs),
});

/** the ingest's MQTT client on an external broker: the MqttIngestClient's options (their defaults), files for PEM */
const ExternalBrokerSchema = z.strictObject({
  url: client.url,
  username: z.string().optional(),
  password: z.string().optional(),
  clientId: client.clientId,
  caFile: z.string().min(1).optional(),
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  sharedGroup: client.sharedGroup,
  connections: client.connections,
  sessionExpirySeconds: client.sessionExpirySeconds,
  protocolVersion: client.protocolVersion,
  connectTimeoutMs: z.number().int().min(100).default(MQTT_INGEST_DEFAULTS.connectTimeoutMs),
});

const BrokerSchema = z
  .strictObject({
    mode: z.enum(['embedded', 'external']).default('embedded'),
    embedded: EmbeddedBrokerSchema.default(EmbeddedBrokerSchema.parse({})),
    external: ExternalBrokerSchema.optional(),
  })
  .refine((b) => b.mode !== 'external' || b.external !== undefined, {
    message: 'broker.mode is "external" but broker.external.url is not set',
    path: ['external'],
  });

const IngestSchema = z.strictObject({
  /** bytes; larger payloads are dead-lettered as oversized */
  maxPayloadBytes: positiveInt.default(INGEST_DEFAULTS.maxPayloadBytes),
  maxBatchRecords: positiveInt.default(INGEST_DEFAULTS.maxBatchRecords),
  maxBatchBytes: positiveInt.default(INGEST_DEFAULTS.maxBatchBytes),
  lingerMs: z.number().min(0).default(INGEST_DEFAULTS.lingerMs),
  maxInFlightPuts: positiveInt.default(INGEST_DEFAULTS.maxInFlightPuts),
  maxPendingRecords: positiveInt.default(INGEST_DEFAULTS.maxPendingRecords),
  /** rebuild dedup state from the stream tail at start; default true for the local stream, false for Kinesis */
  recoverFromStream: z.boolean().optional(),
  dedup: z
    .strictObject({
      maxIntervals: positiveInt.default(INGEST_DEFAULTS.dedupMaxIntervals),
      maxDevices: positiveInt.default(INGEST_DEFAULTS.dedupMaxDevices),
    })
    .prefault({}),
  /** device timestamps more than this ahead of arrival are dead-lettered (ts-out-of-range); ms, null = no bound */
  maxFutureSkewMs: z.number().int().min(0).nullable().default(DEFAULT_TIME_BOUNDS.maxFutureMs),
  /** readings and events more than this behind arrival are dead-lettered (ts-out-of-range); ms, null = no bound */
  maxPastAgeMs: z.number().int().min(0).nullable().default(DEFAULT_TIME_BOUNDS.maxPastMs),
});

/** the dead-letter store's limits (its defaults); age in days */
const DlqSchema = z.strictObject({
  maxPayloadBytes: z.number().int().min(0).default(DLQ_DEFAULTS.maxPayloadBytes),
  maxRows: positiveInt.default(DLQ_DEFAULTS.maxRows),
  maxAgeDays: z
    .number()
    .min(0)
    .default(DLQ_DEFAULTS.maxAgeMs / DAY_MS),
});

const StreamSchema = z.strictObject({
  kind: z.enum(['local', 'kinesis']).default('local'),
  /** the local stream's name (logs and metrics) */
  name: localStream.name,
  /** LocalStream's options (its defaults); retention in hours */
  local: z
    .strictObject({
      shardCount: positiveInt.default(LOCAL_STREAM_DEFAULTS.shardCount),
      synchronous: localStream.synchronous,
      retentionHours: z
        .number()
        .min(0)
        .default(LOCAL_STREAM_DEFAULTS.retentionMs / HOUR_MS),
      retentionBytes: positiveInt.default(LOCAL_STREAM_DEFAULTS.retentionBytes),
    })
    .prefault({}),
  /** options of KinesisStream (cloud/stream/kinesis-stream.ts), passed through: streamName, region, endpoint, ... */
  kinesis: z.record(z.string(), z.unknown()).optional(),
});

/** the offline store's flushing, with ParquetOfflineStore's own fields and defaults */
const OfflineSchema = ParquetOfflineStoreOptionsSchema.pick({ flushRows: true, flushIntervalMs: true }).extend({
  enabled: z.boolean().default(true),
});

const FeatureStoreSchema = z.strictObject({
  kind: z.enum(['sqlite', 'sagemaker']).default('sqlite'),
  sqlite: z
    .strictObject({
      synchronous: z.enum(['FULL', 'NORMAL']).default('NORMAL'),
      defaultTtlHours: z.number().min(0).optional(),
    })
    .default({ synchronous: 'NORMAL' }),
  /** options of SageMakerFeatureStore, passed through: region, endpoint, ... */
  sagemaker: z.record(z.string(), z.unknown()).optional(),
  /** Parquet history of every feature record written by the processor, under <dataDir>/offline */
  offline: OfflineSchema.default(OfflineSchema.parse({})),
});

/**
 * the raw Parquet archive of every accepted device message, under <dataDir>/archive (cloud/archive/): RawArchive's
 * own tuning fields and defaults
 */
const ArchiveSchema = RawArchiveTuningSchema.extend({
  /** default: on with the local stream, off with Kinesis (use a Firehose or another consumer there) */
  enabled: z.boolean().optional(),
});

/** batch jobs (cloud/batch/, docs/batch.md): the backfill's units (its own fields and defaults) and the daily DAG's schedule */
const BatchSchema = z.strictObject({
  /** run the daily DAG (for yesterday, UTC) at this UTC time, "HH:MM"; unset: only `edgeloop batch run` */
  schedule: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a UTC time "HH:MM"')
    .optional(),
  /** readings per backfill unit, about */
  targetRows: BackfillTuningSchema.shape.targetRows,
  /** a device with this many times the median device's readings is split into sub-ranges */
  skewFactor: BackfillTuningSchema.shape.skewFactor.pipe(z.number().gt(1)),
  /** backfill units run at once */
  parallel: BackfillTuningSchema.shape.parallel,
  /** DuckDB threads of a backfill */
  threads: BackfillTuningSchema.shape.threads,
  /** attempts per backfill unit (the DAG's tasks get 2) */
  maxAttempts: positiveInt.default(3),
});

const HttpSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('127.0.0.1'),
  /** /healthz and /metrics; 0 = any free port */
  port: port.default(9464),
});

/** the warehouse reports API and page (docs/query-the-fleet.md); reads <dataDir>/warehouse.duckdb read-only */
const ReportsSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 = any free port */
  port: port.default(8083),
  /** ms without a request before the warehouse file is let go (a refresh needs it free) */
  idleCloseMs: positiveInt.default(1000),
});

export const CloudConfigSchema = z.strictObject({
  /** where every local store lives (stream.db, features.db, dlq.db, ingest-dedup.db) */
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIRS.cloud),
  topicPrefix: z.string().min(1).default('edgeloop/v1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** run only these parts (and what they require); default: all */
  only: z.array(z.string().min(1)).optional(),
  broker: BrokerSchema.default(BrokerSchema.parse({})),
  ingest: IngestSchema.default(IngestSchema.parse({})),
  dlq: DlqSchema.default(DlqSchema.parse({})),
  stream: StreamSchema.default(StreamSchema.parse({})),
  featureStore: FeatureStoreSchema.default(FeatureStoreSchema.parse({})),
  /** options of the stream processor (cloud/processor/), passed through */
  processor: z.record(z.string(), z.unknown()).default({}),
  archive: ArchiveSchema.default(ArchiveSchema.parse({})),
  batch: BatchSchema.default(BatchSchema.parse({})),
  http: HttpSchema.default(HttpSchema.parse({})),
  /** the model registry (docs/registry.md); runs when present. Options of createRegistryPart, checked there */
  registry: z.record(z.string(), z.unknown()).optional(),
  /** the recommendation service (docs/recommend.md); the part runs when this section is present */
  recommend: RecommendConfigSchema.optional(),
  /** the rollout controller (docs/rollout.md); runs when present. Options of createRolloutPart, checked there */
  rollout: z.record(z.string(), z.unknown()).optional(),
  /** the warehouse reports API (docs/query-the-fleet.md); the part runs when this section is present */
  reports: ReportsSchema.optional(),
  /** drift monitors (docs/drift.md); validated by the drift part */
  drift: z.record(z.string(), z.unknown()).optional(),
  /** the retraining job and champion/challenger (docs/retrain.md); validated by the retrain part */
  retrain: z.record(z.string(), z.unknown()).optional(),
  /** RUL serving and maintenance alerts (docs/predict-maintenance.md); the part runs when this section is present */
  maintenance: MaintenanceConfigSchema.optional(),
});

export type CloudConfig = z.infer<typeof CloudConfigSchema>;
export type CloudConfigInput = z.input<typeof CloudConfigSchema>;

/**
 * Parse (and default) a config object in code, e.g. for `edgeloop up` or tests: EL_ERR_CONFIG_INVALID naming the
 * field (`cloud config: unknown option "brokr" (did you mean "broker"?)`), as lib/options.ts does for every part.
 */
export function parseCloudConfig(input: CloudConfigInput = {}): CloudConfig {
  return parseOptions(CloudConfigSchema, input, { where: 'cloud config' });
}

/** File paths of the local stores under dataDir. */
export function cloudPaths(
  config: Pick<CloudConfig, 'dataDir'>,
  cwd = process.cwd(),
): {
  /** what relative paths in the config resolve against */
  cwd: string;
  dataDir: string;
  stream: string;
  features: string;
  dlq: string;
  dedup: string;
  offline: string;
  archive: string;
  warehouse: string;
  /** batch jobs' checkpoints, run log and staging */
  batch: string;
  /** retraining datasets the daily DAG exports */
  datasets: string;
  /** warehouse tables the daily DAG publishes for Athena */
  published: string;
} {
  const dataDir = resolve(cwd, config.dataDir);
  return {
    cwd: resolve(cwd),
    dataDir,
    stream: join(dataDir, 'stream.db'),
    features: join(dataDir, 'features.db'),
    dlq: join(dataDir, 'dlq.db'),
    dedup: join(dataDir, 'ingest-dedup.db'),
    offline: join(dataDir, 'offline'),
    archive: join(dataDir, 'archive'),
    warehouse: join(dataDir, 'warehouse.duckdb'),
    batch: join(dataDir, 'batch'),
    datasets: join(dataDir, 'datasets'),
    published: join(dataDir, 'published'),
  };
}
