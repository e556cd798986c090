/**
 * planFleet's arithmetic against hand-computed cases (the computation is written next to each figure), with a
 * price table of round test prices, and the AWS limits of docs/plan.md: IoT Core 128 KB per message and 100
 * publishes/s per connection (errors), 5 KB metering; Kinesis 1 MiB/s or 1,000 records/s per shard, 25 KB PUT
 * payload units; Lambda 1,000 concurrent executions and 6 MB payloads, 300 s batching window (warnings).
 */
import { describe, expect, it } from 'vitest';
import { FleetSpecSchema, type FleetSpecInput } from '../../../cloud/plan/fleet-spec.ts';
import { planFleet, type Plan } from '../../../cloud/plan/plan.ts';
import { parsePriceTable, PRICE_KEYS, type PriceKey, type PriceTable } from '../../../cloud/plan/prices.ts';

const TEST_PRICES: Record<PriceKey, number | null> = {
  iotConnectivityPerMillionMinutes: 0.1,
  iotMessagesPerMillion: 1,
  iotRulesTriggeredPerMillion: null,
  kinesisShardHour: 0.02,
  kinesisPutPayloadUnitsPerMillion: 0.01,
  lambdaRequestsPerMillion: 0.2,
  lambdaGbSecond: 0.00001,
  featureStoreWritesPerMillionWru: 1,
  s3StandardGbMonth: 0.02,
  s3PutPerThousand: 0.005,
  ec2Hour: 0.1,
  ebsGp3GbMonth: 0.1,
};

function prices(over: Partial<Record<PriceKey, number | null>> = {}): PriceTable {
  const all = { ...TEST_PRICES, ...over };
  return parsePriceTable({
    region: 'test-1',
    currency: 'USD',
    compiled: '2026-12-03',
    prices: Object.fromEntries(
      PRICE_KEYS.map((k) => [
        k,
        {
          usd: all[k],
          unit: 'test',
          source: 'https://example.com/p',
          seenIn: null,
          pageDate: null,
          ...(all[k] === null ? { missing: 'test' } : {}),
          ...(k === 'ec2Hour' ? { instanceType: 'm7g.large' } : {}),
        },
      ]),
    ),
  });
}

function plan(fleet: FleetSpecInput, p: PriceTable = prices()): Plan {
  return planFleet(FleetSpecSchema.parse(fleet), p);
}

const cost = (p: Plan['aws'], service: string, item: string) =>
  p.lines.find((l) => l.service === service && l.item === item)!;

// 1000 devices, 1 reading/s, 100 B per reading, 10 per message, no envelope or topic bytes, no models, a 1,000 B
// status every 100 s; Lambda: BatchSize 100, 10 s window, 512 MB, 100 ms + 0.1 ms per reading; 1,500 B feature
// records; S3 100 B per feature row, 10 B per archived reading, 60 s flushes, 10 days kept.
const CASE_A: FleetSpecInput = {
  devices: 1000,
  readingsPerSecond: 1,
  readingBytes: 100,
  batchSize: 10,
  messageOverheadBytes: 0,
  topicBytes: 0,
  models: { count: 0 },
  statusIntervalSeconds: 100,
  statusBytes: 1000,
  retentionDays: 10,
  kinesis: { headroom: 0 },
  lambda: { batchSize: 100, batchingWindowSeconds: 10, memoryMb: 512, baseMs: 100, msPerReading: 0.1 },
  featureStore: { recordBytes: 1500 },
  s3: { featureRowBytes: 100, archiveBytesPerReading: 10, flushIntervalSeconds: 60 },
};

