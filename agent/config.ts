/**
 * The agent's configuration schema (YAML file + EDGELOOP_* overrides, loaded by cli/load-config.ts). Every object
 * is strict: a misspelled key is an error naming the field. The outbox and inference sections take their defaults
 * from those components; test/docs/options-tables.test.ts checks docs/agent.md states them.
 */
import { z } from 'zod';
import { isValidId } from '../protocol/topics.ts';
import { DEFAULT_TOPIC_PREFIX } from '../protocol/topics.ts';
import { TransportConfigSchema } from '../transport/create-transport.ts';
import { DEFAULT_DATA_DIRS } from '../lib/data-dirs.ts';
import { parseOptions } from '../lib/options.ts';
import { InferenceTuningSchema } from './inference/inference-options.ts';
import { OUTBOX_DEFAULTS } from './outbox/outbox-options.ts';

export { TransportConfigSchema };

const positiveInt = z.number().int().min(1);
/** the outbox section's defaults are the outbox's */
const D = OUTBOX_DEFAULTS;
const nonNegInt = z.number().int().min(0);

export const SimulatedSensorSchema = z.strictObject({
  name: z.string().min(1).max(128),
  /** centre value */
  base: z.number().default(0),
  /** sine amplitude */
  amplitude: z.number().default(1),
  /** sine period, s */
  periodS: z.number().positive().default(60),
  /** gaussian noise standard deviation */
  noise: z.number().min(0).default(0.05),
});

export const SourcesSchema = z.strictObject({
  simulated: z
    .strictObject({
      sensors: z.array(SimulatedSensorSchema).min(1),
      /** readings per second per sensor */
      rateHz: z.number().positive().default(1),
      /** probability per tick of a spike (anomaly injection), 0..1 */
      spikeProbability: z.number().min(0).max(1).default(0),
      /** spike size in multiples of the amplitude */
      spikeSize: z.number().default(8),
      /** stop after this many ticks (0 = run until stopped) */
      ticks: nonNegInt.default(0),
    })
    .optional(),
  /** JSON lines on standard input */
  stdin: z.boolean().default(false),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8787),
      /** request body limit, bytes */
      maxBodyBytes: positiveInt.default(1024 * 1024),
    })
    .optional(),
  socket: z
    .strictObject({ path: z.string().min(1), mode: z.number().int().min(0).max(0o777).default(0o660) })
    .optional(),
  csv: z
    .strictObject({
      file: z.string().min(1),
      /** replay speed factor against the file's timestamps (2 = twice as fast); 0 = as fast as possible */
      speed: z.number().min(0).default(1),
      /** start again at the end of the file */
      loop: z.boolean().default(false),
      /** rewrite timestamps to now (keeping their spacing) instead of the file's */
      retime: z.boolean().default(true),
    })
    .optional(),
});

export const AgentConfigSchema = z.strictObject({
  deviceId: z.string().refine(isValidId, '1-128 characters of [A-Za-z0-9._:-], not "fleet"'),
  topicPrefix: z.string().min(1).default(DEFAULT_TOPIC_PREFIX),
  /** where the device is installed; reported in its status (the fleet warehouse's dim_device.site) */
  site: z.string().min(1).max(128).optional(),
  /** the device's hardware model, e.g. "rpi4-4gb"; reported in its status (dim_device.hardware) */
  hardware: z.string().min(1).max(128).optional(),
  /** state directory: outbox database, model store */
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIRS.agent),
  transport: TransportConfigSchema,
  outbox: z
    .strictObject({
      /** default: <dataDir>/outbox.db */
      path: z.string().min(1).optional(),
      durability: z.enum(['normal', 'full']).default(D.durability),
      /** accounted bytes bound (48 B + sensor id per reading; events: their JSON) */
      maxBytes: positiveInt.default(D.maxBytes),
      /** telemetry older than this is dropped and counted, ms; 0 = no age bound */
      maxAgeMs: nonNegInt.default(D.maxAgeMs),
      intakeMaxRows: positiveInt.default(D.intakeMaxRows),
      intakeLingerMs: nonNegInt.default(D.intakeLingerMs),
      /** SQLite page cache, KiB (better-sqlite3's own default is 16 MiB) */
      cacheKiB: positiveInt.min(64).default(D.cacheKiB),
      /** new records are refused (EL_ERR_OUTBOX_FULL) while the volume would keep less than this free, bytes */
      minFreeBytes: nonNegInt.default(D.minFreeBytes),
      /** reserve file given back to the delete path when the volume is full, bytes; 0 = none */
      reserveBytes: nonNegInt.default(D.reserveBytes),
      /** the seq high-water mark file is advanced by at least this many seqs */
      seqBlock: positiveInt.default(D.seqBlock),
      /** quick = PRAGMA quick_check at start; a damaged outbox is quarantined and salvaged */
      integrityCheck: z.enum(['quick', 'off']).default(D.integrityCheck),
      batchMaxRecords: positiveInt.default(2000),
      batchMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(128 * 1024)
        .default(120 * 1024),
      batchLingerMs: nonNegInt.default(200),
      maxInflightBatches: positiveInt.default(4),
      /** age bound check period, ms */
      pruneIntervalMs: positiveInt.default(60_000),
    })
    .prefault({}),
  /** the inference engine's tuning (its defaults are the engine's: agent/inference/inference-options.ts) */
  inference: InferenceTuningSchema.extend({ enabled: z.boolean().default(true) }).prefault({}),
  models: z
    .strictObject({
      /** the on-device model store (updates are written here); default <dataDir>/models */
      dir: z.string().min(1).optional(),
      /** model directories (manifest.json + ONNX file) loaded at start for models the store has no active version of */
      initial: z.array(z.string().min(1)).default([]),
      /** ed25519 public keys trusted to sign manifests: PEM files, or directories of `*.pub` files (re-read on an unknown key) */
      trustedKeys: z.array(z.string().min(1)).default([]),
      /** refuse unsigned manifests (default true when trustedKeys is set) */
      requireSignature: z.boolean().optional(),
      /** receive model updates over MQTT (the model updater; needs trustedKeys) */
      updates: z.boolean().default(true),
      /** run shadow candidates a rollout assigns beside the active model (a second ONNX session); false declines them */
      shadow: z.boolean().default(true),
    })
    .prefault({}),
  sources: SourcesSchema.prefault({}),
  status: z
    .strictObject({
      /** retained status period, ms */
      intervalMs: positiveInt.default(30_000),
    })
    .prefault({}),
  health: z
    .strictObject({
      /** local port of /healthz and /metrics (0 = any free port) */
      port: z.number().int().min(0).max(65535),
      host: z.string().default('127.0.0.1'),
      /** /healthz answers 503 when the oldest unsent record is older than this, ms */
      maxOldestAgeMs: positiveInt.default(15 * 60 * 1000),
    })
    .optional(),
  shutdown: z
    .strictObject({
      /** how long close() keeps sending what is in the outbox, ms */
      drainTimeoutMs: nonNegInt.default(5_000),
    })
    .prefault({}),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/**
 * Validate a config object (already merged from file and env) with lib/options.ts: an unknown key is refused with a
 * suggestion, a bad value names the field (EL_ERR_CONFIG_INVALID).
 */
export function parseAgentConfig(value: unknown, source = 'agent config'): AgentConfig {
  return parseOptions(AgentConfigSchema, value, { where: source, root: '(root)' });
}
