/**
 * Pipeline benchmark: readings/s from device publishers on loopback (separate processes) through
 * broker → ingest → stream → processor → feature store (the cloud in its own process, embedded defaults), and
 * p50/p95/p99 of device timestamp → feature update. In the same run, the raw broker limit: aedes in its own
 * process taking QoS 1 publishes of the same payloads from the same publishers (nothing behind it).
 *
 *   npm run bench:pipeline -- [--readings 200] [--devices 16] [--publishers 2] [--window 8]
 *                             [--warmup 3] [--duration 10] [--kinesis] [--only raw|pipeline|kinesis]
 *
 * --profile DIR writes a V8 CPU profile of the cloud process into DIR.
 * --kinesis also runs the pipeline with KinesisStream against kinesalite (its own process) instead of LocalStream.
 * Roles (internal): the same file is re-run as `--role cloud|publisher|raw-broker|kinesalite` in child processes.
 * The main role reports its figures through bench/lib/report.ts into bench/results/pipeline.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchReport } from '../lib/report.ts';

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    readings: { type: 'string', default: '200' },
    devices: { type: 'string', default: '16' },
    publishers: { type: 'string', default: '2' },
    window: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    kinesis: { type: 'boolean', default: false },
    only: { type: 'string' },
    url: { type: 'string' },
    index: { type: 'string', default: '0' },
    stream: { type: 'string', default: 'local' },
    endpoint: { type: 'string' },
    rate: { type: 'string', default: '0' },
    sync: { type: 'string', default: 'FULL' },
    profile: { type: 'string' },
  },
  strict: true,
});

const R = Number(args.readings);
const DEVICES = Number(args.devices);
const PUBLISHERS = Number(args.publishers);
const WINDOW = Number(args.window);
const RATE = Number(args.rate);

type Msg = { type: string; [k: string]: unknown };

// ---------------------------------------------------------------- roles

async function rawBroker(): Promise<void> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const server = createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  process.send!({ type: 'ready', url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}` });
  process.on('message', (m: Msg) => {
    if (m.type === 'stop') {
      server.close();
      aedes.close(() => process.exit(0));
    }
  });
}

async function kinesaliteRole(): Promise<void> {
  const { createRequire } = await import('node:module');
  const kinesalite = createRequire(import.meta.url)('kinesalite') as (o: object) => {
    listen(port: number, cb: () => void): { address(): AddressInfo };
  };
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  const srv = await new Promise<{ address(): AddressInfo }>((r) => {
    const s = server.listen(0, () => r(s));
  });
  process.send!({ type: 'ready', url: `http://127.0.0.1:${srv.address().port}` });
  process.on('message', (m: Msg) => {
    if (m.type === 'stop') process.exit(0);
  });
}

async function cloudRole(): Promise<void> {
  const { createCloud } = await import('../../cloud/create-cloud.ts');
  const { parseCloudConfig } = await import('../../cloud/config.ts');
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-bench-pipeline-'));
  let lags: number[] = [];
  const kinesis = args.stream === 'kinesis';
  if (kinesis) {
    const { KinesisClient, CreateStreamCommand } = await import('@aws-sdk/client-kinesis');
    const { NodeHttpHandler } = await import('@smithy/node-http-handler');
    const client = new KinesisClient({
      endpoint: args.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      requestHandler: new NodeHttpHandler(),
    });
    await client.send(new CreateStreamCommand({ StreamName: 'bench', ShardCount: 4 }));
    client.destroy();
  }
  const config = parseCloudConfig({
    dataDir: dir,
    logLevel: 'silent',
    broker: { embedded: { port: 0, allowAnonymous: true } },
    http: { enabled: false },
    ...(kinesis
      ? {
          stream: {
            kind: 'kinesis',
            kinesis: {
              streamName: 'bench',
              clientConfig: {
                endpoint: args.endpoint,
                region: 'us-east-1',
                credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
              },
            },
          },
          ingest: { maxInFlightPuts: 4 },
        }
      : { stream: { local: { synchronous: args.sync as 'FULL' | 'NORMAL' } } }),
    processor: {
      onFeatureWrite: (i: { lagMs: number | undefined }) => {
        if (i.lagMs !== undefined) lags.push(i.lagMs);
      },
    },
  });
  const cloud = createCloud(config);
  await cloud.start();
  type Stats = { readings: number };
  const ingest = cloud.parts.get('ingest')!.instance as {
    stats(): Stats & { puts: number; duplicateRecords: number; putLatencyMs: Record<string, number> };
  };
  const processor = cloud.parts.get('processor')!.instance as { stats(): { messages: number; featureWrites: number } };
  process.send!({ type: 'ready', url: cloud.urls.mqtt });
  process.on('message', async (m: Msg) => {
    if (m.type === 'mark') {
      lags = [];
    }
    if (m.type === 'mark' || m.type === 'report') {
      const i = ingest.stats();
      const p = processor.stats();
      const sorted = Float64Array.from(lags).sort();
      const pct = (q: number): number =>
        sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((q / 100) * sorted.length) - 1)]! : NaN;
      process.send!({
        type: m.type,
        at: performance.now() + performance.timeOrigin,
        ingestReadings: i.readings,
        puts: i.puts,
        processedMessages: p.messages,
        featureWrites: p.featureWrites,
        lag: { p50: pct(50), p95: pct(95), p99: pct(99), n: sorted.length },
        putMs: i.putLatencyMs,
        rss: process.memoryUsage().rss,
      });
    }
    if (m.type === 'stop') {
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

async function publisherRole(): Promise<void> {
  const { default: mqtt } = await import('mqtt');
  const idx = Number(args.index);
  let acked = 0;
  let stopping = false;
  const clients = await Promise.all(
    Array.from({ length: DEVICES }, (_, d) => {
      const id = `bench-${idx}-${d}`;
      const c = mqtt.connect(args.url!, { clientId: id, reconnectPeriod: 0 });
      return new Promise<{ id: string; c: typeof c }>((r) => c.once('connect', () => r({ id, c })));
    }),
  );
  const loops = clients.map(async ({ id, c }) => {
    let seq = 1;
    const topic = `edgeloop/v1/${id}/telemetry`;
    const inflight = new Set<Promise<unknown>>();
    // open loop: every device sends one message per `interval` ms (rate = total msgs/s over all devices)
    const interval = RATE > 0 ? (DEVICES * PUBLISHERS * 1000) / RATE : 0;
    let next = performance.now() + Math.random() * interval;
    while (!stopping) {
      if (interval > 0) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        next += interval;
      }
      const now = Date.now();
      const readings = new Array(R);
      for (let k = 0; k < R; k++)
        readings[k] = {
          seq: seq + k,
          sensor: k % 2 ? 'vibration' : 'temp',
          ts: now - (R - k),
          value: 20 + Math.sin(seq + k),
        };
      const payload = Buffer.from(
        JSON.stringify({ v: 1, type: 'telemetry', deviceId: id, seq, sentAt: now, readings }),
      );
      seq += R;
      const p = c.publishAsync(topic, payload, { qos: 1 }).then(() => {
        acked++;
        inflight.delete(p);
      });
      inflight.add(p);
      if (inflight.size >= WINDOW) await Promise.race(inflight);
    }
    await Promise.allSettled(inflight);
  });
  const timer = setInterval(
    () => process.send!({ type: 'acked', acked, at: performance.now() + performance.timeOrigin }),
    250,
  );
  process.on('message', async (m: Msg) => {
    if (m.type === 'stop') {
      stopping = true;
      clearInterval(timer);
      await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 3000))]);
      for (const { c } of clients) c.end(true);
      process.exit(0);
    }
  });
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------- main

function child(role: string, extra: string[] = []): ChildProcess {
  return fork(
    import.meta.filename,
    [
      '--role',
      role,
      '--readings',
      String(R),
      '--devices',
      String(DEVICES),
      '--window',
      String(WINDOW),
      '--publishers',
      String(PUBLISHERS),
      '--rate',
      String(rateNow),
      '--sync',
      args.sync,
      ...extra,
    ],
    {
      execArgv: [
        '--import',
        'tsx',
        ...(role === 'cloud' && args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
}

function once<T extends Msg>(c: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Msg): void => {
      if (m.type === type) {
        c.off('message', on);
        resolve(m as T);
      }
    };
    c.on('message', on);
    c.once('exit', (code) => reject(new Error(`child exited (${code}) before "${type}"`)));
  });
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.send({ type: 'stop' });
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

interface PublisherRun {
  msgsPerSec: number;
  readingsPerSec: number;
}

/** Start publishers against url, warm up, and measure their acknowledged rate over the duration. */
async function drive(
  url: string,
  during?: { mark(): Promise<void> },
): Promise<{ run: PublisherRun; stopAll: () => Promise<void> }> {
  const pubs = Array.from({ length: PUBLISHERS }, (_, i) => child('publisher', ['--url', url, '--index', String(i)]));
  await Promise.all(pubs.map((p) => once(p, 'ready')));
  const latest = new Map<ChildProcess, { acked: number; at: number }>();
  for (const p of pubs)
    p.on('message', (m: Msg) => m.type === 'acked' && latest.set(p, m as unknown as { acked: number; at: number }));
  await new Promise((r) => setTimeout(r, Number(args.warmup) * 1000));
  const sum = (): number => [...latest.values()].reduce((a, b) => a + b.acked, 0);
  await during?.mark();
  const a0 = sum();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Number(args.duration) * 1000));
  const a1 = sum();
  const secs = (performance.now() - t0) / 1000;
  const msgsPerSec = (a1 - a0) / secs;
  return {
    run: { msgsPerSec, readingsPerSec: msgsPerSec * R },
    stopAll: async () => void (await Promise.all(pubs.map(stop))),
  };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function runRaw(): Promise<PublisherRun> {
  const broker = child('raw-broker');
  const { url } = await once<{ type: string; url: string }>(broker, 'ready');
  const { run, stopAll } = await drive(url);
  await stopAll();
  await stop(broker);
  return run;
}

