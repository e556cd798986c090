/**
 * `edgeloop up` as parts of the kernel (lib/parts.ts), in start order:
 *
 *   locks       the data directory and its cloud directory (one `up` per folder, no `edgeloop cloud` on it meanwhile)
 *   cloud       the embedded cloud, or a plain broker when the cloud is not in this build (then devices log in anonymously)
 *   dashboard   the live page and its privileged MQTT feed of the fleet
 *   fleet       the simulated fleet (`--no-fleet`: none)
 *   view-feed   part health, ingest lag and recommendations into the dashboard's view, every 1 s / 3 s
 *   loop        the closed loop's milestones (drift → retraining → shadow → rollout), and the drift scenario's report
 *   up-state    <dataDir>/up.json, which `edgeloop sim --up` and the doc commands read; removed first on stop
 *
 * Closed in reverse: loop (its report), up.json, timers, fleet → dashboard → cloud, then the locks.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireDataDirLock } from '../../lib/data-dir-lock.ts';
import { definePart, System } from '../../lib/parts.ts';
import { Topics } from '../../protocol/topics.ts';
import type { Cloud } from '../../cloud/create-cloud.ts';
import type { DriftSource } from '../../cloud/dashboard/drift-view.ts';
import { removeUpState, writeUpState } from '../up-state.ts';
import { loadSecrets, startCloud } from './start-cloud.ts';
import type { InjectedFault } from '../../simulator/faults/data-faults.ts';
import { LoopWatch } from './loop-watch.ts';
import { startFleet } from './start-fleet.ts';
import { shortReason, type UpContext, type UpHandle, type UpOptions } from './types.ts';

export type { UpHandle } from './types.ts';

const locksPart = definePart({
  name: 'locks',
  create: (_n, ctx: UpContext) => {
    const held: Array<{ release(): void }> = [];
    const onTakeover = (prev: { pid: number; command: string }, dir: string): void =>
      ctx.warn(
        `edgeloop up: ${dir}: the previous holder (PID ${prev.pid}, ${prev.command}) is gone, taking over its lock`,
      );
    return {
      start() {
        for (const dir of [ctx.o.dataDir, join(ctx.o.dataDir, 'cloud')])
          held.push(acquireDataDirLock({ dir, command: 'edgeloop up', onTakeover }));
      },
      close() {
        for (const l of held.splice(0).reverse()) l.release();
      },
    };
  },
});

const cloudPart = definePart({
  name: 'cloud',
  requires: { locks: locksPart },
  create: (_n, ctx: UpContext) => {
    const h = {
      cloud: undefined as Cloud | undefined,
      mqttUrl: '',
      /** false on the plain-broker fallback: devices connect without credentials */
      deviceAuth: true,
      running: [] as string[],
      close: async (): Promise<void> => {},
      async start(): Promise<void> {
        try {
          const started = await startCloud(ctx.o, ctx.secrets, ctx.ids, ctx.warn, ctx.missing);
          h.cloud = started.cloud;
          h.mqttUrl = started.mqttUrl;
          h.running = started.parts;
          h.close = () => started.cloud.close();
        } catch (err) {
          ctx.missing.push({ part: 'cloud', reason: shortReason(err) });
          const { EmbeddedBroker } = await import('../../simulator/embedded-broker.ts');
          const b = new EmbeddedBroker({ port: 0 });
          await b.start();
          h.mqttUrl = b.url;
          h.deviceAuth = false;
          h.running = ['broker (plain aedes, no ingest)'];
          h.close = () => b.close();
        }
      },
    };
    return h;
  },
  close: (h) => h.close(),
});

