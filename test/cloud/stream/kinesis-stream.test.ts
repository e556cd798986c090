import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { KinesisStream, type KinesisLike } from '../../../cloud/stream/kinesis-stream.ts';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { Processor } from '../../../cloud/processor/processor.ts';
import { encodeMessage } from '../../../protocol/messages.ts';
import { startKinesalite, type TestKinesis } from '../../helpers/kinesalite.ts';
import { describeStreamContract } from './stream-contract.ts';

let kinesis: TestKinesis;
let streams = 0;
beforeAll(async () => {
  kinesis = await startKinesalite();
});
afterAll(async () => {
  await kinesis?.close();
});

describeStreamContract('KinesisStream (kinesalite)', {
  async open({ shardCount }) {
    const name = `contract-${++streams}`;
    await kinesis.createStream(name, shardCount);
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-kinesis-'));
    return {
      async newInstance() {
        const s = new KinesisStream({
          streamName: name,
          clientConfig: kinesis.clientConfig,
          checkpointPath: join(dir, 'cp.db'),
          pollIntervalMs: 30_000,
          minReadIntervalMs: 0,
        });
        await s.start();
        return s;
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

/**
 * Wraps the real client: for the first `failRounds` PutRecords calls, the records `fails` picks (default: every
 * second one) are not sent and come back as ProvisionedThroughputExceededException entries, as Kinesis reports a partial failure.
 */
function throttlingClient(
  real: KinesisLike,
  failRounds: number,
  fails: (index: number, key: string) => boolean = (i) => i % 2 === 1,
): KinesisLike & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    destroy: () => real.destroy?.(),
    async send(cmd: unknown) {
      if (!(cmd instanceof PutRecordsCommand) || failRounds <= 0) return real.send(cmd);
      failRounds--;
      const entries = cmd.input.Records ?? [];
      calls.push(entries.length);
      const keep = entries.filter((e, i) => !fails(i, e.PartitionKey!));
      const out =
        keep.length === 0
          ? ({ Records: [], $metadata: {} } as unknown as PutRecordsCommandOutput)
          : ((await real.send(
              new PutRecordsCommand({ StreamName: cmd.input.StreamName, Records: keep }),
            )) as PutRecordsCommandOutput);
      let k = 0;
      const Records = entries.map((_, i) =>
        !fails(i, entries[i]!.PartitionKey!)
          ? out.Records![k++]!
          : {
              ErrorCode: 'ProvisionedThroughputExceededException',
              ErrorMessage: 'Rate exceeded for shard (simulated)',
            },
      );
      return { ...out, FailedRecordCount: Records.filter((r) => 'ErrorCode' in r).length, Records };
    },
  };
}

describe('KinesisStream', () => {
  async function fresh(
    name: string,
    shards = 1,
    client?: KinesisLike,
    extra: Record<string, unknown> = {},
  ): Promise<KinesisStream> {
    await kinesis.createStream(name, shards);
    const s = new KinesisStream({
      streamName: name,
      ...(client ? { client } : { clientConfig: kinesis.clientConfig }),
      retry: { minMs: 1, maxMs: 5 },
      ...extra,
    });
    await s.start();
    onTestFinished(() => s.close());
    return s;
  }

  it('re-sends records that failed inside a PutRecords response, with backoff, until all are stored', async () => {
    const real = kinesis.client();
    onTestFinished(() => real.destroy());
    const client = throttlingClient(real, 2);
    const s = await fresh('partial-1', 1, client);
    const recs = Array.from({ length: 8 }, (_, i) => ({ partitionKey: 'k', data: Buffer.from(`r${i}`) }));
    expect(await s.put(recs)).toEqual({ count: 8 });
    expect(client.calls).toEqual([8, 4]); // 4 failed, then 2 of those failed, then the last 2 went through
    expect(s.retriedRecords).toBe(6);
    // no leftover waits: the put resolved only when every record was stored
    const [shard] = await s.listShards();
    const got = await s.read(shard!, { consumer: 'c', limit: 100 });
    expect(got.records.map((r) => Buffer.from(r.data).toString()).sort()).toEqual(
      recs.map((r) => r.data.toString()).sort(),
    );
  });

  it('gives up with EL_ERR_STREAM_PUT_FAILED naming the error codes when retries run out', async () => {
    const real = kinesis.client();
    onTestFinished(() => real.destroy());
    const s = await fresh(
      'partial-2',
      1,
      throttlingClient(real, 100, (_, key) => key === 'b'),
      { retry: { minMs: 1, maxMs: 2, maxAttempts: 2 } },
    );
    await expect(
      s.put([
        { partitionKey: 'a', data: Buffer.from('1') },
        { partitionKey: 'b', data: Buffer.from('2') },
      ]),
    ).rejects.toMatchObject({
      code: 'EL_ERR_STREAM_PUT_FAILED',
      message: expect.stringMatching(
        /1 of 2 records still failing after 2 retries \(1 × ProvisionedThroughputExceededException\)/,
      ),
    });
  });

  it('close() during the wait between PutRecords retries ends the put at once with the partial failure', async () => {
    const real = kinesis.client();
    onTestFinished(() => real.destroy());
    const client = throttlingClient(real, 100);
    const s = await fresh('partial-close', 1, client, {
      retry: { minMs: 60_000, maxMs: 60_000, jitter: 'none', maxAttempts: 5 },
    });
    const put = s
      .put([
        { partitionKey: 'a', data: Buffer.from('1') },
        { partitionKey: 'a', data: Buffer.from('2') },
      ])
      .catch((e: unknown) => e);
    await expect.poll(() => s.retriedRecords).toBe(1); // the failed response is in: the put waits to retry
    const t0 = performance.now();
    await s.close();
    const err = await put;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(err).toMatchObject({
      code: 'EL_ERR_STREAM_PUT_FAILED',
      message: expect.stringMatching(/1 of 2 records still failing after 0 retries/),
    });
    expect(client.calls).toEqual([2]);
  });

  it('splits a put into requests of at most 500 records and 5 MiB', async () => {
    const real: KinesisLike = kinesis.client();
    onTestFinished(() => real.destroy?.());
    const sizes: number[] = [];
    const counting: KinesisLike = {
      send: (cmd: unknown) => {
        if (cmd instanceof PutRecordsCommand) sizes.push(cmd.input.Records!.length);
        return real.send(cmd);
      },
    };
    const s = await fresh('chunks', 2, counting, { maxBytesPerRequest: 1024 * 1024 });
    await s.put(Array.from({ length: 1201 }, (_, i) => ({ partitionKey: `d${i % 7}`, data: Buffer.from(`${i}`) })));
    expect(sizes).toEqual([500, 500, 201]);
    sizes.length = 0;
    await s.put(Array.from({ length: 25 }, (_, i) => ({ partitionKey: `d${i}`, data: Buffer.alloc(50_000) })));
    expect(sizes).toEqual([20, 5]); // maxBytesPerRequest 1 MiB here (5 MiB by default)
  });

  it('feeds the processor: features from kinesalite records, checkpoints in the checkpoint store', async () => {
    const s = await fresh('processor-feed', 2);
    const store = new SqliteFeatureStore({ path: ':memory:' });
    await store.start();
    onTestFinished(() => store.close());
    const msgs = ['k1', 'k2', 'k3'].map((deviceId, d) => ({
      v: 1 as const,
      type: 'telemetry' as const,
      deviceId,
      seq: 1,
      sentAt: 70_000,
      readings: [
        { seq: 1, sensor: 'torque_nm', ts: 10_000, value: 40 + d },
        { seq: 2, sensor: 'torque_nm', ts: 70_000, value: 50 + d },
      ],
    }));
    await s.put(msgs.map((m) => ({ partitionKey: m.deviceId, data: encodeMessage(m) })));
    const p = new Processor({ stream: s, store, aggregation: { allowedLatenessMs: 0 } });
    onTestFinished(() => p.close());
    expect(await p.drain()).toBe(3);
    const recs = await store.batchGet('device_features', ['k1', 'k2', 'k3']);
    expect(recs.map((r) => [r?.features.torque_nm_mean_1m, r?.features.torque_nm_last])).toEqual([
      [40, 50],
      [41, 51],
      [42, 52],
    ]);
    const cps = await Promise.all((await s.listShards()).map((sh) => s.getCheckpoint('processor', sh)));
    expect(cps.filter((c) => c !== undefined).length).toBeGreaterThanOrEqual(1);
    expect(await p.drain()).toBe(0);
  });

  it('takes region and endpoint shorthands (a plain-HTTP endpoint works without a handler of its own)', async () => {
    const name = 'shorthand';
    await kinesis.createStream(name, 1);
    const s = new KinesisStream({
      streamName: name,
      region: 'us-east-1',
      endpoint: kinesis.endpoint,
      clientConfig: { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } },
    });
    await s.start();
    onTestFinished(() => s.close());
    expect(await s.listShards()).toEqual(['shardId-000000000000']);
  });

  it('validates options', () => {
    expect(() => new KinesisStream({ streamName: '' })).toThrow(/streamName: required/);
    expect(() => new KinesisStream({ streamName: 's', maxRecordsPerRequest: 501 })).toThrow(/maxRecordsPerRequest/);
    expect(() => new KinesisStream({ streamName: 's', streamname: 'x' } as never)).toThrow(
      /unknown option "streamname"/,
    );
  });
});