/** PutRecords throughput of kinesalite with the benchmark's payloads (a stream of its own), for 5 s. */
async function rawKinesalite(endpoint: string): Promise<number> {
  const { KinesisClient, CreateStreamCommand, PutRecordsCommand, DescribeStreamSummaryCommand } = await import(
    '@aws-sdk/client-kinesis'
  );
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const client = new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    requestHandler: new NodeHttpHandler(),
  });
  await client.send(new CreateStreamCommand({ StreamName: 'raw', ShardCount: 4 }));
  while (
    (await client.send(new DescribeStreamSummaryCommand({ StreamName: 'raw' }))).StreamDescriptionSummary
      ?.StreamStatus !== 'ACTIVE'
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const now = Date.now();
  const readings = Array.from({ length: R }, (_, k) => ({
    seq: k + 1,
    sensor: k % 2 ? 'vibration' : 'temp',
    ts: now - (R - k),
    value: 20 + Math.sin(k),
  }));
  const data = Buffer.from(
    JSON.stringify({ v: 1, type: 'telemetry', deviceId: 'raw-0', seq: 1, sentAt: now, readings }),
  );
  // the same request shape as the ingest's defaults for Kinesis: 1 MiB batches, 4 in flight
  const per = Math.max(1, Math.min(500, Math.floor((1024 * 1024) / (data.byteLength + 16))));
  const records = Array.from({ length: per }, (_, i) => ({ PartitionKey: `raw-${i % 32}`, Data: data }));
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() - t0 < 5000) {
        const r = await client.send(new PutRecordsCommand({ StreamName: 'raw', Records: records }));
        n += per - (r.FailedRecordCount ?? 0);
      }
    }),
  );
  client.destroy();
  return n / ((performance.now() - t0) / 1000);
}

