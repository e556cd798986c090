/**
 * What `edgeloop plan` takes: a fleet description (YAML/JSON file or flags) with the assumptions the arithmetic
 * needs. Sizes are bytes, times seconds, rates per second; every field but `devices` has a default, each one
 * explained in docs/plan.md.
 */
import { z } from 'zod';

const pos = z.number().positive();
const posInt = z.number().int().positive();
const nonNeg = z.number().min(0);

export const FleetSpecSchema = z.strictObject({
  /** devices connected all the time */
  devices: posInt,
  /** readings each device takes per second */
  readingsPerSecond: pos.default(1),
  /** JSON bytes one reading adds to a telemetry message (~60 with 2 sensors, docs/aws-deployment.md) */
  readingBytes: posInt.default(60),
  /** readings per telemetry message: readingsPerSecond × the agent's publisher.batchLingerMs / 1000, at most
   * batchMaxRecords (with the default 200 ms linger a 1 reading/s device sends 1 per message) */
  batchSize: posInt.default(1),
  /** bytes of a telemetry message besides its readings (envelope: deviceId, seq, schema, sentAt) */
  messageOverheadBytes: z.number().int().min(0).default(60),
  /** bytes of the MQTT topic, metered by IoT Core with the payload (`edgeloop/v1/<deviceId>/telemetry`) */
  topicBytes: z.number().int().min(0).default(40),
  /** feature windows of the processor, seconds */
  windows: z.array(posInt).min(1).default([60]),
  /** days the offline feature history and the raw archive are kept */
  retentionDays: posInt.default(30),
  /** models each agent runs, their window length and the share of windows that raise an event */
  models: z
    .strictObject({
      count: z.number().int().min(0).default(1),
      windowReadings: posInt.default(32),
      anomalyRate: z.number().min(0).max(1).default(0.01),
    })
    .prefault({}),
  /** the agent's retained status period (agent config status.intervalMs / 1000) */
  statusIntervalSeconds: pos.default(30),
  /** bytes of one status message (topic included) */
  statusBytes: posInt.default(600),
  /** bytes of one event message (topic included) */
  eventBytes: posInt.default(400),
  kinesis: z.strictObject({ headroom: nonNeg.default(0.1) }).prefault({}),
  lambda: z
    .strictObject({
      memoryMb: z.number().int().min(128).max(10240).default(1024),
      /** event source mapping BatchSize (records) */
      batchSize: z.number().int().min(1).max(10000).default(300),
      /** MaximumBatchingWindowInSeconds; default: the largest window + 5 s lateness + 5 s, at most 300 */
      batchingWindowSeconds: z.number().min(0).max(300).optional(),
      parallelizationFactor: z.number().int().min(1).max(10).default(1),
      /** time of an invocation besides its readings (feature-store seed and write, checkpoint), ms */
      baseMs: nonNeg.default(100),
      /** handler time per reading, ms */
      msPerReading: nonNeg.default(0.02),
    })
    .prefault({}),
  featureStore: z.strictObject({ recordBytes: posInt.default(1024) }).prefault({}),
  s3: z
    .strictObject({
      /** compressed Parquet bytes per offline feature row */
      featureRowBytes: posInt.default(200),
      /** compressed Parquet bytes per archived reading */
      archiveBytesPerReading: nonNeg.default(20),
      /** offline store flushIntervalMs / 1000 */
      flushIntervalSeconds: pos.default(60),
    })
    .prefault({}),
  vm: z
    .strictObject({
      /** the instance the price table prices for the one-VM form */
      instanceType: z.string().min(1).default('m7g.large'),
      /** readings/s one `edgeloop cloud` process sustains (docs/benchmarks.md: 20,600–66,600 on 2 loaded cores) */
      readingsPerSecond: pos.default(20_000),
    })
    .prefault({}),
});

export type FleetSpec = z.output<typeof FleetSpecSchema>;
export type FleetSpecInput = z.input<typeof FleetSpecSchema>;
