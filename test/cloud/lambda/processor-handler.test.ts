import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createProcessorHandler, handler, handlerFromEnv } from '../../../cloud/lambda/processor-handler.ts';
import { SageMakerFeatureStore } from '../../../cloud/feature-store/sagemaker-feature-store.ts';
import type { Alert } from '../../../cloud/processor/alert-rules.ts';
import type { BatchResult } from '../../../cloud/processor/feature-batch.ts';
import { startSageMakerFsServer, type TestSageMakerFs } from '../../helpers/sagemaker-fs-server.ts';
import { kinesisEvent, kinesisRecord, tel } from '../../helpers/kinesis-event.ts';

const event = kinesisEvent;

const T = 1_764_000_000_000; // a minute boundary
let server: TestSageMakerFs;
beforeAll(async () => {
  server = await startSageMakerFsServer({
    groups: { device_features: { recordIdentifierName: 'entity_id', eventTimeName: 'event_time' } },
  });
});
afterAll(() => server?.close());

async function store(): Promise<SageMakerFeatureStore> {
  const s = new SageMakerFeatureStore({ clientConfig: server.clientConfig });
  await s.start();
  onTestFinished(() => s.close());
  return s;
}

describe('Lambda processor handler (Kinesis event source → SageMaker Feature Store)', () => {
  it('aggregates a batch into SageMaker, continues from the stored record in the next invocation, skips poison records', async () => {
    const fs = await store();
    const results: BatchResult[] = [];
    const alerts: Alert[] = [];
    const handler = createProcessorHandler({
      store: fs,
      aggregation: { allowedLatenessMs: 0 },
      alertRules: ['torque_nm_mean_1m > 50'],
      alertSink: (a) => void alerts.push(a),
      onBatch: (r) => void results.push(r),
    });
    const first = await handler(
      event([
        kinesisRecord(
          tel('L1', [
            ['torque_nm', T + 1000, 40],
            ['torque_nm', T + 30_000, 70],
          ]),
          T + 31_000,
        ),
        kinesisRecord(Buffer.from('not json at all'), T + 31_000),
        kinesisRecord(
          tel('L1', [
            ['torque_nm', T + 61_000, 10],
            ['air_temperature_k', T + 61_000, 298.4],
          ]),
          T + 62_000,
        ),
      ]),
    );
    expect(first).toEqual({ batchItemFailures: [] });
    expect(results[0]).toMatchObject({ records: 3, messages: 2, invalidRecords: 1, devices: 1, written: 1 });
    let rec = await fs.get('device_features', 'L1');
    expect(rec!.eventTime).toBe(T + 61_000);
    expect(rec!.features).toMatchObject({
      torque_nm_mean_1m: 55,
      torque_nm_count_1m: 2,
      torque_nm_last: 10,
      air_temperature_k_last: 298.4,
      last_seen: T + 62_000,
    });
    expect(alerts.map((a) => [a.deviceId, a.state])).toEqual([['L1', 'firing']]);

    // next invocation: a fresh aggregator seeded from SageMaker
    await handler(
      event([
        kinesisRecord(tel('L1', [['torque_nm', T + 20_000, 999]]), T + 70_000), // older than the stored event time: late
        kinesisRecord(tel('L1', [['torque_nm', T + 90_000, 20]]), T + 91_000),
      ]),
    );
    rec = await fs.get('device_features', 'L1');
    expect(rec!.features).toMatchObject({
      torque_nm_mean_1m: 55,
      torque_nm_last: 20,
      air_temperature_k_last: 298.4,
      late_readings: 1,
    });
    await handler(event([kinesisRecord(tel('L1', [['torque_nm', T + 121_000, 30]]), T + 122_000)]));
    // [60 s, 120 s) starts before the stored event time (90 s): earlier batches held part of it, the stored value stays
    expect((await fs.get('device_features', 'L1'))!.features.torque_nm_mean_1m).toBe(55);
    // [180 s, 240 s) starts after the stored event time (121 s): this batch holds all of it
    await handler(
      event([
        kinesisRecord(
          tel('L1', [
            ['torque_nm', T + 185_000, 1],
            ['torque_nm', T + 200_000, 3],
            ['torque_nm', T + 241_000, 0],
          ]),
          T + 242_000,
        ),
      ]),
    );
    expect((await fs.get('device_features', 'L1'))!.features).toMatchObject({
      torque_nm_mean_1m: 2,
      torque_nm_count_1m: 2,
    });
  });

  it('reports the batch for retry (first sequence number) when the feature store keeps failing', async () => {
    const fs = await store();
    const handler = createProcessorHandler({
      store: fs,
      group: 'missing_group',
      retry: { minMs: 1, maxMs: 2, maxAttempts: 2 },
    });
    const records = [kinesisRecord(tel('L2', [['x', T, 1]]), T), kinesisRecord(tel('L2', [['x', T + 1, 2]]), T)];
    expect(await handler(event(records))).toEqual({
      batchItemFailures: [{ itemIdentifier: records[0]!.kinesis.sequenceNumber }],
    });
    expect(await handler(event([]))).toEqual({ batchItemFailures: [] });
  });

  it('builds from environment variables, as the Lambda entry point does', async () => {
    // the SDK's default credential chain reads these from the process environment (the Lambda runtime sets them)
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    onTestFinished(() => {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    const handler = handlerFromEnv({
      AWS_REGION: 'us-east-2',
      EDGELOOP_SAGEMAKER_ENDPOINT: server.endpoint,
      EDGELOOP_WINDOWS_MS: '30000',
      EDGELOOP_ALLOWED_LATENESS_MS: '0',
      EDGELOOP_ALERT_RULES: 'v_max_30s > 5; v_last < 0',
    });
    const out = await handler(
      event([
        kinesisRecord(
          tel('ENV1', [
            ['v', T + 1000, 7],
            ['v', T + 31_000, -1],
          ]),
          T + 32_000,
        ),
      ]),
    );
    expect(out).toEqual({ batchItemFailures: [] });
    const fs = await store();
    expect((await fs.get('device_features', 'ENV1'))!.features).toMatchObject({
      v_max_30s: 7,
      v_count_30s: 1,
      v_last: -1,
    });
  });

  it('writes CloudWatch metrics of each invocation in embedded metric format', async () => {
    const fs = await store();
    const lines: string[] = [];
    const metrics = {
      namespace: 'edgeloop-test',
      dimensions: { FunctionName: 'fn' },
      write: (l: string) => void lines.push(l),
    };
    const ok = createProcessorHandler({ store: fs, aggregation: { allowedLatenessMs: 0 }, metrics });
    await ok(
      event([kinesisRecord(tel('M1', [['v', T + 1000, 1]]), T + 2000), kinesisRecord(Buffer.from('{'), T + 2000)]),
    );
    const failing = createProcessorHandler({
      store: fs,
      group: 'missing_group',
      retry: { minMs: 1, maxMs: 2, maxAttempts: 1 },
      metrics,
    });
    await failing(event([kinesisRecord(tel('M2', [['v', T, 1]]), T)]));
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: 'edgeloop-test',
            Dimensions: [['FunctionName']],
            Metrics: expect.arrayContaining([
              { Name: 'Records', Unit: 'Count' },
              { Name: 'FailedBatches', Unit: 'Count' },
              { Name: 'FeatureLagMaxMs', Unit: 'Milliseconds' },
            ]),
          },
        ],
      },
      FunctionName: 'fn',
      Records: 2,
      InvalidRecords: 1,
      FeatureWrites: 1,
      FailedBatches: 0,
    });
    expect(second).toMatchObject({ Records: 1, FeatureWrites: 0, WriteRetries: 1, FailedBatches: 1 });
    expect(second).not.toHaveProperty('FeatureLagMaxMs');
    expect(() => createProcessorHandler({ store: fs, metrics: { namespace: 'x' } as never })).toThrow(/"metrics"/);
  });

  it('exports the Lambda entry point as an async function', () => {
    expect(handler.constructor.name).toBe('AsyncFunction');
  });

  it('validates its options at cold start', async () => {
    expect(() => createProcessorHandler({} as never)).toThrow(/"store" must be a FeatureStore/);
    const fs = await store();
    expect(() => createProcessorHandler({ store: fs, alertRules: ['nonsense'] })).toThrow(/alert rule/);
    expect(() => createProcessorHandler({ store: fs, aggregation: { windows: [{ sizeMs: 0 }] } })).toThrow(
      /windows\[0\]/,
    );
  });
});
