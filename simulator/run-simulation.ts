/**
 * runSimulation(options): the programmatic simulator (what `edgeloop sim` and bench:pipeline call). It builds the
 * fleet, connects it (through fault proxies where the schedule needs them), publishes for `durationSec`, injects
 * the scheduled faults, waits for delivery to drain, and returns a SimulationReport. Beside it: what the options
 * and hooks imply for the run (run-plan.ts), the fleet of the mode (create-fleet-driver.ts), the infrastructure
 * faults (faults/infra-faults.ts) and the report (report/assemble-report.ts).
 *
 *   const report = await runSimulation({ devices: 1000, durationSec: 60, url: 'mqtt://127.0.0.1:1883',
 *     faults: [{ kind: 'broker-restart', atSec: 20, durationSec: 3 }] }, { broker });
 */
import { definePart, System } from '../lib/parts.ts';
import { Topics } from '../protocol/topics.ts';
import { buildFleet } from './build-fleet.ts';
import { createFleetDriver } from './create-fleet-driver.ts';
import { delay, withAbort } from './delay.ts';
import { EmbeddedBroker, type BrokerControl } from './embedded-broker.ts';
import { scheduleInfraFaults } from './faults/infra-faults.ts';
import { FleetObserver } from './fleet-observer.ts';
import type { Endpoint } from './light/light-fleet.ts';
import { TcpProxy } from './net/tcp-proxy.ts';
import { loadReplay } from './replay/csv-replay.ts';
import { assembleReport } from './report/assemble-report.ts';
import { LatencyHistogram } from './report/latency-histogram.ts';
import type { SimulationReport } from './report/sim-report.ts';
import { TimeSeries } from './report/time-series.ts';
import { parseUrl, planRun } from './run-plan.ts';
import { prepareScenario } from './scenarios/index.ts';
import type { SimulationHooks, SimulationProgress } from './simulation-hooks.ts';
import {
  resolveSimulationOptions,
  type ResolvedSimulationOptions,
  type SimulationOptions,
} from './simulation-options.ts';

export type { LatencyProbe, SimulationHooks, SimulationProgress } from './simulation-hooks.ts';

export async function runSimulation(
  options: SimulationOptions,
  hooks: SimulationHooks = {},
): Promise<SimulationReport> {
  const o = resolveSimulationOptions(options);
  let system: System<undefined> | undefined;
  try {
    return await run(o, hooks, (s) => (system = s));
  } finally {
    // best effort on the way out: every part is tried (fleet, observer, proxies, broker, in reverse)
    await system?.close().catch(() => {});
  }
}