async function runPipeline(stream: 'local' | 'kinesis'): Promise<void> {
  let kl: ChildProcess | undefined;
  const extra: string[] = ['--stream', stream];
  if (stream === 'kinesis') {
    kl = child('kinesalite');
    const { url } = await once<{ type: string; url: string }>(kl, 'ready');
    extra.push('--endpoint', url);
    const raw = await rawKinesalite(url);
    console.log(
      'raw kinesalite limit: PutRecords of 1 MiB batches of the same payloads, 4 in flight, own process, 4 shards',
    );
    report.figure({ label: 'raw kinesalite limit', value: raw, unit: 'records/s', decimals: 0 });
    report.figure({ label: 'raw kinesalite limit, readings', value: raw * R, unit: 'readings/s', decimals: 0 });
  }
  const cloud = child('cloud', extra);
  const { url } = await once<{ type: string; url: string }>(cloud, 'ready');
  type Report = {
    type: string;
    at: number;
    putMs: Record<string, number>;
    ingestReadings: number;
    processedMessages: number;
    featureWrites: number;
    puts: number;
    lag: { p50: number; p95: number; p99: number; n: number };
    rss: number;
  };
  let m0: Report | undefined;
  const { run, stopAll } = await drive(url, {
    mark: async () => {
      cloud.send({ type: 'mark' });
      m0 = await once<Report>(cloud, 'mark');
    },
  });
  cloud.send({ type: 'report' });
  const m1 = await once<Report>(cloud, 'report');
  await stopAll();
  await stop(cloud);
  if (kl) await stop(kl);
  const secs = (m1.at - m0!.at) / 1000;
  const ingestRate = (m1.ingestReadings - m0!.ingestReadings) / secs;
  const processedRate = ((m1.processedMessages - m0!.processedMessages) * R) / secs;
  const label =
    (stream === 'local' ? 'pipeline (LocalStream, embedded defaults)' : 'pipeline (KinesisStream → kinesalite)') +
    (rateNow > 0 ? `, paced at ${fmt(rateNow * R)} readings/s` : ', closed loop');
  const config = stream === 'kinesis' ? 'kinesis' : rateNow > 0 ? 'paced' : 'closed loop';
  const endToEnd = Math.min(run.readingsPerSec, processedRate);
  const rate = (name: string, value: number, unit = 'readings/s') =>
    report.figure({ config, label: name, value, unit, decimals: 0 });
  const ms = (name: string, value: number | undefined) => {
    if (value !== undefined) report.figure({ config, label: name, value, unit: 'ms', maxDecimals: 1 });
  };
  console.log(`${label}:`);
  if (rateNow > 0) rate('paced at', rateNow * R);
  rate('acknowledged', run.readingsPerSec); // by the broker: in the stream
  rate('acknowledged, messages', run.msgsPerSec, 'msgs/s');
  rate('ingested', ingestRate);
  rate('ingested, puts', (m1.puts - m0!.puts) / secs, 'puts/s');
  ms('put p50', m1.putMs.p50);
  ms('put p95', m1.putMs.p95);
  rate('processed', processedRate); // into features
  rate('feature writes', (m1.featureWrites - m0!.featureWrites) / secs, 'feature writes/s');
  // device timestamp → feature update
  ms('latency p50', m1.lag.p50);
  ms('latency p95', m1.lag.p95);
  ms('latency p99', m1.lag.p99);
  console.log(`  (latency over ${m1.lag.n} feature writes)`);
  report.figure({ config, label: 'cloud RSS', value: m1.rss / 2 ** 20, unit: 'MiB', decimals: 0 });
  // the raw broker limit is the closed loop's: the most the broker takes with nothing behind it
  report.figure({
    config,
    label: 'end to end',
    value: endToEnd,
    unit: 'readings/s',
    raw: config === 'closed loop' ? rawRun?.readingsPerSec : undefined,
    decimals: 0,
  });
  results.push({ label, readingsPerSec: endToEnd, p95: m1.lag.p95 });
}

