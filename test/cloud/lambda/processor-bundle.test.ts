/**
 * The Lambda bundle (`npm run build:lambda`) in a fresh Node process under the Lambda runtime contract
 * (test/helpers/lambda-runtime.ts), against the local SageMaker Feature Store endpoint.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { SageMakerFeatureStore } from '../../../cloud/feature-store/sagemaker-feature-store.ts';
import { kinesisEvent, kinesisRecord, tel } from '../../helpers/kinesis-event.ts';
import { kinesisCheckpoint, startLambdaRuntime, type LambdaRuntime } from '../../helpers/lambda-runtime.ts';
import { startSageMakerFsServer, type TestSageMakerFs } from '../../helpers/sagemaker-fs-server.ts';

const ROOT = join(import.meta.dirname, '../../..');
const T = 1_764_000_000_000;
const GROUP = { recordIdentifierName: 'entity_id', eventTimeName: 'event_time' };

let taskRoot: string;
beforeAll(async () => {
  taskRoot = mkdtempSync(join(tmpdir(), 'edgeloop-lambda-'));
  // what `npm run build:lambda` runs, into a folder of its own
  await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/build-lambda.mjs'), '--out', taskRoot, '--quiet'], {
    cwd: ROOT,
  });
}, 60_000);
afterAll(() => rmSync(taskRoot, { recursive: true, force: true }));

async function featureServer(groups: Record<string, typeof GROUP>): Promise<TestSageMakerFs> {
  const server = await startSageMakerFsServer({ groups });
  onTestFinished(() => server.close());
  return server;
}

async function runtime(server: TestSageMakerFs, env: Record<string, string> = {}): Promise<LambdaRuntime> {
  const rt = await startLambdaRuntime({
    taskRoot,
    handler: 'processor.handler',
    env: {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      EDGELOOP_SAGEMAKER_ENDPOINT: server.endpoint,
      EDGELOOP_ALLOWED_LATENESS_MS: '0',
      ...env,
    },
  });
  onTestFinished(() => rt.close());
  return rt;
}

async function storedFeatures(server: TestSageMakerFs, group: string, id: string) {
  const fs = new SageMakerFeatureStore({ clientConfig: server.clientConfig });
  await fs.start();
  onTestFinished(() => fs.close());
  return (await fs.get(group, id))?.features;
}

const logLines = (rt: LambdaRuntime): Record<string, unknown>[] =>
  rt.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('Lambda bundle under the Lambda runtime contract', () => {
  it('is one self-contained ES module that loads in a fresh node process and processes a batch', async () => {
    expect(readdirSync(taskRoot)).toEqual(['processor.mjs']);
    const server = await featureServer({ device_features: GROUP });
    const rt = await runtime(server);
    const records = [
      kinesisRecord(
        tel('B1', [
          ['v', T + 1000, 4],
          ['v', T + 61_000, 9],
        ]),
        T + 62_000,
      ),
    ];
    const outcome = await rt.invoke(kinesisEvent(records));
    expect(rt.stderr).not.toMatch(/Dynamic require/);
    expect(outcome).toEqual({ kind: 'response', requestId: expect.any(String), body: { batchItemFailures: [] } });
    expect(await storedFeatures(server, 'device_features', 'B1')).toMatchObject({ v_mean_1m: 4, v_last: 9 });
    // structured logs on stdout, one JSON object per line, tagged with the invocation
    expect(logLines(rt)).toContainEqual(
      expect.objectContaining({
        msg: 'kinesis batch processed',
        requestId: outcome.kind === 'response' ? outcome.requestId : '',
        records: 1,
        written: 1,
      }),
    );
    // the container serves the next invocation too
    expect(
      await rt.invoke(kinesisEvent([kinesisRecord(tel('B1', [['v', T + 121_000, 1]]), T + 122_000)])),
    ).toMatchObject({ kind: 'response', body: { batchItemFailures: [] } });
    expect(rt.refused).toEqual([]);
  });

  it('reports a batch whose feature writes failed: nothing is checkpointed past it, and a retry writes it', async () => {
    // the function's feature group does not exist (yet): every BatchGetRecord fails with ResourceNotFound
    const server = await featureServer({});
    const rt = await runtime(server, { EDGELOOP_FEATURE_GROUP: 'late_group' });
    const records = [
      kinesisRecord(
        tel('F1', [
          ['t', T + 1000, 20],
          ['t', T + 2000, 22],
        ]),
        T + 3000,
      ),
      kinesisRecord(tel('F2', [['t', T + 1500, 30]]), T + 3000),
      kinesisRecord(tel('F1', [['t', T + 61_000, 24]]), T + 62_000),
    ];
    const seqs = records.map((r) => r.kinesis.sequenceNumber);
    const failed = await rt.invoke(kinesisEvent(records));
    expect(failed).toMatchObject({ kind: 'response', body: { batchItemFailures: [{ itemIdentifier: seqs[0] }] } });
    expect(kinesisCheckpoint(seqs, failed)).toEqual([]);
    // the handler answered once, after its retries (1 + 4 attempts), not before them
    expect(rt.refused).toEqual([]);
    expect(server.requests.BatchGetRecord).toBe(5);
    expect(logLines(rt)).toContainEqual(
      expect.objectContaining({
        msg: 'kinesis batch failed; reporting it for retry',
        code: 'EL_ERR_FEATURE_GROUP_NOT_FOUND',
        firstSequenceNumber: seqs[0],
      }),
    );
    // and a metric to alarm on (CloudWatch embedded metric format)
    expect(logLines(rt)).toContainEqual(
      expect.objectContaining({
        FunctionName: 'edgeloop-processor',
        FeatureGroup: 'late_group',
        Records: 3,
        FailedBatches: 1,
        WriteRetries: 4,
      }),
    );

    // the mapping retries the batch from the reported record; the store works again
    server.createGroup('late_group', GROUP);
    const retried = await rt.invoke(kinesisEvent(records));
    expect(retried).toMatchObject({ kind: 'response', body: { batchItemFailures: [] } });
    expect(kinesisCheckpoint(seqs, retried)).toEqual(seqs);
    expect(await storedFeatures(server, 'late_group', 'F1')).toMatchObject({
      t_mean_1m: 21,
      t_count_1m: 2,
      t_last: 24,
    });
    expect(await storedFeatures(server, 'late_group', 'F2')).toMatchObject({ t_last: 30 });
    expect(
      logLines(rt)
        .filter((l) => '_aws' in l)
        .map((l) => [l.FailedBatches, l.FeatureWrites]),
    ).toEqual([
      [1, 0],
      [0, 2],
    ]);
    expect(rt.refused).toEqual([]);
  });
});

describe('the runtime harness', () => {
  it('takes a drained event loop for a null success, as the Node.js runtime does, and refuses the late result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-lambda-fn-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'fn.mjs'),
      `export const handler = async () => { await new Promise((r) => setTimeout(r, 50).unref()); return { late: true }; };\n` +
        `export const fine = async (event) => { await new Promise((r) => setTimeout(r, 50)); return { echo: event }; };\n` +
        `export const throws = async () => { throw new TypeError('bad input'); };\n` +
        `export const callback = (event, context, cb) => cb(null, { id: context.awsRequestId, left: context.getRemainingTimeInMillis() > 0 });\n`,
    );
    const rt = await startLambdaRuntime({ taskRoot: dir, handler: 'fn.handler' });
    onTestFinished(() => rt.close());
    const outcome = await rt.invoke({});
    expect(outcome).toMatchObject({ kind: 'response', body: null });
    expect(kinesisCheckpoint(['1', '2'], outcome)).toEqual(['1', '2']);
    await expect
      .poll(() => rt.refused)
      .toEqual([
        { requestId: outcome.kind === 'response' ? outcome.requestId : '', kind: 'response', body: '{"late":true}' },
      ]);

    for (const [handler, expected] of [
      ['fn.fine', { kind: 'response', body: { echo: { a: 1 } } }],
      ['fn.throws', { kind: 'error', errorType: 'TypeError', errorMessage: 'bad input' }],
      ['fn.callback', { kind: 'response', body: { left: true } }],
      ['fn.missing', { kind: 'init-error', errorType: 'Runtime.HandlerNotFound' }],
    ] as const) {
      const other = await startLambdaRuntime({ taskRoot: dir, handler });
      onTestFinished(() => other.close());
      const o = await other.invoke({ a: 1 });
      expect(o).toMatchObject(expected);
      if (o.kind !== 'response') expect(kinesisCheckpoint(['1', '2'], o)).toEqual([]);
    }
  });
});