const dashboardPart = definePart({
  name: 'dashboard',
  requires: { cloud: cloudPart },
  create: async ({ cloud }, ctx: UpContext) => {
    const { FleetView } = await import('../../cloud/dashboard/fleet-view.ts');
    const { DashboardFeed } = await import('../../cloud/dashboard/dashboard-feed.ts');
    const { DashboardServer } = await import('../../cloud/dashboard/dashboard-server.ts');
    const view = new FleetView(Date.now());
    const source = { snapshot: () => view.snapshot(Date.now()), device: (id: string) => view.device(id, Date.now()) };
    let feed: InstanceType<typeof DashboardFeed> | undefined;
    let server: InstanceType<typeof DashboardServer> | undefined;
    return {
      view,
      get url(): string {
        return server!.url!;
      },
      async start() {
        // the view of the fleet is fed by a privileged subscription (the service account `dashboard`)
        feed = new DashboardFeed({
          url: cloud.mqttUrl,
          view,
          ...(cloud.deviceAuth ? { username: 'dashboard', password: ctx.secrets.dashboard } : {}),
        });
        await feed.start();
        // the RUL panel reads the cloud's maintenance part, the drift panel its drift monitors, when they run
        const maintenance = () =>
          cloud.cloud?.parts.get('maintenance')?.instance as
            | import('../../cloud/dashboard/dashboard-server.ts').MaintenanceSource
            | undefined;
        const drift = cloud.cloud?.parts.get('drift')?.instance as DriftSource | undefined;
        server = new DashboardServer({
          source,
          maintenance,
          drift,
          host: ctx.o.host,
          port: ctx.o.port ?? 8080,
          title: 'edgeloop',
        });
        try {
          await server.start();
        } catch (err) {
          // the default port is taken: take any free one (an explicit --port fails instead)
          if (ctx.o.port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
          server = new DashboardServer({ source, maintenance, drift, host: ctx.o.host, port: 0, title: 'edgeloop' });
          await server.start();
          ctx.warn(`edgeloop up: port 8080 is in use, the dashboard took ${server.url}`);
        }
      },
      async close() {
        await server?.close();
        await feed?.close();
      },
    };
  },
});

const fleetPart = definePart({
  name: 'fleet',
  enabled: (ctx: UpContext) => ctx.o.fleet && ctx.o.devices > 0,
  requires: { cloud: cloudPart, dashboard: dashboardPart },
  create: ({ cloud }, ctx: UpContext) => {
    const h = {
      label: '',
      faults: [] as InjectedFault[],
      shift: undefined as { devices: string[]; onsetMs: number } | undefined,
      close: async (): Promise<void> => {},
      async start(): Promise<void> {
        const f = await startFleet(
          ctx.o,
          ctx.ids,
          ctx.secrets,
          cloud.mqttUrl,
          cloud.deviceAuth,
          ctx.topics,
          ctx.warn,
          ctx.missing,
        );
        h.label = f.label;
        h.close = f.close;
        h.faults = f.faults;
        h.shift = f.shift;
      },
    };
    return h;
  },
  close: (h) => h.close(),
});

type Rec = { entityId: string | null; featureAgeMs?: number | null; actions?: Array<{ label: string; score: number }> };

const viewFeedPart = definePart({
  name: 'view-feed',
  requires: { cloud: cloudPart, dashboard: dashboardPart },
  optional: { fleet: fleetPart },
  create: ({ cloud: c, dashboard }, ctx: UpContext) => {
    const timers: NodeJS.Timeout[] = [];
    return {
      start() {
        const { view } = dashboard;
        const cloud = c.cloud;
        const partsTimer = setInterval(() => {
          const parts: Record<string, { ok: boolean; detail?: string }> = {};
          if (cloud) for (const [k, v] of Object.entries(cloud.health().parts)) parts[k] = { ok: v.ok };
          else parts.broker = { ok: true, detail: 'plain broker' };
          parts.dashboard = { ok: true };
          for (const m of ctx.missing) parts[m.part] = { ok: false, detail: m.reason };
          view.setParts(parts);
          const ingest = cloud?.parts.get('ingest')?.instance as { stats?: () => { lastLagMs?: number } } | undefined;
          const lag = ingest?.stats?.().lastLagMs;
          if (typeof lag === 'number' && Number.isFinite(lag)) view.stage('ingest', lag);
        }, 1000);
        partsTimer.unref();
        timers.push(partsTimer);
        const recommender = cloud?.parts.get('recommend')?.instance as
          | { recommendMany(ids: string[], k?: number): Promise<Array<Rec & { error?: unknown }>> }
          | undefined;
        if (!recommender) return;
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
                view.setRecommendations(
                  ids[i]!,
                  r.actions.map((a) => ({ item: a.label, score: a.score })),
                );
                if (typeof r.featureAgeMs === 'number') view.stage('feature store (age)', r.featureAgeMs);
              }),
            )
            .catch(() => {})
            .finally(() => (busy = false));
        }, 3000);
        recTimer.unref();
        timers.push(recTimer);
      },
      close() {
        for (const t of timers.splice(0)) clearInterval(t);
      },
    };
  },
});

