/**
 * `edgeloop sim`: the fleet simulator. Parses flags (and an optional YAML file, EDGELOOP_SIM_* env overrides),
 * validates them with the simulator's schema, runs runSimulation with live progress, and writes the report
 * (report.json, report.html, summary.txt) to --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { flagError, numberFlag, parsedFlag, parseFlags } from '../../lib/cli-errors.ts';
import { acquireDataDirLock } from '../../lib/data-dir-lock.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import { loadConfig } from '../load-config.ts';
import { parseFaultArg, parseSeconds, SimulationOptionsSchema } from '../../simulator/simulation-options.ts';

export const help = `usage: edgeloop sim [options]

Simulates a fleet of devices publishing telemetry over MQTT, injects faults, and reports throughput, latency,
delivery completeness (gaps by seq, duplicates), detection precision/recall and recovery after each fault.

  --devices N            virtual devices (default 100)
  --duration T           publishing time, e.g. 30s, 2m (default 30s)
  --rate R               messages per second per device (default 1)
  --batch K              samples per sensor per message (default 1)
  --mode light|agent     light: the simulator speaks MQTT itself (scale); agent: real edge agents (default light)
  --connections C        light mode: TCP connections, devices multiplexed over them (default: one per device)
  --url mqtt://H:P       broker (default: an embedded broker on loopback)
  --cloud                run against an embedded edgeloop cloud (broker, ingest, stream, processor, feature
                         store) and also measure device time → stream and → feature store
  --data-dir DIR         --cloud: where the cloud keeps its stores (default: a temp dir, removed after)
  --username U --password P   device credentials
  --up                   against the \`edgeloop up\` running in this directory: its broker URL and its \`sim\`
                         service account (from .edgeloop/up.json and .edgeloop/secrets.json)
  --prefix P             topic prefix (default edgeloop/v1)
  --seed S               PRNG seed: same seed, same signals, faults and ground truth (default 1)
  --fault SPEC           repeatable; kind@AT[:DURATION][,key=value...]
                         data faults: spike drift stuck dropout tool-wear heat-dissipation power overstrain
                                      random-failure (keys: device, sensor, magnitude)
                         infrastructure: broker-restart partition (share, style=block|blackhole|drop)
                                      slow-consumer connect-storm (maxConnectsPerSec) agent-kill (share)
                         e.g. --fault broker-restart@10s:3s --fault partition@20s:5s,share=0.25
  --random-faults N      N random data faults over the run
  --fault-kinds K,K      kinds for --random-faults
  --replay PATH          replay a CSV file or directory (SKAB, NAB, AI4I) as telemetry
  --replay-format F      skab|nab|ai4i (default: detected from the header)
  --scenario degradation devices wear to failure like C-MAPSS engines (seeded lives; one message = one cycle;
                         a device stops at failure); the report scores the live path's RUL and alerts
  --replay-cmapss FILE   replay a C-MAPSS file: one engine = one device, one cycle = one message (3 settings +
                         21 sensors); a device stops at the end of its trajectory
  --replay-cmapss-rul F  the true RUL of each engine after its last cycle (a test file's RUL file; default 0)
  --maintenance-url URL  maintenance API (http://host:port) to score; with --cloud, the embedded cloud's
  --drain-timeout T      wait at most T for delivery to complete after the run and each fault (default 30s)
  --no-observe           do not subscribe to measure delivery (pure load generation)
  --config FILE          YAML file with the same options (camelCase keys, faults as a list)
  --out DIR              report directory (default ./.edgeloop/sim/<time>)
  --json                 print the JSON report to stdout instead of the summary
  --quiet                no live progress

Environment: EDGELOOP_SIM_<OPTION> overrides, e.g. EDGELOOP_SIM_DEVICES=500.
Exit status: 0 when delivery was complete (or not observed), 3 when readings were missing, 1 on error, 2 wrong flags.
`;

/** delivery was observed and readings were missing: distinct from 1 (error) and 2 (wrong flags) */
export const MISSING_READINGS_EXIT_CODE = 3;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('sim', argv, {
    options: {
      devices: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      batch: { type: 'string' },
      mode: { type: 'string' },
      connections: { type: 'string' },
      url: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      prefix: { type: 'string' },
      seed: { type: 'string' },
      fault: { type: 'string', multiple: true },
      'random-faults': { type: 'string' },
      'fault-kinds': { type: 'string' },
      replay: { type: 'string' },
      'replay-format': { type: 'string' },
      scenario: { type: 'string' },
      'replay-cmapss': { type: 'string' },
      'replay-cmapss-rul': { type: 'string' },
      'maintenance-url': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'no-observe': { type: 'boolean' },
      cloud: { type: 'boolean' },
      up: { type: 'boolean' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const int = (name: string, v: string | undefined): number | undefined => {
    return numberFlag('sim', `--${name}`, v);
  };
  const seconds = (name: string, v: string | undefined): number | undefined =>
    v === undefined
      ? undefined
      : parsedFlag('sim', `--${name}`, v, (x) => parseSeconds(x, `--${name}`), 'a duration: 10, 10s, 500ms, 2m');
  if (values.up && (values.url || values.cloud))
    throw flagError('sim', '--up', 'cannot be combined with --url or --cloud');
  const upState = values.up ? await import('../up-state.ts') : undefined;
  const up = upState?.readUpBroker(resolve(ctx.cwd, upState.DEFAULT_UP_DIR));
  const overrides: Record<string, unknown> = {
    devices: int('devices', values.devices),
    durationSec: seconds('duration', values.duration),
    messageRate: int('rate', values.rate),
    samplesPerMessage: int('batch', values.batch),
    mode: values.mode,
    connections: int('connections', values.connections),
    url: values.url,
    username: values.username,
    password: values.password,
    topicPrefix: values.prefix,
    seed: values.seed === undefined ? undefined : /^-?\d+$/.test(values.seed) ? Number(values.seed) : values.seed,
    faults: values.fault?.map(parseFaultArg),
    drainTimeoutSec: seconds('drain-timeout', values['drain-timeout']),
    observe: values['no-observe'] ? false : undefined,
    // up's own fleet is dev-0001...: the simulator's devices must not take over their client ids and seqs
    ...(up ? { ...up, deviceIdPrefix: 'sim-' } : {}),
  };
  if (values['random-faults'] !== undefined) {
    overrides.randomFaults = {
      count: int('random-faults', values['random-faults']),
      ...(values['fault-kinds'] ? { kinds: values['fault-kinds'].split(',').map((s) => s.trim()) } : {}),
    };
  }
  if (values.replay)
    overrides.replay = {
      path: resolve(ctx.cwd, values.replay),
      ...(values['replay-format'] ? { format: values['replay-format'] } : {}),
    };
  if (values.scenario !== undefined) overrides.scenario = values.scenario;
  if (values['replay-cmapss-rul'] && !values['replay-cmapss'])
    throw flagError('sim', '--replay-cmapss-rul', 'given without --replay-cmapss');
  if (values['replay-cmapss'])
    overrides.replayCmapss = {
      path: resolve(ctx.cwd, values['replay-cmapss']),
      ...(values['replay-cmapss-rul'] ? { rul: resolve(ctx.cwd, values['replay-cmapss-rul']) } : {}),
    };
  if (values['maintenance-url'] !== undefined) overrides.maintenanceUrl = values['maintenance-url'];
  const options = loadConfig(SimulationOptionsSchema, {
    file: values.config ? resolve(ctx.cwd, values.config) : undefined,
    env: ctx.env,
    envPrefix: 'EDGELOOP_SIM_',
    overrides,
  });

  const { runSimulation } = await import('../../simulator/run-simulation.ts');
  const { summarize, reportToJson } = await import('../../simulator/report/sim-report.ts');
  const { renderHtmlReport } = await import('../../simulator/report/html-report.ts');

  let cloudSetup: Awaited<ReturnType<typeof startSimCloud>> | undefined;
  if (values.cloud) {
    if (options.url)
      throw flagError(
        'sim',
        '--cloud',
        'given with --url',
        'one of --cloud (an embedded cloud) or --url (an existing broker)',
      );
    cloudSetup = await startSimCloud(values['data-dir'] ? resolve(ctx.cwd, values['data-dir']) : undefined, options);
    ctx.stderr.write(`edgeloop sim: embedded cloud at ${cloudSetup.url} (data in ${cloudSetup.dataDir})\n`);
  }
  const ac = new AbortController();
  const onSignal = (): void => {
    ctx.stderr.write('\nedgeloop sim: interrupted, closing\n');
    ac.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = Boolean((ctx.stderr as NodeJS.WriteStream).isTTY);
  let lastLine = 0;
  try {
    const scored =
      cloudSetup?.maintenanceUrl && !options.maintenanceUrl ? { maintenanceUrl: cloudSetup.maintenanceUrl } : {};
    const report = await runSimulation(cloudSetup ? { ...options, url: cloudSetup.url, ...scored } : options, {
      signal: ac.signal,
      ...(cloudSetup ? { observerCredentials: cloudSetup.observer, probes: cloudSetup.probes } : {}),
      onProgress: values.quiet
        ? undefined
        : (p) => {
            const now = Date.now();
            if (!tty && now - lastLine < 5000) return;
            lastLine = now;
            const line = `${p.phase} ${p.elapsedSec.toFixed(0)}/${p.durationSec}s · connected ${p.connectedDevices}/${p.devices} · ${p.msgsPerSec} msg/s · received ${p.receivedPerSec} readings/s · backlog ${p.backlog} · missing ${p.missing}${p.activeFaults.length ? ` · fault ${p.activeFaults.join(', ')}` : ''}`;
            ctx.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
          },
    });
    if (tty && !values.quiet) ctx.stderr.write('\n');
    const outDir = resolve(ctx.cwd, values.out ?? join('.edgeloop', 'sim', report.startedAt.replace(/[:.]/g, '-')));
    mkdirSync(outDir, { recursive: true });
    const summary = summarize(report);
    writeFileSync(join(outDir, 'report.json'), reportToJson(report));
    writeFileSync(join(outDir, 'report.html'), renderHtmlReport(report));
    writeFileSync(join(outDir, 'summary.txt'), summary + '\n');
    if (values.json) ctx.stdout.write(reportToJson(report) + '\n');
    else ctx.stdout.write(`${summary}\nreport       ${join(outDir, 'report.html')} (and report.json, summary.txt)\n`);
    return report.delivery.observed && !report.delivery.complete ? MISSING_READINGS_EXIT_CODE : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cloudSetup?.close();
  }
}

/** An embedded cloud for `--cloud`: anonymous devices (client id = device id), a privileged observer service. */
async function startSimCloud(
  dataDir: string | undefined,
  options: {
    devices: number;
    deviceIdPrefix: string;
    topicPrefix: string;
    scenario?: string | undefined;
    replayCmapss?: unknown;
  },
) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { randomBytes } = await import('node:crypto');
  const { createCloud } = await import('../../cloud/create-cloud.ts');
  const { parseCloudConfig } = await import('../../cloud/config.ts');
  const { hashPassword } = await import('../../cloud/broker/password-hash.ts');
  const { deviceIds } = await import('../../simulator/build-fleet.ts');
  const { streamProbe, featureStoreProbe } = await import('../../simulator/probes/pipeline-probes.ts');
  const own = !dataDir;
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'edgeloop-sim-cloud-'));
  // a given directory may be another cloud's: one process per data directory (a temporary one is ours alone)
  const lock = own ? undefined : acquireDataDirLock({ dir, command: 'edgeloop sim --cloud' });
  const password = randomBytes(18).toString('base64url');
  const credentialsFile = join(dir, 'sim-credentials.json');
  writeFileSync(
    credentialsFile,
    JSON.stringify({ services: { 'sim-observer': await hashPassword(password, { N: 4096, r: 8, p: 1 }) } }),
    { mode: 0o600 },
  );
  const cloud = createCloud(
    parseCloudConfig({
      dataDir: dir,
      topicPrefix: options.topicPrefix,
      logLevel: 'warn',
      broker: { mode: 'embedded', embedded: { host: '127.0.0.1', port: 0, credentialsFile, allowAnonymous: true } },
      http: { enabled: false },
      // the maintenance scenarios score the live path: RUL served by the cloud's maintenance part
      ...(options.scenario || options.replayCmapss ? { maintenance: { port: 0 } } : {}),
    } as never),
  );
  try {
    await cloud.start();
  } catch (err) {
    await cloud.close().catch(() => {});
    lock?.release();
    throw err;
  }
  const ids = deviceIds(options.deviceIdPrefix, options.devices);
  type S = import('../../cloud/stream/stream.ts').Stream;
  type F = import('../../cloud/feature-store/feature-store.ts').FeatureStore;
  const probes = [
    streamProbe(cloud.parts.get('stream')!.instance as S),
    featureStoreProbe(cloud.parts.get('feature-store')!.instance as F, { deviceIds: () => ids.slice(0, 1000) }),
  ];
  const maintenance = cloud.parts.get('maintenance') as { url?: string } | undefined;
  return {
    url: cloud.urls.mqtt!,
    maintenanceUrl: maintenance?.url,
    dataDir: dir,
    observer: { username: 'sim-observer', password },
    probes,
    close: async () => {
      await cloud.close();
      lock?.release();
      if (own) rmSync(dir, { recursive: true, force: true });
    },
  };
}