/** A handle on the broker the fleet connects to, and what the simulator may do to it (broker-restart faults). */
interface BrokerHandle {
  url: string;
  control: Partial<BrokerControl>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function run(
  o: ResolvedSimulationOptions,
  hooks: SimulationHooks,
  hold: (s: System<undefined>) => void,
): Promise<SimulationReport> {
  const startedAt = new Date();
  const cpu0 = process.cpuUsage();
  const topics = new Topics(o.topicPrefix);

  // fleet and ground truth; publishing starts after connecting, so data faults are re-based then
  const replay = o.replay
    ? loadReplay(o.replay.path, { format: o.replay.format, nabLabels: o.replay.nabLabels })
    : undefined;
  const plannedStart = Date.now();
  // a maintenance scenario (degradation, C-MAPSS replay) builds its own fleet and scores the live path after the run
  const scenario = prepareScenario(o);
  const built = scenario?.fleet ?? buildFleet(o, plannedStart, replay);
  const n = built.devices.length;

  const {
    infra,
    restartAtProxy,
    needMain,
    partitionCount,
    credentials,
    observerCredentials: obsCred,
  } = planRun(o, hooks, n);
  const series = new TimeSeries(plannedStart);
  const stages: Record<string, LatencyHistogram> = {};

  // the run's resources are parts of the kernel (lib/parts.ts): started in this order, closed in reverse
  const brokerPart = definePart({
    name: 'broker',
    create: (): BrokerHandle => {
      if (hooks.broker)
        return { url: hooks.broker.url, control: hooks.broker, start: async () => {}, close: async () => {} };
      if (o.url) return { url: o.url, control: {}, start: async () => {}, close: async () => {} };
      const b = new EmbeddedBroker();
      const h: BrokerHandle = {
        url: '',
        control: b,
        start: async () => {
          await b.start();
          h.url = b.url;
        },
        close: () => b.close(),
      };
      return h;
    },
  });
  const proxiesPart = definePart({
    name: 'proxies',
    requires: { broker: brokerPart },
    create: ({ broker }) => {
      const target = parseUrl(broker.url);
      const partition = partitionCount > 0 ? new TcpProxy({ target, name: 'partition' }) : undefined;
      const main = needMain ? new TcpProxy({ target, name: 'main' }) : undefined;
      const endpointFor = (i: number): Endpoint => {
        if (partition && i < partitionCount) return { host: partition.host, port: partition.port };
        if (main) return { host: main.host, port: main.port };
        return target;
      };
      return {
        partition,
        main,
        endpointFor,
        async start() {
          await partition?.start();
          await main?.start();
        },
        async close() {
          await main?.close();
          await partition?.close();
        },
      };
    },
  });
  // the observer first, so nothing published is missed
  const observerPart = definePart({
    name: 'observer',
    enabled: () => o.observe,
    requires: { broker: brokerPart },
    create: ({ broker }) => {
      const devices = new Set(built.devices.map((d) => d.id));
      return new FleetObserver({
        url: broker.url,
        topics,
        series,
        username: obsCred.username,
        password: obsCred.password,
        devices,
      });
    },
  });
  const probesPart = definePart({
    name: 'probes',
    create: () => ({
      async start() {
        for (const p of hooks.probes ?? []) {
          const h = (stages[p.name] = new LatencyHistogram());
          await p.start((ts, at) => h.record(at - ts));
        }
      },
      async close() {
        for (const p of [...(hooks.probes ?? [])].reverse()) await p.close();
      },
    }),
  });
  // built here, started by the run below (connecting is part of what it measures), closed by the kernel
  const fleetPart = definePart({
    name: 'fleet',
    requires: { proxies: proxiesPart },
    optional: { observer: observerPart, probes: probesPart },
    create: ({ proxies }) =>
      createFleetDriver(o, hooks, built, proxies.endpointFor, topics, credentials, series, plannedStart, infra),
    start: () => {},
    close: (fleet) => fleet.close(),
  });
  const intervalsPart = definePart({
    name: 'intervals',
    requires: { fleet: fleetPart },
    create: () => {
      const timers: NodeJS.Timeout[] = [];
      return {
        every(ms: number, fn: () => void): void {
          const t = setInterval(fn, ms);
          t.unref();
          timers.push(t);
        },
        close() {
          for (const t of timers.splice(0)) clearInterval(t);
        },
      };
    },
  });
  const system = new System({
    parts: [brokerPart, proxiesPart, observerPart, probesPart, fleetPart, intervalsPart],
    context: undefined,
  });
  hold(system);
  await system.start();
  const { url: brokerUrl, control } = system.get(brokerPart);
  const { partition: partitionProxy, main: mainProxy } = system.get(proxiesPart);
  const observer = system.find(observerPart);
  const fleet = system.get(fleetPart);
  const intervals = system.get(intervalsPart);

  // connect
  const connectStart = Date.now();
  let phase: SimulationProgress['phase'] = 'connecting';
  const activeFaults = new Set<string>();
  let lastPublished = 0;
  let lastReceived = 0;
  intervals.every(1000, () => {
    const s = fleet.snapshot();
    const received = observer?.delivery.received ?? 0;
    hooks.onProgress?.({
      elapsedSec: Math.round((Date.now() - publishStart) / 100) / 10,
      durationSec: o.durationSec,
      phase,
      devices: n,
      connectedDevices: s.connectedDevices,
      msgsPerSec: s.messagesPublished - lastPublished,
      receivedPerSec: received - lastReceived,
      backlog: s.backlog,
      missing: observer ? observer.delivery.missingTotal(fleet.expected()) : 0,
      activeFaults: [...activeFaults],
    });
    lastPublished = s.messagesPublished;
    lastReceived = received;
  });
  let publishStart = Date.now();
  await withAbort(fleet.start(), hooks.signal);
  const timeToAllConnectedMs = Date.now() - connectStart;
  publishStart = Date.now();
  series.rebase(publishStart);
  phase = 'running';
  // agents count their own publishes: sample them into the throughput series once a second
  let agentPublished = 0;
  if (o.mode === 'agent') {
    intervals.every(1000, () => {
      const s = fleet.snapshot();
      series.add('published', Date.now() - 1, s.messagesPublished - agentPublished);
      agentPublished = s.messagesPublished;
    });
  }

  // schedule infra faults
  const drainTimeoutMs = o.drainTimeoutSec * 1000;
  const waitDrained = async (snapshot: Map<string, number>, deadline: number): Promise<number | null> => {
    if (!observer) return null;
    const t0 = Date.now();
    while (Date.now() < deadline) {
      if (observer.delivery.missingTotal(snapshot) === 0) return Date.now() - t0;
      await delay(25);
    }
    return null;
  };
  const { runs: faultRuns, outcomes } = scheduleInfraFaults(infra, publishStart, {
    fleet,
    devices: n,
    partitionCount,
    restartAtProxy,
    main: mainProxy,
    partition: partitionProxy,
    control,
    brokerUrl,
    topics,
    observerCredentials: obsCred,
    drainTimeoutMs,
    signal: hooks.signal,
    active: activeFaults,
    waitDrained,
  });

  // run
  await delay(o.durationSec * 1000, hooks.signal);
  fleet.pause();
  const publishEnd = Date.now();
  await fleet.quiesce?.();
  phase = 'draining';
  await Promise.allSettled(faultRuns).then((rs) => {
    const bad = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
  });
  const finalExpected = fleet.expected();
  const drainMs = await waitDrained(finalExpected, Date.now() + drainTimeoutMs);
  // later stages (probes) trail the broker: wait until their counts stop moving (300 ms quiet, 5 s at most)
  if (Object.keys(stages).length > 0) {
    const counts = (): string =>
      Object.values(stages)
        .map((h) => h.count)
        .join(',');
    const end = Date.now() + 5000;
    let last = counts();
    while (Date.now() < end) {
      await delay(300);
      const now = counts();
      if (now === last) break;
      last = now;
    }
  }
  const maintenance = await scenario?.score({
    timeoutMs: drainTimeoutMs,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
  });
  return assembleReport({
    options: o,
    externalBroker: Boolean(o.url || hooks.broker),
    startedAt,
    cpu0,
    brokerUrl,
    built,
    fleet,
    observer,
    series,
    stages,
    finalExpected,
    drainMs,
    timeToAllConnectedMs,
    plannedStart,
    publishStart,
    publishEnd,
    outcomes,
    maintenance,
  });
}
