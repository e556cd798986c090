/**
 * The infrastructure faults of a simulation run (broker restart, network partition, slow consumer, connect storm,
 * agent kill), each played at its time after the start of publishing against the broker, the fault proxies and
 * the fleet. Each fault's outcome says when it healed, how many devices it touched, the peak backlog during it and
 * how long delivery took to catch up afterwards.
 */
import mqtt from 'mqtt';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Topics } from '../../protocol/topics.ts';
import { delay } from '../delay.ts';
import type { BrokerControl } from '../embedded-broker.ts';
import type { FleetDriver } from '../fleet-driver.ts';
import type { TcpProxy } from '../net/tcp-proxy.ts';
import type { FaultOutcome } from '../report/sim-report.ts';
import type { InfraFaultSpec } from '../simulation-options.ts';

/** What the faults act on, and what they report to. */
export interface InfraFaultTargets {
  fleet: FleetDriver;
  devices: number;
  /** the first devices, which connect through the partition proxy */
  partitionCount: number;
  /** a broker restart is played at the network (no control of the broker process) */
  restartAtProxy: boolean;
  main: TcpProxy | undefined;
  partition: TcpProxy | undefined;
  control: Partial<BrokerControl>;
  brokerUrl: string;
  topics: Topics;
  /** of the slow consumer (privileged: subscribes to every device) */
  observerCredentials: { username?: string | undefined; password?: string | undefined };
  drainTimeoutMs: number;
  signal: AbortSignal | undefined;
  /** labels of the faults in progress (the progress reports show them) */
  active: Set<string>;
  /** ms until delivery caught up with `snapshot` (last seq per device), or null */
  waitDrained(snapshot: Map<string, number>, deadline: number): Promise<number | null>;
}

/**
 * Start every fault, each at `publishStart + atSec`: the promise of each fault's run, and the outcomes, pushed as
 * the faults finish.
 */
export function scheduleInfraFaults(
  infra: readonly InfraFaultSpec[],
  publishStart: number,
  t: InfraFaultTargets,
): { runs: Promise<void>[]; outcomes: FaultOutcome[] } {
  const outcomes: FaultOutcome[] = [];
  let activePartition = false;
  const faultRuns: Promise<void>[] = [];
  const sleepUntil = async (at: number): Promise<void> => {
    const ms = at - Date.now();
    if (ms > 0) await delay(ms, t.signal);
  };
  const trackBacklog = (): { stop: () => number } => {
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, t.fleet.snapshot().backlog)), 100);
    return { stop: () => (clearInterval(timer), Math.max(peak, t.fleet.snapshot().backlog)) };
  };
  for (const f of infra) {
    faultRuns.push(
      (async () => {
        await sleepUntil(publishStart + f.atSec * 1000);
        const label = `${f.kind}@${f.atSec}s`;
        t.active.add(label);
        const atMs = Date.now() - publishStart;
        const bl = trackBacklog();
        const out: FaultOutcome = {
          kind: f.kind,
          atMs,
          healedAtMs: atMs,
          devicesAffected: t.devices,
          drainMs: null,
          peakBacklog: 0,
        };
        switch (f.kind) {
          case 'broker-restart':
            if (t.restartAtProxy) {
              out.notes =
                'no control of the broker process: played as an outage at the network (connections reset and refused, broker state kept)';
              t.main!.block();
              t.partition?.block();
              await delay(f.durationSec * 1000, t.signal);
              t.main!.heal();
              if (!activePartition) t.partition?.heal();
            } else {
              await t.control.stop!();
              await delay(f.durationSec * 1000, t.signal);
              await t.control.restart!();
            }
            break;
          case 'partition': {
            const p = t.partition!;
            out.devicesAffected = t.partitionCount;
            out.notes = `style ${f.style}, ${t.partitionCount} of ${t.devices} devices`;
            activePartition = true;
            if (f.style === 'blackhole') p.blackhole();
            else if (f.style === 'block') p.block();
            else p.drop();
            await delay(f.durationSec * 1000, t.signal);
            p.heal();
            activePartition = false;
            break;
          }
          case 'slow-consumer': {
            // a subscriber to all telemetry that stops reading its socket: the broker must queue for it
            const c = await mqtt.connectAsync(t.brokerUrl, {
              clientId: `edgeloop-sim-slow-${process.pid}`,
              username: t.observerCredentials.username,
              password: t.observerCredentials.password,
              reconnectPeriod: 0,
            });
            await c.subscribeAsync(`${t.topics.prefix}/+/telemetry`, { qos: 1 });
            const stream = (c as unknown as { stream: NodeJS.ReadableStream }).stream;
            stream.pause();
            out.notes = 'one QoS 1 subscriber to all telemetry stopped reading for the duration';
            await delay(f.durationSec * 1000, t.signal);
            stream.resume();
            await c.endAsync(true);
            break;
          }
          case 'connect-storm': {
            const p = t.main!;
            const refused0 = p.stats.refusedRateLimited + (t.partition?.stats.refusedRateLimited ?? 0);
            // a burst of a tenth of a second's worth: the storm meets the limit at once, as at a cloud broker
            const burst = Math.max(1, Math.floor(f.maxConnectsPerSec / 10));
            p.setRateLimit(f.maxConnectsPerSec, burst);
            t.partition?.setRateLimit(f.maxConnectsPerSec, burst);
            const t0 = Date.now();
            t.fleet.dropAll();
            const deadline = t0 + Math.max(f.durationSec * 1000, t.drainTimeoutMs);
            await delay(50);
            while (Date.now() < deadline && t.fleet.snapshot().connectedDevices < t.devices) await delay(50);
            const s = t.fleet.snapshot();
            out.reconnectMs = s.connectedDevices >= t.devices ? Date.now() - t0 : null;
            out.refusedConnects = p.stats.refusedRateLimited + (t.partition?.stats.refusedRateLimited ?? 0) - refused0;
            out.notes = `rate limit ${f.maxConnectsPerSec} connects/s`;
            p.setRateLimit(Infinity);
            t.partition?.setRateLimit(Infinity);
            break;
          }
          case 'agent-kill': {
            if (!t.fleet.killAgents)
              throw new EdgeloopError('EL_ERR_SIM_FAULT', 'agent-kill needs agents in child processes (agent mode)');
            out.devicesAffected = await t.fleet.killAgents(f.share, f.durationSec * 1000);
            break;
          }
        }
        out.healedAtMs = Date.now() - publishStart;
        t.active.delete(label);
        const snap = t.fleet.expected();
        out.drainMs = await t.waitDrained(snap, Date.now() + t.drainTimeoutMs);
        out.peakBacklog = bl.stop();
        outcomes.push(out);
      })(),
    );
  }
  return { runs: faultRuns, outcomes };
}