const results: Array<{ label: string; readingsPerSec: number; p95: number }> = [];
/** msgs/s the publishers are paced at in the current phase (0 = as fast as acknowledgements allow) */
let rateNow = 0;

/** the main role's reporter and raw broker run (the child roles report nothing) */
let report: BenchReport;
let rawRun: PublisherRun | undefined;

async function main(): Promise<void> {
  report = new BenchReport('pipeline');
  console.log(
    `load: ${PUBLISHERS} publisher processes × ${DEVICES} devices, ${R} readings per message, at most ${WINDOW} QoS 1 messages in flight per device; warmup ${args.warmup} s, measured ${args.duration} s per phase`,
  );
  const only = args.only;
  let raw: PublisherRun | undefined;
  if (!only || only === 'raw') {
    raw = await runRaw();
    rawRun = raw;
    console.log('raw broker limit: aedes, own process, QoS 1, same payloads, nothing behind it');
    report.figure({ label: 'raw broker limit', value: raw.readingsPerSec, unit: 'readings/s', decimals: 0 });
    report.figure({ label: 'raw broker limit, messages', value: raw.msgsPerSec, unit: 'msgs/s', decimals: 0 });
  }
  if (!only || only === 'pipeline') {
    // 1. closed loop: the most the pipeline acknowledges (latency here is queueing: in-flight / throughput)
    await runPipeline('local');
    // 2. open loop at the requested rate (default: 80% of what the closed loop sustained): latency under load
    rateNow = RATE > 0 ? RATE : Math.max(10, Math.floor((results.at(-1)!.readingsPerSec * 0.8) / R));
    await runPipeline('local');
    rateNow = 0;
  }
  if (args.kinesis || only === 'kinesis') await runPipeline('kinesis');
  for (const r of results) {
    const ratio = raw
      ? ` = ${((r.readingsPerSec / raw.readingsPerSec) * 100).toFixed(0)}% of the raw broker limit`
      : '';
    console.log(
      `summary: ${r.label}: ${fmt(r.readingsPerSec)} readings/s end to end${ratio}; p95 ${r.p95.toFixed(1)} ms (targets: >= 200,000 readings/s, p95 < 100 ms)`,
    );
  }
  report.write();
}

const roles: Record<string, () => Promise<void>> = {
  main,
  cloud: cloudRole,
  publisher: publisherRole,
  'raw-broker': rawBroker,
  kinesalite: kinesaliteRole,
};
const role = roles[args.role];
if (!role) throw new Error(`unknown role ${args.role}`);
await role();
