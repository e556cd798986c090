/**
 * `edgeloop up` (what `npm start` runs): the whole loop on one machine. Starts the embedded cloud (broker with
 * authentication, ingest, stream, processor, feature store, and the recommendation service and registry when this
 * build has them), a simulated fleet (default 50 real agents, each with its SQLite outbox and ONNX inference), and
 * the live dashboard; prints the URLs; Ctrl-C stops everything in reverse order.
 *
 * Parts that are not in this build are reported as missing and the rest still runs.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { choiceFlag, numberFlag, parsedFlag, parseFlags } from '../../lib/cli-errors.ts';
import { acquireDataDirLock } from '../../lib/data-dir-lock.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import { Topics } from '../../protocol/topics.ts';
import { packagePath } from '../../lib/package-root.ts';

export const help = `usage: edgeloop up [options]

Runs the whole edgeloop loop on this machine and serves a live dashboard:
embedded MQTT broker → ingest → stream → processor → feature store → recommendations, with a simulated fleet
of edge agents publishing telemetry and anomaly events. Ctrl-C stops everything.

  --devices N        simulated devices (default 50)
  --mode agent|light agent: real edge agents (SQLite outbox + ONNX inference each, default);
                     light: lightweight simulated devices (thousands)
  --port P           dashboard port (default 8080; a free port is used when 8080 is taken; 0 = any free port)
  --host H           dashboard listen address (default 127.0.0.1)
  --data-dir DIR     where all state lives (default ./.edgeloop; the cloud's stores in DIR/cloud); locked while up runs
  --rate R           messages per second per device (default 1)
  --fault-every T    one random fault somewhere in the fleet every T on average (default 6s; 0 = none)
  --no-fleet         run the cloud and the dashboard only (connect your own devices)
  --seed S           PRNG seed of the simulated signals and faults (default: random)
`;

export interface UpOptions {
  devices: number;
  mode: 'agent' | 'light';
  port: number | undefined;
  host: string;
  dataDir: string;
  rate: number;
  faultEverySec: number;
  fleet: boolean;
  seed: number;
}

export interface UpHandle {
  dashboardUrl: string;
  mqttUrl: string;
  /** other HTTP endpoints by name (metrics, recommend, registry) */
  urls: Record<string, string>;
  running: string[];
  missing: Array<{ part: string; reason: string }>;
  close(): Promise<void>;
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('up', argv, {
    options: {
      devices: { type: 'string' },
      mode: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      rate: { type: 'string' },
      'fault-every': { type: 'string' },
      'no-fleet': { type: 'boolean' },
      seed: { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined, dflt: number, min: number, max: number, integer = true): number =>
    numberFlag('up', `--${name}`, v, { min, max, integer }) ?? dflt;
  const mode = choiceFlag('up', '--mode', values.mode, ['agent', 'light']) ?? 'agent';
  const { parseSeconds } = await import('../../simulator/simulation-options.ts');
  const opts: UpOptions = {
    devices: num('devices', values.devices, 50, 0, 100_000),
    mode,
    port: values.port === undefined ? undefined : num('port', values.port, 8080, 0, 65535),
    host: values.host ?? '127.0.0.1',
    dataDir: resolve(ctx.cwd, values['data-dir'] ?? DEFAULT_DATA_DIRS.root),
    rate: num('rate', values.rate, 1, 0.01, 100, false),
    faultEverySec: values['fault-every'] === undefined ? 6 : parsedFlag('up', '--fault-every', values['fault-every'], (v) => parseSeconds(v, '--fault-every'), 'a duration: 6, 6s, 500ms, 2m; 0 = none'),
    fleet: !values['no-fleet'],
    seed: values.seed === undefined ? randomBytes(4).readUInt32LE(0) : num('seed', values.seed, 1, 0, 2 ** 32 - 1),
  };
  const out = (s: string): void => void ctx.stdout.write(s + '\n');
  out('edgeloop up — starting the loop…');
  const handle = await startUp(opts, (s) => ctx.stderr.write(s + '\n'));
  const rel = (p: string): string => relative(ctx.cwd, p) || '.';
  out('');
  out(`  dashboard   ${handle.dashboardUrl}`);
  out(`  mqtt        ${handle.mqttUrl}  (devices log in as their id; passwords in ${rel(join(opts.dataDir, 'secrets.json'))})`);
  out(`  running     ${handle.running.join(', ')}`);
  for (const [k, v] of Object.entries(handle.urls)) out(`  ${k.padEnd(10)}  ${v}`);
  if (handle.missing.length) out(`  missing     ${handle.missing.map((m) => `${m.part} (${m.reason})`).join('; ')}`);
  out(`  data        ${rel(opts.dataDir)}`);
  out('');
  out('Open the dashboard URL in a browser. Press Ctrl-C to stop.');

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        ctx.stderr.write(`edgeloop up: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      ctx.stderr.write(`\nedgeloop up: ${sig}, stopping (fleet → dashboard → cloud)…\n`);
      resolveStop();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  const t0 = Date.now();
  await handle.close();
  out(`edgeloop up: stopped cleanly in ${Date.now() - t0} ms`);
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  return 0;
}

interface Secrets {
  dashboard: string;
  devices: Record<string, string>;
}

/** Start everything; `warn` receives one-line notes about parts that could not start. */
export async function startUp(o: UpOptions, warn: (s: string) => void): Promise<UpHandle> {
  mkdirSync(o.dataDir, { recursive: true });
  const closers: Array<{ name: string; close: () => Promise<void> | void }> = [];
  const running: string[] = [];
  const missing: Array<{ part: string; reason: string }> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c.close();
      } catch (err) {
        warn(`edgeloop up: closing ${c.name} failed: ${(err as Error).message}`);
      }
    }
  };
  try {
    // one `up` per data directory, and no `edgeloop cloud` on its cloud directory meanwhile
    const onTakeover = (prev: { pid: number; command: string }, dir: string): void =>
      warn(`edgeloop up: ${dir}: the previous holder (PID ${prev.pid}, ${prev.command}) is gone, taking over its lock`);
    for (const dir of [o.dataDir, join(o.dataDir, 'cloud')]) {
      const lock = acquireDataDirLock({ dir, command: 'edgeloop up', onTakeover });
      closers.push({ name: `lock ${dir}`, close: () => lock.release() });
    }
    const { deviceIds } = await import('../../simulator/build-fleet.ts');
    const ids = deviceIds('dev-', o.devices);
    const secrets = loadSecrets(join(o.dataDir, 'secrets.json'), ids);
    const topics = new Topics();

    // 1. cloud (or a bare broker when the cloud is not in this build)
    let mqttUrl: string;
    let cloud: { health(): { ok: boolean; parts: Record<string, { ok: boolean; [k: string]: unknown }> }; parts: ReadonlyMap<string, { instance?: unknown }>; close(): Promise<void> } | undefined;
    let deviceAuth = true;
    try {
      const started = await startCloud(o, secrets, ids, warn, missing);
      cloud = started.cloud;
      mqttUrl = started.mqttUrl;
      closers.push({ name: 'cloud', close: () => cloud!.close() });
      running.push(...started.parts);
    } catch (err) {
      missing.push({ part: 'cloud', reason: (err as Error).message.split('\n')[0]!.slice(0, 160) });
      const { EmbeddedBroker } = await import('../../simulator/embedded-broker.ts');
      const b = new EmbeddedBroker({ port: 0 });
      await b.start();
      closers.push({ name: 'broker', close: () => b.close() });
      mqttUrl = b.url;
      deviceAuth = false;
      running.push('broker (plain aedes, no ingest)');
    }

    // 2. dashboard: its view of the fleet is fed by a privileged subscription
    const { FleetView } = await import('../../cloud/dashboard/fleet-view.ts');
    const { DashboardFeed } = await import('../../cloud/dashboard/dashboard-feed.ts');
    const { DashboardServer } = await import('../../cloud/dashboard/dashboard-server.ts');
    const view = new FleetView(Date.now());
    const feed = new DashboardFeed({ url: mqttUrl, view, ...(deviceAuth ? { username: 'dashboard', password: secrets.dashboard } : {}) });
    await feed.start();
    closers.push({ name: 'dashboard feed', close: () => feed.close() });
    const source = { snapshot: () => view.snapshot(Date.now()), device: (id: string) => view.device(id, Date.now()) };
    let dashboard = new DashboardServer({ source, host: o.host, port: o.port ?? 8080, title: 'edgeloop' });
    try {
      await dashboard.start();
    } catch (err) {
      // the default port is taken: take any free one (an explicit --port fails instead)
      if (o.port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      dashboard = new DashboardServer({ source, host: o.host, port: 0, title: 'edgeloop' });
      await dashboard.start();
      warn(`edgeloop up: port 8080 is in use, the dashboard took ${dashboard.url}`);
    }
    const dash = dashboard;
    closers.push({ name: 'dashboard', close: () => dash.close() });
    running.push('dashboard');

    // 3. the fleet
    if (o.fleet && o.devices > 0) {
      const fleetInfo = await startFleet(o, ids, secrets, mqttUrl, deviceAuth, topics, warn, missing);
      closers.push({ name: 'fleet', close: () => fleetInfo.close() });
      running.push(fleetInfo.label);
    }

    // 4. periodic: part health, ingest lag and recommendations into the view
    const partsTimer = setInterval(() => {
      const parts: Record<string, { ok: boolean; detail?: string }> = {};
      if (cloud) for (const [k, v] of Object.entries(cloud.health().parts)) parts[k] = { ok: v.ok };
      else parts.broker = { ok: true, detail: 'plain broker' };
      parts.dashboard = { ok: true };
      for (const m of missing) parts[m.part] = { ok: false, detail: m.reason };
      view.setParts(parts);
      const ingest = cloud?.parts.get('ingest')?.instance as { stats?: () => { lastLagMs?: number } } | undefined;
      const lag = ingest?.stats?.().lastLagMs;
      if (typeof lag === 'number' && Number.isFinite(lag)) view.stage('ingest', lag);
    }, 1000);
    partsTimer.unref();
    closers.push({ name: 'timers', close: () => clearInterval(partsTimer) });
    type Rec = { entityId: string | null; featureAgeMs?: number | null; actions?: Array<{ label: string; score: number }> };
    const recommender = cloud?.parts.get('recommend')?.instance as
      | {
          recommendMany(ids: string[], k?: number): Promise<Array<Rec & { error?: unknown }>>;
        }
      | undefined;
    if (recommender) {
      let busy = false;
      const recTimer = setInterval(() => {
        if (busy) return;
        busy = true;
        const ids = view.deviceIds().slice(0, 500);
        // from the feature store: the processor's latest sensor values, mapped to the recommender's feature names
        recommender
          .recommendMany(ids, 3)
          .then((rs) =>
            rs.forEach((r, i) => {
              if (!r.actions || r.error) return;
              view.setRecommendations(ids[i]!, r.actions.map((a) => ({ item: a.label, score: a.score })));
              if (typeof r.featureAgeMs === 'number') view.stage('feature store (age)', r.featureAgeMs);
            }),
          )
          .catch(() => {})
          .finally(() => (busy = false));
      }, 3000);
      recTimer.unref();
      closers.push({ name: 'recommendations', close: () => clearInterval(recTimer) });
    }
    const urls: Record<string, string> = {};
    const httpUrl = (cloud as { urls?: { http?: string } } | undefined)?.urls?.http;
    if (httpUrl) urls.metrics = `${httpUrl.replace(/\/$/, '')}/metrics`;
    for (const name of ['recommend', 'registry']) {
      const part = cloud?.parts.get(name) as { url?: string; health?: () => { url?: unknown } } | undefined;
      const u = part?.url ?? part?.health?.().url;
      if (typeof u === 'string') urls[name] = u;
    }
    return { dashboardUrl: dashboard.url!, mqttUrl, urls, running, missing, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The recommender's raw features ← the processor's latest value of each simulated sensor. */
const SIM_TO_RECOMMENDER: Record<string, string> = {
  air_temperature_k: 'air_temp_last',
  process_temperature_k: 'process_temp_last',
  rotational_speed_rpm: 'rpm_last',
  torque_nm: 'torque_last',
  tool_wear_min: 'tool_wear_last',
};

function loadSecrets(path: string, ids: string[]): Secrets {
  let s: Secrets = { dashboard: '', devices: {} };
  if (existsSync(path)) {
    try {
      s = JSON.parse(readFileSync(path, 'utf8')) as Secrets;
    } catch {
      /* regenerate */
    }
  }
  const pw = (): string => randomBytes(18).toString('base64url');
  let changed = !s.dashboard;
  s.dashboard ||= pw();
  s.devices ??= {};
  for (const id of ids) {
    if (!s.devices[id]) {
      s.devices[id] = pw();
      changed = true;
    }
  }
  if (changed) writeFileSync(path, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

async function startCloud(
  o: UpOptions,
  secrets: Secrets,
  ids: string[],
  warn: (s: string) => void,
  missing: Array<{ part: string; reason: string }>,
): Promise<{ cloud: Awaited<ReturnType<typeof import('../../cloud/create-cloud.ts').createCloud>>; mqttUrl: string; parts: string[] }> {
  const { createCloud } = await import('../../cloud/create-cloud.ts');
  const { parseCloudConfig } = await import('../../cloud/config.ts');
  const { hashPassword } = await import('../../cloud/broker/password-hash.ts');
  const cloudDir = join(o.dataDir, 'cloud');
  mkdirSync(cloudDir, { recursive: true });
  // scrypt N=4096: these are generated local passwords; cheaper hashing keeps a 1000-device start quick
  const params = { N: 4096, r: 8, p: 1 };
  const devices: Record<string, string> = {};
  for (const id of ids) devices[id] = await hashPassword(secrets.devices[id]!, params);
  const credentialsFile = join(cloudDir, 'credentials.json');
  writeFileSync(credentialsFile, JSON.stringify({ devices, services: { dashboard: await hashPassword(secrets.dashboard, params) } }, null, 2), { mode: 0o600 });
  const config = parseCloudConfig({
    dataDir: cloudDir,
    logLevel: 'warn',
    broker: { mode: 'embedded', embedded: { host: '127.0.0.1', port: 0, credentialsFile } },
    http: { enabled: true, host: '127.0.0.1', port: 0 },
  } as never);
  const extra: Array<{ name: string; def: unknown }> = [];
  try {
    const rec = await import('../../cloud/recommend/recommend-part.ts');
    if (!existsSync(join(rec.DEFAULT_RECOMMENDER_DIR, 'manifest.json'))) throw new Error('models/default/recommender is not built (npm run models:build)');
    extra.push({ name: 'recommend', def: rec.recommendPartDef({ port: 0, featureMap: SIM_TO_RECOMMENDER }, { cwd: o.dataDir }) });
  } catch (err) {
    missing.push({ part: 'recommend', reason: shortReason(err) });
  }
  // the registry starts before recommend (recommend resolves models through it, falling back to the shipped
  // model's directory) and is there for pushes and rollouts (edgeloop registry push --url ...)
  try {
    const reg = await import('../../cloud/registry/registry-part.ts');
    const key = packagePath('models', 'default', 'keys', 'edgeloop-default.pub');
    extra.push({
      name: 'registry',
      def: (await import('../../lib/parts.ts')).definePart({
        name: 'registry',
        create: () => reg.createRegistryPart({ dataDir: join(cloudDir, 'registry'), port: 0, trustedKeys: existsSync(key) ? [key] : [] }),
      }),
    });
  } catch (err) {
    missing.push({ part: 'registry', reason: (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'not in this build' : shortReason(err) });
  }
  // start with every extra part; if one of them fails, start again without it and say so
  for (;;) {
    const cloud = createCloud(config, { extraParts: extra.map((e) => e.def) as never, cwd: o.dataDir });
    try {
      await cloud.start();
      return { cloud, mqttUrl: cloud.urls.mqtt!, parts: [...cloud.parts.keys()] };
    } catch (err) {
      await cloud.close().catch(() => {});
      const failing = extra.find((e) => (err as Error).message.includes(`"${e.name}"`) || (err as Error).message.toLowerCase().includes(e.name)) ?? extra.at(-1);
      if (!failing) throw err;
      extra.splice(extra.indexOf(failing), 1);
      missing.push({ part: failing.name, reason: `failed to start: ${shortReason(err)}` });
      warn(`edgeloop up: ${failing.name} failed to start (${shortReason(err)}); starting without it`);
    }
  }
}

function shortReason(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 160);
}

async function startFleet(
  o: UpOptions,
  ids: string[],
  secrets: Secrets,
  mqttUrl: string,
  auth: boolean,
  topics: Topics,
  warn: (s: string) => void,
  missing: Array<{ part: string; reason: string }>,
): Promise<{ label: string; close: () => Promise<void> }> {
  const { resolveSimulationOptions } = await import('../../simulator/simulation-options.ts');
  const { Prng } = await import('../../simulator/prng.ts');
  const { DEFAULT_SENSORS, SignalModel } = await import('../../simulator/signal-model.ts');
  const { planRandomFaults } = await import('../../simulator/faults/data-faults.ts');
  const { SyntheticSource, VirtualDevice } = await import('../../simulator/virtual-device.ts');
  const { parseUrl, defaultModelsDir } = await import('../../simulator/run-simulation.ts');
  const { TimeSeries } = await import('../../simulator/report/time-series.ts');
  const now = Date.now();
  const root = new Prng(o.seed);
  const names = DEFAULT_SENSORS.map((s) => s.name);
  // faults over the next 24 h: one every `faultEverySec` on average somewhere in the fleet, after a 15 s warm-up
  const horizonSec = 24 * 3600;
  const faults =
    o.faultEverySec > 0
      ? planRandomFaults({
          prng: root.fork('faults'),
          deviceIds: ids,
          sensorNames: names,
          kinds: ['spike', 'drift', 'stuck', 'tool-wear', 'heat-dissipation', 'power', 'overstrain'],
          count: Math.min(200_000, Math.floor(horizonSec / o.faultEverySec)),
          from: now + 15_000,
          to: now + horizonSec * 1000,
        })
      : [];
  const byDevice = new Map<string, typeof faults>();
  for (const f of faults) byDevice.set(f.deviceId, [...(byDevice.get(f.deviceId) ?? []), f]);
  const devices = ids.map((id) => new VirtualDevice(id, new SyntheticSource(new SignalModel(DEFAULT_SENSORS, root.fork(id), now), byDevice.get(id) ?? [])));
  const ep = parseUrl(mqttUrl);
  const credentials = auth ? (id: string) => ({ username: id, password: secrets.devices[id] ?? '' }) : undefined;
  const options = resolveSimulationOptions({ mode: o.mode, devices: ids.length, messageRate: o.rate, durationSec: horizonSec, deviceIdPrefix: 'dev-', reconnect: { minMs: 200, maxMs: 5000 } });
  if (o.mode === 'agent') {
    try {
      const { createAgentFleet } = await import('../../simulator/agent/agent-fleet.ts');
      const modelsDir = defaultModelsDir();
      if (!modelsDir) missing.push({ part: 'anomaly model', reason: 'models/default/anomaly is not built: agents run without inference' });
      const fleet = await createAgentFleet({
        options,
        devices,
        endpointFor: () => ep,
        topics,
        credentials,
        series: new TimeSeries(now),
        modelsDir,
        dataDir: join(o.dataDir, 'agents'),
        keepData: true,
        onError: (id, err) => warn(`edgeloop up: agent ${id}: ${err.message}`),
      });
      await fleet.start();
      return { label: `fleet (${ids.length} agents${modelsDir ? ' with ONNX inference' : ''})`, close: () => fleet.close() };
    } catch (err) {
      if ((err as EdgeloopError).code !== 'EL_ERR_SIM_MODE_UNAVAILABLE') throw err;
      missing.push({ part: 'agent', reason: `${shortReason(err)}; using light-mode devices` });
    }
  }
  const { LightFleet } = await import('../../simulator/light/light-fleet.ts');
  const fleet = new LightFleet({ devices, endpointFor: () => ep, topics, messageRate: o.rate, credentials, retry: { minMs: 200, maxMs: 5000 } });
  await fleet.start();
  return { label: `fleet (${ids.length} light-mode devices)`, close: () => fleet.close() };
}