describe('planFleet: a hand-computed fleet', () => {
  const p = plan(CASE_A);

  it('load and IoT Core', () => {
    expect(p.load.readingsPerSecond).toBe(1000); // 1000 devices × 1
    expect(p.load.readingsPerMonth).toBe(2_628_000_000); // × 730 h × 3600 s
    expect(p.load.telemetryMessageBytes).toBe(1000); // 0 + 10 × 100
    expect(p.load.telemetryMessagesPerSecond).toBe(100); // 1000 × 1 / 10
    expect(p.load.statusMessagesPerSecond).toBe(10); // 1000 / 100 s
    expect(p.load.publishesPerConnectionPerSecond).toBeCloseTo(0.11, 12); // 0.1 telemetry + 0.01 status
    expect(p.iot.meteredPerTelemetryMessage).toBe(1); // ceil(1000 / 5120)
    // 100 telemetry × 1 + 10 status × 2 (publish + retained) × ceil(1000 / 5120) = 120/s; × 2,628,000 s
    expect(p.iot.meteredMessagesPerMonth).toBe(315_360_000);
    expect(p.iot.connectionMinutesPerMonth).toBe(43_800_000); // 1000 × 730 × 60
    expect(cost(p.aws, 'IoT Core', 'messaging').monthlyUsd).toBeCloseTo(315.36, 9); // 315.36 M × $1/M
    expect(cost(p.aws, 'IoT Core', 'connectivity').monthlyUsd).toBeCloseTo(4.38, 9); // 43.8 M × $0.1/M
  });

  it('Kinesis', () => {
    expect(p.kinesis.recordsPerSecond).toBe(100);
    expect(p.kinesis.bytesPerSecond).toBe(100_000); // 100 × 1000 B
    expect(p.kinesis.shardsForBytes).toBeCloseTo(100_000 / 1_048_576, 12); // 0.0954
    expect(p.kinesis.shardsForRecords).toBe(0.1); // 100 / 1000
    expect(p.kinesis).toMatchObject({ binding: 'records', shards: 1, shardHoursPerMonth: 730 });
    expect(p.kinesis.putPayloadUnitsPerMonth).toBe(262_800_000); // ceil(1000 / 25600) = 1 × 100/s × 2,628,000
    expect(cost(p.aws, 'Kinesis', 'shards').monthlyUsd).toBeCloseTo(14.6, 9); // 730 × $0.02
    expect(cost(p.aws, 'Kinesis', 'PUT payload units').monthlyUsd).toBeCloseTo(2.628, 9); // 262.8 M × $0.01/M
  });

  it('Lambda', () => {
    // 1 batcher (1 shard × PF 1) gets 100 records/s: BatchSize 100 fills in 1 s, before the 10 s window
    expect(p.lambda).toMatchObject({
      batchers: 1,
      secondsBetweenInvocations: 1,
      recordsPerInvocation: 100,
      readingsPerInvocation: 1000,
      invocationsPerSecond: 1,
    });
    expect(p.lambda.invocationsPerMonth).toBe(2_628_000);
    expect(p.lambda.durationMs).toBeCloseTo(200, 9); // 100 + 0.1 × 1000
    expect(p.lambda.gbSecondsPerMonth).toBeCloseTo(262_800, 6); // 2,628,000 × 0.2 s × 0.5 GB
    expect(p.lambda.concurrencyAverage).toBeCloseTo(0.2, 12); // 1/s × 0.2 s
    expect(p.lambda.concurrencyMax).toBe(1);
    expect(p.lambda.payloadBytes).toBeCloseTo((100 * 1000 * 4) / 3, 6); // 100 records × 1000 B, base64
    expect(cost(p.aws, 'Lambda', 'requests').monthlyUsd).toBeCloseTo(0.5256, 9); // 2.628 M × $0.2/M
    expect(cost(p.aws, 'Lambda', 'duration').monthlyUsd).toBeCloseTo(2.628, 9); // 262,800 × $0.00001
  });

  it('Feature Store and S3', () => {
    // each invocation writes the distinct devices of its 100 records: min(1000 devices, 100) = 100, once a second
    expect(p.featureStore).toMatchObject({ writesPerSecond: 100, wruPerWrite: 2 }); // ceil(1500 / 1024)
    expect(p.featureStore.wruPerMonth).toBe(525_600_000); // 100 × 2,628,000 × 2
    expect(cost(p.aws, 'Feature Store', 'writes').monthlyUsd).toBeCloseTo(525.6, 9);
    expect(p.s3.featureBytesPerDay).toBe(864_000_000); // 100 writes/s × 86,400 × 100 B
    expect(p.s3.archiveBytesPerDay).toBe(864_000_000); // 1000 readings/s × 86,400 × 10 B
    expect(p.s3.storedGb).toBeCloseTo(17_280_000_000 / 2 ** 30, 9); // 1.728 GB/day × 10 days = 16.09 GiB
    expect(p.s3.putsPerDay).toBe(5760); // 1440 flushes × 2 groups × (data + commit file)
    expect(p.s3.putsPerMonth).toBeCloseTo(175_200, 6); // × 730 / 24 days
    expect(cost(p.aws, 'S3', 'PUT requests').monthlyUsd).toBeCloseTo(0.876, 9); // 175.2 k × $0.005/k
    expect(cost(p.aws, 'S3', 'storage').monthlyUsd).toBeCloseTo((17_280_000_000 / 2 ** 30) * 0.02, 9);
  });

  it('totals, cost per reading, the reference and the unpriced rule line', () => {
    // 4.38 + 315.36 + 14.6 + 2.628 + 0.5256 + 2.628 + 525.6 + 0.876 + 0.3218650818 (rule: no price)
    expect(p.aws.monthlyUsd).toBeCloseTo(866.9194650818, 8);
    expect(p.aws.unpriced).toEqual(['IoT Core rule to Kinesis']);
    expect(cost(p.aws, 'IoT Core', 'rule to Kinesis')).toMatchObject({
      quantity: 262_800_000,
      monthlyUsd: null,
      share: null,
    }); // 100/s × 2,628,000
    expect(p.aws.usdPerReading).toBeCloseTo(866.9194650818 / 2_628_000_000, 15);
    expect(p.aws.ofReference).toBeCloseTo(866.9194650818 / 2_628_000_000 / 0.0012, 12);
    expect(cost(p.aws, 'Feature Store', 'writes').share).toBeCloseTo(525.6 / 866.9194650818, 9);
    expect(p.aws.lines.reduce((s, l) => s + (l.share ?? 0), 0)).toBeCloseTo(1, 12);
  });

  it('one VM', () => {
    expect(p.vm).toMatchObject({ vms: 1, fits: true, instanceType: 'm7g.large' }); // 1000 readings/s ≤ 20,000
    // disk: 16.09 GiB of history + a day of stream (100,000 B/s × 86,400 = 8.05 GiB)
    expect(p.vm.diskGb).toBeCloseTo((17_280_000_000 + 8_640_000_000) / 2 ** 30, 9);
    expect(p.vm.monthlyUsd).toBeCloseTo(73 + ((17_280_000_000 + 8_640_000_000) / 2 ** 30) * 0.1, 9); // 730 h × $0.1 + disk
    expect(p.vm.usdPerReading).toBeCloseTo(p.vm.monthlyUsd / 2_628_000_000, 15);
    // 315 million metered messages a month: under a billion, no tier warning
    expect(p.warnings).toEqual([]);
  });
});

