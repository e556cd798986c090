/**
 * The report of a simulation run: JSON-serialisable (NaN becomes null), plus a readable text summary.
 */
import type { InjectedFault } from '../faults/data-faults.ts';
import type { DeviceDelivery } from '../delivery-tracker.ts';
import type { DetectionScore } from './detection-score.ts';
import type { LatencySummary } from './latency-histogram.ts';
import type { MaintenanceReport } from '../scenarios/index.ts';

export interface FaultOutcome {
  kind: string;
  /** ms after the start of publishing */
  atMs: number;
  /** when the fault was healed (broker back, partition lifted), ms after start */
  healedAtMs: number;
  devicesAffected: number;
  /** from heal until every reading produced before the heal was delivered; null = not within drainTimeoutSec */
  drainMs: number | null;
  /** largest device-side backlog (unacknowledged messages) during the fault */
  peakBacklog: number;
  /** connect storm: ms from the drop until every device was connected again */
  reconnectMs?: number | null;
  /** connect storm: connections the rate limit refused */
  refusedConnects?: number;
  notes?: string;
}

export interface SimulationReport {
  edgeloop: { simulator: 1 };
  startedAt: string;
  endedAt: string;
  mode: 'light' | 'agent';
  broker: string;
  seed: number | string;
  fleet: {
    devices: number;
    connections: number;
    sensors: string[];
    messageRate: number;
    samplesPerMessage: number;
    replay: string | null;
  };
  durationSec: number;
  throughput: {
    messagesPublished: number;
    messagesAcked: number;
    readingsPublished: number;
    readingsReceived: number;
    /** over the publishing period */
    messagesPerSec: number;
    readingsPerSec: number;
    /** per second from the start: published, acked, received readings, events */
    series: { seconds: number; series: Record<string, number[]> };
  };
  latency: {
    /** device time of a reading → the observer received it from the broker (the ingest's view), ms */
    deviceToBroker: LatencySummary & { histogram: Array<[number, number]> };
    /** further stages measured by probes (→ stream, → feature store), when given */
    stages: Record<string, LatencySummary & { histogram: Array<[number, number]> }>;
  };
  delivery: {
    observed: boolean;
    expected: number;
    received: number;
    missing: number;
    duplicates: number;
    complete: boolean;
    devicesWithGaps: number;
    droppedAtDevice: number;
    drainMs: number | null;
    /** devices with gaps or duplicates (all devices when the fleet is 1000 or fewer) */
    perDevice: DeviceDelivery[];
  };
  connect: { connects: number; failures: number; timeToAllConnectedMs: number };
  /** light mode: sends that were late by a period or more / skipped, because the simulator lacked CPU */
  schedule: { lateSends: number; skippedSends: number };
  anomalies: DetectionScore;
  faults: FaultOutcome[];
  groundTruth: InjectedFault[];
  cpu: { userMs: number; systemMs: number; cores: number; note: string };
  memory: { rssMiB: number; heapUsedMiB: number };
  /** the maintenance scenarios (degradation, C-MAPSS replay): the live path's RUL and alerts against the truth */
  maintenance?: MaintenanceReport;
}

const fmt = (x: number | null | undefined, d = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d);
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'n/a');

