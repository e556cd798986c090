/** The text form of a Plan (what `edgeloop plan` prints without --json): the needs, then where the cost goes. */
import { AWS_LIMITS as L } from './aws-limits.ts';
import type { FleetSpec } from './fleet-spec.ts';
import { REFERENCE_USD_PER_READING, type CostSummary, type Plan } from './plan.ts';

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const sig = (n: number): string => n.toLocaleString('en-US', { maximumSignificantDigits: 2 });
const usd = (n: number): string => n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const gib = (bytes: number): string => num(bytes / 1024 ** 3, 1);

export function formatPlan(p: Plan, f: FleetSpec, priceFile: string): string {
  const out: string[] = [];
  out.push(
    `edgeloop plan: ${num(f.devices)} devices × ${num(f.readingsPerSecond, 3)} reading/s = ${num(p.load.readingsPerSecond)} readings/s ` +
      `(${sig(p.load.readingsPerMonth / 1e9)} billion a month), ${num(f.batchSize)} reading(s) per message`,
    `prices: ${p.prices.region}, compiled ${p.prices.compiled} (${priceFile}); a month is 730 hours`,
    '',
    'AWS form: IoT Core -> rule -> Kinesis -> Lambda processor -> SageMaker Feature Store, offline history in S3',
    `  IoT Core       ${num(p.iot.connections)} connections (default quota ${num(L.iotConcurrentConnections)}); ` +
      `${num(p.load.telemetryMessagesPerSecond, 1)} telemetry + ${num(p.load.eventMessagesPerSecond, 1)} event + ${num(p.load.statusMessagesPerSecond, 1)} status messages/s`,
    `                 ${num(p.load.publishesPerConnectionPerSecond, 2)} publishes/s per connection (limit ${L.iotPublishesPerConnection}); ` +
      `telemetry message ${num(p.load.telemetryMessageBytes)} B (limit ${num(L.iotMaxMessageBytes)}), metered as ${p.iot.meteredPerTelemetryMessage} (5 KB steps)`,
    `  Kinesis        ${p.kinesis.shards} shard${p.kinesis.shards === 1 ? '' : 's'}: ${num(p.kinesis.recordsPerSecond)} records/s (${num(L.kinesisShardRecordsPerSecond)} per shard) and ` +
      `${num(p.kinesis.bytesPerSecond / 1024 / 1024, 3)} MiB/s (1 MiB/s per shard), ${p.kinesis.binding} bind, +${num(f.kinesis.headroom * 100)} % headroom`,
    `  Lambda         ${num(p.lambda.invocationsPerSecond, 1)} invocations/s of ${num(p.lambda.recordsPerInvocation)} records (${num(p.lambda.readingsPerInvocation)} readings), ` +
      `one per batcher every ${num(p.lambda.secondsBetweenInvocations, 2)} s (window ${num(p.lambda.batchingWindowSeconds)} s)`,
    `                 ~${num(p.lambda.durationMs)} ms each at ${f.lambda.memoryMb} MB: ${num(p.lambda.gbSecondsPerMonth)} GB-s a month; ` +
      `concurrency ${num(p.lambda.concurrencyAverage, 1)} on average, ${p.lambda.concurrencyMax} at most (default quota ${num(L.lambdaConcurrency)})`,
    `  Feature Store  ${num(p.featureStore.writesPerSecond)} writes/s, ${p.featureStore.wruPerWrite} write unit(s) each`,
    `  S3             ${gib(p.s3.bytesPerDay)} GiB a day (features ${gib(p.s3.featureBytesPerDay)}, archive ${gib(p.s3.archiveBytesPerDay)}), ` +
      `${num(p.s3.storedGb)} GiB kept for ${f.retentionDays} days, ${num(p.s3.putsPerDay)} PUTs a day`,
    '',
    ...costTable(p.aws),
    '',
    `One VM: edgeloop cloud on ${p.vm.instanceType} (embedded broker, local stream, processor, SQLite + Parquet on its disk)`,
    `  ${p.vm.fits ? 'fits' : `does not fit: ${p.vm.vms} VMs`}: ${num(p.load.readingsPerSecond)} readings/s of ${num(p.vm.capacityReadingsPerSecond)} one process sustains; ` +
      `${num(p.vm.diskGb)} GiB of disk`,
    '',
    ...costTable(p.vm),
  );
  if (p.warnings.length > 0) out.push('', 'warnings:', ...p.warnings.map((w) => `  - ${w}`));
  return out.join('\n') + '\n';
}

function costTable(c: CostSummary): string[] {
  const rows = [...c.lines].sort((a, b) => (b.monthlyUsd ?? -1) - (a.monthlyUsd ?? -1));
  const what = (l: (typeof rows)[number]): string => `${l.service} ${l.item}`;
  const w = Math.max(...rows.map((l) => what(l).length), 'where the cost goes'.length);
  const qty = (l: (typeof rows)[number]): string => `${num(l.quantity)} ${l.unit}`;
  const qw = Math.max(...rows.map((l) => qty(l).length));
  return [
    `  ${'where the cost goes'.padEnd(w)}  ${'a month'.padEnd(qw)}  ${'$ a month'.padStart(12)}  share`,
    ...rows.map((l) =>
      l.monthlyUsd === null
        ? `  ${what(l).padEnd(w)}  ${qty(l).padEnd(qw)}  ${'unpriced'.padStart(12)}  (no price in the table)`
        : `  ${what(l).padEnd(w)}  ${qty(l).padEnd(qw)}  ${usd(l.monthlyUsd).padStart(12)}  ${num((l.share ?? 0) * 100, 1).padStart(5)} %${l.toConfirm ? '  (price to be confirmed)' : ''}`,
    ),
    `  ${'total of the priced lines'.padEnd(w + qw + 2)}  ${usd(c.monthlyUsd).padStart(12)}${c.unpriced.length > 0 ? `  (without: ${c.unpriced.join(', ')})` : ''}`,
    `  ${'per reading'.padEnd(w + qw + 2)}  ${('$' + sig(c.usdPerReading)).padStart(12)}  ${sig(c.ofReference * 100)} % of the reference $${REFERENCE_USD_PER_READING} per event`,
  ];
}
