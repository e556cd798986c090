/**
 * `edgeloop plan`'s arithmetic: from a fleet description and a price table, what the AWS form needs (IoT Core
 * messages and connections, Kinesis shards, Lambda invocations, concurrency and GB-seconds, Feature Store writes,
 * S3 bytes) and what it costs a month and per reading, next to the same fleet on one VM running `edgeloop cloud`.
 * Pure: no I/O, no clock. A month is 730 hours, as AWS bills it. Formulas are in docs/plan.md.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { AWS_LIMITS as L } from './aws-limits.ts';
import type { FleetSpec } from './fleet-spec.ts';
import type { PriceKey, PriceTable } from './prices.ts';

export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
const SECONDS_PER_DAY = 86_400;
const GIB = 1024 ** 3;
/** the reference figure edgeloop is compared with: US dollars per event (reading) */
export const REFERENCE_USD_PER_READING = 0.0012;

export interface CostLine {
  service: string;
  item: string;
  /** per month */
  quantity: number;
  unit: string;
  /** US dollars per `per` units, null when the table has no price */
  price: number | null;
  per: number;
  monthlyUsd: number | null;
  /** share of the priced total */
  share: number | null;
  /** set when the price is one the table marks `toConfirm` (not read from a page) */
  toConfirm?: true;
}

export interface CostSummary {
  lines: CostLine[];
  /** sum of the priced lines */
  monthlyUsd: number;
  /** items with no price in the table (not in monthlyUsd) */
  unpriced: string[];
  usdPerReading: number;
  /** usdPerReading / REFERENCE_USD_PER_READING */
  ofReference: number;
}

export interface Plan {
  prices: { region: string; compiled: string };
  load: {
    readingsPerSecond: number;
    readingsPerMonth: number;
    telemetryMessagesPerSecond: number;
    eventMessagesPerSecond: number;
    statusMessagesPerSecond: number;
    /** payload bytes of one telemetry message (what IoT Core's 128 KB limit applies to) */
    telemetryMessageBytes: number;
    publishesPerConnectionPerSecond: number;
  };
  iot: {
    connections: number;
    connectionMinutesPerMonth: number;
    meteredPerTelemetryMessage: number;
    meteredMessagesPerMonth: number;
    rulesTriggeredPerMonth: number;
  };
  kinesis: {
    recordsPerSecond: number;
    bytesPerSecond: number;
    shardsForBytes: number;
    shardsForRecords: number;
    binding: 'bytes' | 'records';
    shards: number;
    shardHoursPerMonth: number;
    putPayloadUnitsPerMonth: number;
  };
  lambda: {
    batchingWindowSeconds: number;
    batchers: number;
    secondsBetweenInvocations: number;
    recordsPerInvocation: number;
    readingsPerInvocation: number;
    invocationsPerSecond: number;
    invocationsPerMonth: number;
    durationMs: number;
    gbSecondsPerMonth: number;
    concurrencyAverage: number;
    concurrencyMax: number;
    payloadBytes: number;
  };
  featureStore: { writesPerSecond: number; writesPerMonth: number; wruPerWrite: number; wruPerMonth: number };
  s3: {
    featureBytesPerDay: number;
    archiveBytesPerDay: number;
    bytesPerDay: number;
    storedGb: number;
    putsPerDay: number;
    putsPerMonth: number;
  };
  aws: CostSummary;
  vm: CostSummary & {
    instanceType: string;
    capacityReadingsPerSecond: number;
    vms: number;
    fits: boolean;
    diskGb: number;
  };
  warnings: string[];
}