/** The closed loop's milestones as they happen, and the drift scenario's report when `up` stops (loop-watch.ts). */
const loopPart = definePart({
  name: 'loop',
  requires: { cloud: cloudPart },
  optional: { fleet: fleetPart },
  create: ({ cloud: c, fleet }, ctx: UpContext) => {
    let watch: LoopWatch | undefined;
    return {
      get watch(): LoopWatch | undefined {
        return watch;
      },
      async start() {
        const cloud = c.cloud;
        const retrain = cloud?.parts.get('retrain')?.instance as { retrainer?: { model: string } } | undefined;
        const model = retrain?.retrainer?.model;
        if (!cloud || !model) return;
        watch = new LoopWatch({
          cloud,
          mqttUrl: c.mqttUrl,
          credentials: c.deviceAuth ? { username: 'dashboard', password: ctx.secrets.dashboard } : undefined,
          topics: ctx.topics,
          devices: fleet ? ctx.ids : [],
          model,
          faults: fleet?.faults ?? [],
          shift: fleet?.shift,
          reportFile: ctx.o.reportFile ?? join(ctx.o.dataDir, 'loop-report.json'),
          print: ctx.warn,
        });
        await watch.start();
      },
      async close() {
        await watch?.close();
      },
    };
  },
});

const upStatePart = definePart({
  name: 'up-state',
  requires: { cloud: cloudPart, dashboard: dashboardPart, viewFeed: viewFeedPart },
  optional: { fleet: fleetPart },
  create: ({ cloud: c, dashboard }, ctx: UpContext) => {
    const urls: Record<string, string> = {};
    return {
      urls,
      start() {
        const httpUrl = c.cloud?.urls.http;
        if (httpUrl) urls.metrics = `${httpUrl.replace(/\/$/, '')}/metrics`;
        for (const name of ['recommend', 'maintenance', 'registry', 'rollout']) {
          const part = c.cloud?.parts.get(name) as { url?: string; health?: () => { url?: unknown } } | undefined;
          const u = part?.url ?? part?.health?.().url;
          if (typeof u === 'string') urls[name] = u;
        }
        writeUpState(ctx.o.dataDir, { pid: process.pid, mqtt: c.mqttUrl, dashboard: dashboard.url, urls });
      },
      close() {
        removeUpState(ctx.o.dataDir);
      },
    };
  },
});

/** Start everything; `warn` receives one-line notes about parts that could not start or close. */
export async function startUp(o: UpOptions, warn: (s: string) => void): Promise<UpHandle> {
  mkdirSync(o.dataDir, { recursive: true });
  const { deviceIds } = await import('../../simulator/build-fleet.ts');
  const ids = deviceIds('dev-', o.devices);
  const ctx: UpContext = {
    o,
    warn,
    missing: [],
    ids,
    secrets: loadSecrets(join(o.dataDir, 'secrets.json'), ids),
    topics: new Topics(),
  };
  const system = new System<UpContext>({
    parts: [upStatePart, fleetPart, loopPart],
    context: ctx,
    onEvent: (e) => {
      if (e.event === 'close-failed') warn(`edgeloop up: closing ${e.part} failed: ${(e.error as Error)?.message}`);
    },
  });
  await system.start();
  const cloud = system.get(cloudPart);
  const fleet = system.find(fleetPart);
  return {
    dashboardUrl: system.get(dashboardPart).url,
    mqttUrl: cloud.mqttUrl,
    urls: system.get(upStatePart).urls,
    running: [...cloud.running, 'dashboard', ...(fleet ? [fleet.label] : [])],
    missing: ctx.missing,
    loop: system.find(loopPart)?.watch,
    close: () => system.close().catch((err: unknown) => warn(`edgeloop up: ${(err as Error).message}`)),
  };
}
