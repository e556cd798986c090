/**
 * The SimulationReport of a finished run, put together from what the run measured: the fleet's counters, the
 * observer's delivery and latency, the probes' stages, the fault outcomes, the detection score against the ground
 * truth (re-based on the actual start of publishing), and this process's CPU and memory.
 */
import type { BuiltFleet } from '../build-fleet.ts';
import type { FleetDriver, FleetSnapshot } from '../fleet-driver.ts';
import type { FleetObserver } from '../fleet-observer.ts';
import type { ResolvedSimulationOptions } from '../simulation-options.ts';
import { scoreDetection, type ObservedEvent } from './detection-score.ts';
import { LatencyHistogram } from './latency-histogram.ts';
import type { FaultOutcome, SimulationReport } from './sim-report.ts';
import type { TimeSeries } from './time-series.ts';

export interface RunMeasurements {
  options: ResolvedSimulationOptions;
  /** the broker is the caller's (hooks or options.url), not embedded in this process */
  externalBroker: boolean;
  startedAt: Date;
  /** process.cpuUsage() at the start of the run */
  cpu0: NodeJS.CpuUsage;
  brokerUrl: string;
  built: BuiltFleet;
  fleet: FleetDriver;
  observer: FleetObserver | undefined;
  series: TimeSeries;
  stages: Record<string, LatencyHistogram>;
  /** the last seq produced per device, when publishing ended */
  finalExpected: Map<string, number>;
  drainMs: number | null;
  timeToAllConnectedMs: number;
  plannedStart: number;
  publishStart: number;
  publishEnd: number;
  outcomes: FaultOutcome[];
  maintenance: SimulationReport['maintenance'];
}

export function assembleReport(m: RunMeasurements): SimulationReport {
  const { options: o, observer, built, stages, finalExpected, publishStart, maintenance } = m;
  const n = built.devices.length;
  const snap: FleetSnapshot = m.fleet.snapshot();
  const cpu = process.cpuUsage(m.cpu0);
  const wallMs = Date.now() - m.startedAt.getTime();
  const publishSec = (m.publishEnd - publishStart) / 1000;

  const deliveries = observer ? observer.delivery.report(finalExpected) : [];
  const expectedTotal = [...finalExpected.values()].reduce((a, b) => a + b, 0);
  const missing = deliveries.reduce((a, d) => a + d.missing, 0);
  const withGaps = deliveries.filter((d) => d.missing > 0).length;
  const events: ObservedEvent[] = observer?.events ?? [];
  // re-base data-fault ground truth on the actual start of publishing
  const shift = publishStart - m.plannedStart;
  const groundTruth = built.groundTruth.map((f) => ({ ...f, start: f.start + shift, end: f.end + shift }));
  const lat = observer?.latency ?? new LatencyHistogram();
  const mem = process.memoryUsage();
  const report: SimulationReport = {
    edgeloop: { simulator: 1 },
    startedAt: m.startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    mode: o.mode,
    broker: m.brokerUrl,
    seed: o.seed,
    fleet: {
      devices: n,
      connections: snap.connections,
      sensors: built.sensors,
      messageRate: o.messageRate,
      samplesPerMessage: o.samplesPerMessage,
      replay: o.replay?.path ?? o.replayCmapss?.path ?? null,
    },
    durationSec: o.durationSec,
    throughput: {
      messagesPublished: snap.messagesPublished,
      messagesAcked: snap.messagesAcked,
      readingsPublished: snap.readingsPublished,
      readingsReceived: observer?.delivery.received ?? 0,
      messagesPerSec: snap.messagesPublished / publishSec,
      readingsPerSec: snap.readingsPublished / publishSec,
      series: m.series.toJSON(),
    },
    latency: {
      deviceToBroker: { ...lat.summary(), histogram: lat.buckets() },
      stages: Object.fromEntries(
        Object.entries(stages).map(([k, h]) => [k, { ...h.summary(), histogram: h.buckets() }]),
      ),
    },
    delivery: {
      observed: Boolean(observer),
      expected: expectedTotal,
      received: observer?.delivery.received ?? 0,
      missing,
      duplicates: observer?.delivery.duplicates ?? 0,
      complete: Boolean(observer) && missing === 0,
      devicesWithGaps: withGaps,
      droppedAtDevice: snap.droppedAtDevice,
      drainMs: m.drainMs,
      perDevice: n <= 1000 ? deliveries : deliveries.filter((d) => d.missing > 0 || d.duplicates > 0),
    },
    connect: { connects: snap.connects, failures: snap.connectFailures, timeToAllConnectedMs: m.timeToAllConnectedMs },
    schedule: { lateSends: snap.lateSends ?? 0, skippedSends: snap.skippedSends ?? 0 },
    anomalies: scoreDetection(groundTruth, events, o.detectionToleranceMs),
    faults: m.outcomes.sort((a, b) => a.atMs - b.atMs),
    groundTruth,
    cpu: {
      userMs: cpu.user / 1000,
      systemMs: cpu.system / 1000,
      cores: (cpu.user + cpu.system) / 1000 / wallMs,
      note: m.externalBroker ? 'simulator process (fleet + observer)' : 'simulator process incl. the embedded broker',
    },
    memory: { rssMiB: mem.rss / 2 ** 20, heapUsedMiB: mem.heapUsed / 2 ** 20 },
    ...(maintenance ? { maintenance } : {}),
  };
  return report;
}