export function planFleet(f: FleetSpec, prices: PriceTable): Plan {
  const warnings: string[] = [];
  // load
  const readingsPerSecond = f.devices * f.readingsPerSecond;
  const telemetryPayload = f.messageOverheadBytes + f.batchSize * f.readingBytes;
  if (telemetryPayload > L.iotMaxMessageBytes) {
    const most = Math.floor((L.iotMaxMessageBytes - f.messageOverheadBytes) / f.readingBytes);
    limit(
      `a telemetry message of ${f.batchSize} readings is ${telemetryPayload} bytes, over IoT Core's ${L.iotMaxMessageBytes} bytes per message: set batchSize to at most ${most}`,
    );
  }
  const telemetryPerDevice = f.readingsPerSecond / f.batchSize;
  const eventsPerDevice = (f.models.count * f.readingsPerSecond * f.models.anomalyRate) / f.models.windowReadings;
  const statusPerDevice = 1 / f.statusIntervalSeconds;
  const perConnection = telemetryPerDevice + eventsPerDevice + statusPerDevice;
  if (perConnection > L.iotPublishesPerConnection) {
    limit(
      `each device publishes ${round(perConnection)} messages/s, over IoT Core's ${L.iotPublishesPerConnection} publishes per second per connection: batch more readings per message (batchSize)`,
    );
  }
  if (f.devices > L.iotConcurrentConnections) {
    warnings.push(
      `${f.devices} devices exceed IoT Core's default quota of ${L.iotConcurrentConnections} concurrent connections per account: request an increase`,
    );
  }
  const telemetryPerSecond = f.devices * telemetryPerDevice;
  const eventsPerSecond = f.devices * eventsPerDevice;
  const statusPerSecond = f.devices * statusPerDevice;

  // IoT Core: payload + topic, metered in 5 KB steps; a retained status is metered as a publish and a retained message
  const meteredPerTelemetry = Math.ceil((telemetryPayload + f.topicBytes) / L.iotMeteringBytes);
  const meteredPerSecond =
    telemetryPerSecond * meteredPerTelemetry +
    eventsPerSecond * Math.ceil(f.eventBytes / L.iotMeteringBytes) +
    statusPerSecond * 2 * Math.ceil(f.statusBytes / L.iotMeteringBytes);
  if (meteredPerSecond * SECONDS_PER_MONTH > 1e9) {
    warnings.push(
      'over a billion metered IoT Core messages a month: the price table has one messaging rate; check AWS for volume tiers (the messaging line is then an upper bound)',
    );
  }
  const iot = {
    connections: f.devices,
    connectionMinutesPerMonth: f.devices * HOURS_PER_MONTH * 60,
    meteredPerTelemetryMessage: meteredPerTelemetry,
    meteredMessagesPerMonth: meteredPerSecond * SECONDS_PER_MONTH,
    rulesTriggeredPerMonth: (telemetryPerSecond + eventsPerSecond) * SECONDS_PER_MONTH,
  };

  // Kinesis: one record per telemetry or event message
  const recordsPerSecond = telemetryPerSecond + eventsPerSecond;
  const bytesPerSecond = telemetryPerSecond * telemetryPayload + eventsPerSecond * f.eventBytes;
  const shardsForBytes = bytesPerSecond / L.kinesisShardBytesPerSecond;
  const shardsForRecords = recordsPerSecond / L.kinesisShardRecordsPerSecond;
  const shards = Math.max(1, Math.ceil(Math.max(shardsForBytes, shardsForRecords) * (1 + f.kinesis.headroom)));
  const unitsPerSecond =
    telemetryPerSecond * Math.ceil(telemetryPayload / L.kinesisPutPayloadUnitBytes) +
    eventsPerSecond * Math.ceil(f.eventBytes / L.kinesisPutPayloadUnitBytes);
  const kinesis = {
    recordsPerSecond,
    bytesPerSecond,
    shardsForBytes,
    shardsForRecords,
    binding: shardsForBytes >= shardsForRecords ? ('bytes' as const) : ('records' as const),
    shards,
    shardHoursPerMonth: shards * HOURS_PER_MONTH,
    putPayloadUnitsPerMonth: unitsPerSecond * SECONDS_PER_MONTH,
  };

  // Lambda on the event source mapping: each of shards × ParallelizationFactor batchers invokes when its batch is
  // full or its batching window has passed (with no window, at the next poll, about once a second)
  const window =
    f.lambda.batchingWindowSeconds ?? Math.min(L.lambdaMaxBatchingWindowSeconds, Math.max(...f.windows) + 10);
  const batchers = shards * f.lambda.parallelizationFactor;
  const perBatcher = recordsPerSecond / batchers;
  const between = Math.min(f.lambda.batchSize / perBatcher, Math.max(window, 1));
  const recordsPerInvocation = perBatcher * between;
  const readingsPerInvocation = (recordsPerInvocation * (telemetryPerSecond * f.batchSize)) / recordsPerSecond;
  const invocationsPerSecond = batchers / between;
  const durationMs = f.lambda.baseMs + f.lambda.msPerReading * readingsPerInvocation;
  const payloadBytes = (recordsPerInvocation * (bytesPerSecond / recordsPerSecond) * 4) / 3;
  const lambda = {
    batchingWindowSeconds: window,
    batchers,
    secondsBetweenInvocations: between,
    recordsPerInvocation,
    readingsPerInvocation,
    invocationsPerSecond,
    invocationsPerMonth: invocationsPerSecond * SECONDS_PER_MONTH,
    durationMs,
    gbSecondsPerMonth: invocationsPerSecond * SECONDS_PER_MONTH * (durationMs / 1000) * (f.lambda.memoryMb / 1024),
    concurrencyAverage: invocationsPerSecond * (durationMs / 1000),
    concurrencyMax: batchers,
    payloadBytes,
  };
  if (lambda.concurrencyMax > L.lambdaConcurrency) {
    warnings.push(
      `${batchers} concurrent batches (shards × parallelizationFactor) exceed Lambda's default ${L.lambdaConcurrency} concurrent executions per Region: request an increase`,
    );
  }
  if (payloadBytes > L.lambdaPayloadBytes) {
    warnings.push(
      `an invocation would carry ${Math.round(payloadBytes)} bytes (base64), over Lambda's ${L.lambdaPayloadBytes}: lower lambda.batchSize`,
    );
  }

  // Feature Store: the handler writes one record per device it saw in the batch
  const devicesPerInvocation = Math.min(f.devices / batchers, recordsPerInvocation);
  const writesPerSecond = invocationsPerSecond * devicesPerInvocation;
  const wruPerWrite = Math.ceil(f.featureStore.recordBytes / L.featureStoreWruBytes);
  const featureStore = {
    writesPerSecond,
    writesPerMonth: writesPerSecond * SECONDS_PER_MONTH,
    wruPerWrite,
    wruPerMonth: writesPerSecond * SECONDS_PER_MONTH * wruPerWrite,
  };

  // S3: the offline feature history (one row per write) and the raw archive, one data file and one commit file per
  // group per flush, kept retentionDays
  const featureBytesPerDay = writesPerSecond * SECONDS_PER_DAY * f.s3.featureRowBytes;
  const archiveBytesPerDay = readingsPerSecond * SECONDS_PER_DAY * f.s3.archiveBytesPerReading;
  const bytesPerDay = featureBytesPerDay + archiveBytesPerDay;
  const groups = f.s3.archiveBytesPerReading > 0 ? 2 : 1;
  const putsPerDay = (SECONDS_PER_DAY / f.s3.flushIntervalSeconds) * groups * 2;
  const s3 = {
    featureBytesPerDay,
    archiveBytesPerDay,
    bytesPerDay,
    storedGb: (bytesPerDay * f.retentionDays) / GIB,
    putsPerDay,
    putsPerMonth: (putsPerDay * SECONDS_PER_MONTH) / SECONDS_PER_DAY,
  };

  const readingsPerMonth = readingsPerSecond * SECONDS_PER_MONTH;
  const price = (k: PriceKey): number | null => prices.prices[k].usd;
  const toConfirm = (k: PriceKey): boolean => prices.prices[k].usd !== null && prices.prices[k].toConfirm !== undefined;
  const aws = summarize(readingsPerMonth, [
    line(
      'IoT Core',
      'connectivity',
      iot.connectionMinutesPerMonth,
      'connection-minutes',
      price('iotConnectivityPerMillionMinutes'),
      1e6,
      toConfirm('iotConnectivityPerMillionMinutes'),
    ),
    line(
      'IoT Core',
      'messaging',
      iot.meteredMessagesPerMonth,
      'metered messages',
      price('iotMessagesPerMillion'),
      1e6,
      toConfirm('iotMessagesPerMillion'),
    ),
    line(
      'IoT Core',
      'rule to Kinesis',
      iot.rulesTriggeredPerMonth,
      'rules triggered',
      price('iotRulesTriggeredPerMillion'),
      1e6,
      toConfirm('iotRulesTriggeredPerMillion'),
    ),
    line(
      'Kinesis',
      'shards',
      kinesis.shardHoursPerMonth,
      'shard-hours',
      price('kinesisShardHour'),
      1,
      toConfirm('kinesisShardHour'),
    ),
    line(
      'Kinesis',
      'PUT payload units',
      kinesis.putPayloadUnitsPerMonth,
      'PUT payload units',
      price('kinesisPutPayloadUnitsPerMillion'),
      1e6,
      toConfirm('kinesisPutPayloadUnitsPerMillion'),
    ),
    line(
      'Lambda',
      'requests',
      lambda.invocationsPerMonth,
      'invocations',
      price('lambdaRequestsPerMillion'),
      1e6,
      toConfirm('lambdaRequestsPerMillion'),
    ),
    line(
      'Lambda',
      'duration',
      lambda.gbSecondsPerMonth,
      'GB-seconds',
      price('lambdaGbSecond'),
      1,
      toConfirm('lambdaGbSecond'),
    ),
    line(
      'Feature Store',
      'writes',
      featureStore.wruPerMonth,
      'write request units',
      price('featureStoreWritesPerMillionWru'),
      1e6,
      toConfirm('featureStoreWritesPerMillionWru'),
    ),
    line('S3', 'storage', s3.storedGb, 'GB-months', price('s3StandardGbMonth'), 1, toConfirm('s3StandardGbMonth')),
    line(
      'S3',
      'PUT requests',
      s3.putsPerMonth,
      'requests',
      price('s3PutPerThousand'),
      1000,
      toConfirm('s3PutPerThousand'),
    ),
  ]);

  // one VM running `edgeloop cloud`: same history on its disk, plus a day of the local stream
  const vms = Math.ceil(readingsPerSecond / f.vm.readingsPerSecond);
  const diskGb = s3.storedGb + (bytesPerSecond * SECONDS_PER_DAY) / GIB;
  const ec2 = prices.prices.ec2Hour;
  const ec2Price = ec2.instanceType === undefined || ec2.instanceType === f.vm.instanceType ? ec2.usd : null;
  if (ec2Price === null && ec2.usd !== null)
    warnings.push(`the price table prices ${ec2.instanceType}, not ${f.vm.instanceType}: the VM line is unpriced`);
  if (vms > 1)
    warnings.push(
      `${round(readingsPerSecond)} readings/s is over one VM's ${f.vm.readingsPerSecond}: the one-VM form needs ${vms} (split parts with edgeloop cloud --only)`,
    );
  const vmCost = summarize(readingsPerMonth, [
    line('EC2', `${f.vm.instanceType} instance`, vms * HOURS_PER_MONTH, 'instance-hours', ec2Price, 1),
    line('EBS', 'gp3 disk', diskGb, 'GB-months', price('ebsGp3GbMonth'), 1, toConfirm('ebsGp3GbMonth')),
  ]);
  return {
    prices: { region: prices.region, compiled: prices.compiled },
    load: {
      readingsPerSecond,
      readingsPerMonth,
      telemetryMessagesPerSecond: telemetryPerSecond,
      eventMessagesPerSecond: eventsPerSecond,
      statusMessagesPerSecond: statusPerSecond,
      telemetryMessageBytes: telemetryPayload,
      publishesPerConnectionPerSecond: perConnection,
    },
    iot,
    kinesis,
    lambda,
    featureStore,
    s3,
    aws,
    vm: {
      ...vmCost,
      instanceType: f.vm.instanceType,
      capacityReadingsPerSecond: f.vm.readingsPerSecond,
      vms,
      fits: vms === 1,
      diskGb,
    },
    warnings,
  };
}

function line(
  service: string,
  item: string,
  quantity: number,
  unit: string,
  price: number | null,
  per: number,
  toConfirm = false,
): CostLine {
  return {
    service,
    item,
    quantity,
    unit,
    price,
    per,
    monthlyUsd: price === null ? null : (quantity / per) * price,
    share: null,
    ...(toConfirm ? { toConfirm: true as const } : {}),
  };
}

function summarize(readingsPerMonth: number, lines: CostLine[]): CostSummary {
  const monthlyUsd = lines.reduce((s, l) => s + (l.monthlyUsd ?? 0), 0);
  for (const l of lines) l.share = l.monthlyUsd === null || monthlyUsd === 0 ? null : l.monthlyUsd / monthlyUsd;
  const usdPerReading = monthlyUsd / readingsPerMonth;
  return {
    lines,
    monthlyUsd,
    unpriced: lines.filter((l) => l.monthlyUsd === null).map((l) => `${l.service} ${l.item}`),
    usdPerReading,
    ofReference: usdPerReading / REFERENCE_USD_PER_READING,
  };
}

function limit(message: string): never {
  throw new EdgeloopError('EL_ERR_PLAN_LIMIT', message);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