describe('planFleet: AWS limits', () => {
  it("refuses a message over IoT Core's 128 KB and names the largest batch", () => {
    // 60 + 1311 × 100 = 131,160 B > 131,072; (131,072 - 60) / 100 = 1310.12 → 1310
    expect(() => plan({ devices: 1, readingBytes: 100, batchSize: 1311 })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PLAN_LIMIT',
        message: expect.stringMatching(/131160 bytes, over IoT Core's 131072 .*batchSize to at most 1310$/),
      }),
    );
    // 1310 readings: 131,060 B + 40 B topic, metered as ceil(131,100 / 5,120) = 26 messages
    expect(plan({ devices: 1, readingBytes: 100, batchSize: 1310 }).iot.meteredPerTelemetryMessage).toBe(26);
  });

  it('refuses over 100 publishes per second per connection', () => {
    // 200 readings/s one per message + 1/30 status + 1 model × 200/32 × 0.01 events = 200.1 > 100
    expect(() => plan({ devices: 1, readingsPerSecond: 200 })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PLAN_LIMIT',
        message: expect.stringMatching(/200\.1 messages\/s, over IoT Core's 100/),
      }),
    );
    expect(
      plan({ devices: 1, readingsPerSecond: 99, models: { count: 0 } }).load.publishesPerConnectionPerSecond,
    ).toBeCloseTo(99 + 1 / 30, 12);
  });

  it('Kinesis: the byte limit binds for big messages, records for small ones; 25 KB PUT payload units', () => {
    // 10,000 devices × 10 readings/s in messages of 100: 1,000 messages/s of 60 + 100 × 60 = 6,060 B
    const big = plan({ devices: 10_000, readingsPerSecond: 10, batchSize: 100, models: { count: 0 } });
    expect(big.kinesis.bytesPerSecond).toBe(6_060_000);
    expect(big.kinesis.shardsForBytes).toBeCloseTo(6_060_000 / 1_048_576, 12); // 5.78
    expect(big.kinesis.shardsForRecords).toBe(1); // 1,000 / 1,000
    expect(big.kinesis).toMatchObject({ binding: 'bytes', shards: 7 }); // ceil(5.78 × 1.1 headroom = 6.36)
    expect(big.kinesis.putPayloadUnitsPerMonth).toBe(1000 * 2_628_000); // ceil(6,060 / 25,600) = 1 unit each
    // 500 readings: 30,060 B → 2 units per record; 1 message per device every 500 s
    const huge = plan({ devices: 1000, batchSize: 500, models: { count: 0 } });
    expect(huge.kinesis.putPayloadUnitsPerMonth).toBeCloseTo(2 * 2 * 2_628_000, 6); // 2 messages/s × 2 units
    // one reading per message: 10,000 records/s → 10 shards × 1.1 → 11
    expect(plan({ devices: 10_000, models: { count: 0 } }).kinesis).toMatchObject({ binding: 'records', shards: 11 });
  });

  it("warns past Lambda's and IoT Core's default quotas and one VM's capacity", () => {
    // 600,000 devices × 1 reading/s: 600 shards × 1.1 = 660 (+ events) → × PF 2 > 1,000 concurrent executions
    const p = plan({ devices: 600_000, lambda: { parallelizationFactor: 2 } });
    expect(p.lambda.concurrencyMax).toBe(p.kinesis.shards * 2);
    expect(p.warnings).toEqual([
      expect.stringMatching(/600000 devices exceed IoT Core's default quota of 500000 concurrent connections/),
      expect.stringMatching(/^over a billion metered IoT Core messages a month/), // 600,000/s × 2,628,000 s
      expect.stringMatching(/concurrent batches .* exceed Lambda's default 1000 concurrent executions/),
      expect.stringMatching(/600000 readings\/s is over one VM's 20000: the one-VM form needs 30/),
    ]);
    expect(p.vm).toMatchObject({ vms: 30, fits: false });
    // 10,000 records of 6,060 B per invocation, base64: 80.8 MB > 6 MB
    const fat = plan({
      devices: 10_000,
      readingsPerSecond: 10,
      batchSize: 100,
      models: { count: 0 },
      lambda: { batchSize: 10_000 },
    });
    expect(fat.warnings.some((w) => /over Lambda's 6291456: lower lambda.batchSize/.test(w))).toBe(true);
  });

  it('the batching window defaults to the largest window + 10 s, at most 300 s', () => {
    expect(plan({ devices: 10 }).lambda.batchingWindowSeconds).toBe(70);
    expect(plan({ devices: 10, windows: [60, 300] }).lambda.batchingWindowSeconds).toBe(300);
    // 10 devices: 10 records/s on one batcher, BatchSize 300 takes 30 s < 70 s
    expect(plan({ devices: 10, models: { count: 0 } }).lambda.secondsBetweenInvocations).toBe(30);
    // 1 device: 300 records take 300 s: the 70 s window fires first
    expect(plan({ devices: 1, models: { count: 0 } }).lambda).toMatchObject({
      secondsBetweenInvocations: 70,
      recordsPerInvocation: 70,
    });
  });

  it('prices the VM only for the instance type the table prices', () => {
    const p = plan({ devices: 10, vm: { instanceType: 'c7g.xlarge' } });
    expect(p.vm.unpriced).toEqual(['EC2 c7g.xlarge instance']);
    expect(p.warnings).toContainEqual(expect.stringMatching(/prices m7g.large, not c7g.xlarge/));
  });
});