export function summarize(r: SimulationReport): string {
  const l = r.latency.deviceToBroker;
  const d = r.delivery;
  const a = r.anomalies;
  const lines = [
    `edgeloop sim — ${r.mode} mode, ${r.fleet.devices} devices over ${r.fleet.connections} connections, ${r.durationSec}s, broker ${r.broker}`,
    `throughput   ${fmt(r.throughput.messagesPerSec)} msgs/s, ${fmt(r.throughput.readingsPerSec)} readings/s (published ${r.throughput.messagesPublished}, acked ${r.throughput.messagesAcked})`,
    `latency      device → broker (observer) p50 ${fmt(l.p50)} ms, p95 ${fmt(l.p95)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms (${l.count} readings)`,
  ];
  for (const [k, s] of Object.entries(r.latency.stages))
    lines.push(`             device → ${k} p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)} ms, p99 ${fmt(s.p99)} ms`);
  lines.push(
    d.observed
      ? `delivery     ${d.received}/${d.expected} readings (${d.complete ? 'complete' : `${d.missing} missing on ${d.devicesWithGaps} devices`}), ${d.duplicates} duplicates, drained in ${fmt(d.drainMs, 0)} ms${d.droppedAtDevice ? `, ${d.droppedAtDevice} dropped at devices (queue full)` : ''}`
      : 'delivery     not observed (--no-observe)',
    `connect      ${r.connect.connects} connects, ${r.connect.failures} failed attempts, all connected after ${fmt(r.connect.timeToAllConnectedMs, 0)} ms`,
    ...(r.schedule.lateSends || r.schedule.skippedSends
      ? [
          `schedule     generator behind schedule: ${r.schedule.lateSends} sends late by a period or more, ${r.schedule.skippedSends} skipped (the simulator did not get enough CPU)`,
        ]
      : []),
    r.mode === 'light' && a.events === 0
      ? `anomalies    ${a.faults} faults injected; light mode runs no inference, so detection is scored in agent mode`
      : `anomalies    ${a.events} events vs ${a.faults} injected faults: precision ${pct(a.precision)}, recall ${pct(a.recall)} (${a.detectedFaults}/${a.scoredFaults} detected)`,
  );
  for (const f of r.faults) {
    const extra =
      f.reconnectMs !== undefined
        ? `, all reconnected after ${fmt(f.reconnectMs, 0)} ms, ${f.refusedConnects ?? 0} connects refused`
        : '';
    lines.push(
      `fault        ${f.kind} at ${fmt(f.atMs / 1000)}s, healed at ${fmt(f.healedAtMs / 1000)}s, ${f.devicesAffected} devices: drained ${fmt(f.drainMs, 0)} ms after heal, peak backlog ${f.peakBacklog}${extra}`,
    );
  }
  if (r.maintenance) lines.push(...maintenanceLines(r.maintenance));
  lines.push(
    `cpu          ${fmt(r.cpu.cores, 2)} cores (user ${fmt(r.cpu.userMs, 0)} ms, system ${fmt(r.cpu.systemMs, 0)} ms; ${r.cpu.note}), rss ${fmt(r.memory.rssMiB, 0)} MiB`,
  );
  return lines.join('\n');
}

function maintenanceLines(m: MaintenanceReport): string[] {
  const head = `maintenance  ${m.scenario}: ${m.devices} devices, ${m.failures} failed in the run`;
  const sc = m.score;
  if (!sc) return [`${head}; ${m.note}`];
  const a = sc.alerts;
  const lead = a.leadCycles
    ? `lead time mean ${fmt(a.leadCycles.mean, 1)} cycles (${fmt(a.leadCycles.min, 0)}..${fmt(a.leadCycles.max, 0)}; ${fmt(a.leadSecondsMean, 1)} s at the run's cycle rate)`
    : 'no alert';
  return [
    `${head}; served RUL at the last reading: RMSE ${fmt(sc.rmseAtLastReading, 2)} cycles over ${sc.scored} devices (at failure ${fmt(sc.rmseAtFailure, 2)}), p10-p90 coverage ${sc.coverage === null ? '–' : `${fmt(sc.coverage * 100, 0)} %`}`,
    `maintenance  alerts (horizon ${a.horizon} cycles): ${a.alerted}/${a.failed} failures alerted, ${a.missed} missed, ${a.early} early by more than the horizon, ${a.alertedWithoutFailure} on devices that did not fail; ${lead}; ${m.note}`,
  ];
}

/** JSON with NaN/Infinity as null */
export function reportToJson(r: SimulationReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
