/**
 * What a caller of runSimulation passes beside the options: the broker to control, credentials, progress reports,
 * latency probes of later stages, the agent fleet factory and an abort signal.
 */
import type { BrokerControl } from './embedded-broker.ts';
import type { FleetDriver, FleetFactoryContext } from './fleet-driver.ts';

export interface SimulationProgress {
  elapsedSec: number;
  durationSec: number;
  phase: 'connecting' | 'running' | 'draining';
  devices: number;
  connectedDevices: number;
  /** published in the last second */
  msgsPerSec: number;
  /** readings the observer received in the last second */
  receivedPerSec: number;
  backlog: number;
  missing: number;
  activeFaults: string[];
}

/** A latency stage measured outside the simulator (a stream consumer, the feature store) */
export interface LatencyProbe {
  name: string;
  /** start measuring; call `record(deviceTsMs, atMs)` for every reading seen at that stage */
  start(record: (deviceTs: number, at: number) => void): Promise<void> | void;
  close(): Promise<void> | void;
}

export interface SimulationHooks {
  /** broker to use with stop/restart for the broker-restart fault (overrides options.url) */
  broker?: { url: string } & Partial<BrokerControl>;
  /** credentials per MQTT client id (default options.username/password for everyone) */
  credentials?: (clientId: string) => { username?: string; password?: string } | undefined;
  /** credentials of the observer and the slow consumer (privileged: subscribe to every device) */
  observerCredentials?: { username?: string; password?: string };
  onProgress?: (p: SimulationProgress) => void;
  probes?: LatencyProbe[];
  /** agent mode: builds the agent fleet (default: simulator/agent/agent-fleet.ts) */
  createAgentFleet?: (ctx: FleetFactoryContext) => Promise<FleetDriver>;
  signal?: AbortSignal;
}
