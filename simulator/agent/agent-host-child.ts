/**
 * A child process hosting a slice of an agent-mode fleet, so the agent-kill fault can `kill -9` real agents and
 * start them again on the same data directories (their SQLite outboxes keep what they accepted). Started by
 * ChildAgentFleet with `node --import tsx agent-host-child.ts`; talks over the IPC channel:
 *   parent → child  { type: 'init', ... } | { type: 'pause' } | { type: 'resume' } | { type: 'close' }
 *   child → parent  { type: 'started' } | { type: 'stats', snapshot, expected } | { type: 'error', message }
 */
import { Topics } from '../../protocol/topics.ts';
import { buildFleet } from '../build-fleet.ts';
import { TimeSeries } from '../report/time-series.ts';
import type { ResolvedSimulationOptions } from '../simulation-options.ts';
import { AgentFleet, createAgentFleet } from './agent-fleet.ts';

export interface AgentHostInit {
  type: 'init';
  options: ResolvedSimulationOptions;
  startMs: number;
  indices: number[];
  endpoint: { host: string; port: number };
  credentials: Record<string, { username?: string; password?: string }>;
  dataDir: string;
  modelsDir: string | undefined;
  paused: boolean;
}

const send = (m: unknown): void => {
  process.send?.(m);
};

let fleet: AgentFleet | undefined;
let statsTimer: NodeJS.Timeout | undefined;

process.on('message', (m: AgentHostInit | { type: 'pause' | 'resume' | 'close' }) => {
  void handle(m).catch((err: Error) => send({ type: 'error', message: err.message }));
});

async function handle(m: AgentHostInit | { type: 'pause' | 'resume' | 'close' }): Promise<void> {
  if (m.type === 'init') {
    const built = buildFleet(m.options, m.startMs);
    const devices = m.indices.map((i) => built.devices[i]!);
    fleet = (await createAgentFleet({
      options: m.options,
      devices,
      endpointFor: () => m.endpoint,
      topics: new Topics(m.options.topicPrefix),
      credentials: (id) => m.credentials[id],
      series: new TimeSeries(m.startMs),
      modelsDir: m.modelsDir,
      dataDir: m.dataDir,
      keepData: true,
    })) as AgentFleet;
    if (m.paused) fleet.pause();
    await fleet.start();
    send({ type: 'started' });
    const report = (): void => {
      if (fleet) send({ type: 'stats', snapshot: fleet.snapshot(), expected: [...fleet.expected()] });
    };
    report();
    statsTimer = setInterval(report, 100);
  } else if (m.type === 'pause') fleet?.pause();
  else if (m.type === 'resume') fleet?.resume();
  else if (m.type === 'close') {
    if (statsTimer) clearInterval(statsTimer);
    if (fleet) send({ type: 'stats', snapshot: fleet.snapshot(), expected: [...fleet.expected()] });
    await fleet?.close();
    fleet = undefined;
    process.disconnect?.();
  }
}
