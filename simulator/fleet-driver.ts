import type { Topics } from '../protocol/topics.ts';
import type { Endpoint } from './light/light-fleet.ts';
import type { TimeSeries } from './report/time-series.ts';
import type { ResolvedSimulationOptions } from './simulation-options.ts';
import type { VirtualDevice } from './virtual-device.ts';

/** What runSimulation needs from a fleet, light (LightFleet) or agent (AgentFleet). */
export interface FleetSnapshot {
  devices: number;
  connections: number;
  connectedDevices: number;
  messagesPublished: number;
  messagesAcked: number;
  readingsPublished: number;
  /** messages produced but not yet acknowledged by the broker (queues + in flight, or outbox depth) */
  backlog: number;
  droppedAtDevice: number;
  connects: number;
  connectFailures: number;
  /** light mode: messages sent late / skipped because the generator fell behind schedule */
  lateSends?: number;
  skippedSends?: number;
}

export interface FleetDriver {
  start(): Promise<void>;
  snapshot(): FleetSnapshot;
  /** last seq produced per device */
  expected(): Map<string, number>;
  pause(): void;
  /** after pause(): wait until what was produced is accounted in expected() (agent intake committed) */
  quiesce?(): Promise<void>;
  resume(): void;
  /** drop every device's connection at once (they reconnect with their own backoff) */
  dropAll(): void;
  /** agent mode: kill -9 a share of the agents, restart them after downMs */
  killAgents?(share: number, downMs: number): Promise<number>;
  close(): Promise<void>;
}

/** What runSimulation gives a fleet factory (agent mode: simulator/agent/agent-fleet.ts, child-agent-fleet.ts). */
export interface FleetFactoryContext {
  options: ResolvedSimulationOptions;
  devices: VirtualDevice[];
  endpointFor: (deviceIndex: number) => Endpoint;
  topics: Topics;
  credentials?: ((clientId: string) => { username?: string; password?: string } | undefined) | undefined;
  series: TimeSeries;
}
