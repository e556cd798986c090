/**
 * The fleet driver of a simulation's mode: light devices in this process, or real agents (in this process, or in
 * child processes when agents are to be killed), and where the default anomaly model of the agents is.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../lib/package-root.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import type { Topics } from '../protocol/topics.ts';
import type { BuiltFleet } from './build-fleet.ts';
import type { FleetDriver, FleetFactoryContext } from './fleet-driver.ts';
import { LightFleet, type Endpoint } from './light/light-fleet.ts';
import type { TimeSeries } from './report/time-series.ts';
import type { SimulationHooks } from './simulation-hooks.ts';
import type { InfraFaultSpec, ResolvedSimulationOptions } from './simulation-options.ts';

/** The fleet driver of the mode: light devices in this process, or real agents (in this process or in children). */
export async function createFleetDriver(
  o: ResolvedSimulationOptions,
  hooks: SimulationHooks,
  built: BuiltFleet,
  endpointFor: (i: number) => Endpoint,
  topics: Topics,
  credentials: SimulationHooks['credentials'],
  series: TimeSeries,
  plannedStart: number,
  infra: readonly InfraFaultSpec[],
): Promise<FleetDriver> {
  if (o.mode === 'light') {
    const lf = new LightFleet({
      devices: built.devices,
      endpointFor,
      topics,
      messageRate: o.messageRate,
      samplesPerMessage: o.samplesPerMessage,
      connections: o.connections,
      credentials,
      connectRatePerSec: o.connectRatePerSec,
      retry: o.reconnect,
      onPublish: (_i, _r, at) => series.add('published', at),
      onAck: (_i, at) => series.add('acked', at),
    });
    return {
      start: () => lf.start(),
      snapshot: () => lf.snapshot(),
      expected: () => lf.expected(),
      pause: () => lf.pause(),
      resume: () => lf.resume(),
      dropAll: () => lf.dropAll(),
      close: () => lf.close(),
    };
  }
  const ctx: FleetFactoryContext = { options: o, devices: built.devices, endpointFor, topics, credentials, series };
  if (hooks.createAgentFleet) return hooks.createAgentFleet(ctx);
  if (o.agentsPerProcess !== undefined || infra.some((f) => f.kind === 'agent-kill')) {
    // agents in child processes: kill -9 needs a process to kill (the children rebuild the same fleet from the seed)
    const { ChildAgentFleet } = await import('./agent/child-agent-fleet.ts');
    return new ChildAgentFleet(
      { ...ctx, modelsDir: defaultModelsDir(), startMs: plannedStart },
      o.agentsPerProcess ?? Math.max(1, Math.ceil(built.devices.length / 4)),
    );
  }
  return (await loadAgentFleetFactory())(ctx);
}

async function loadAgentFleetFactory(): Promise<(ctx: FleetFactoryContext) => Promise<FleetDriver>> {
  try {
    const m = await import('./agent/agent-fleet.ts');
    return (ctx) => m.createAgentFleet({ ...ctx, modelsDir: defaultModelsDir() });
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_SIM_MODE_UNAVAILABLE',
      `agent mode is not available in this build: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** the default anomaly model shipped in models/default/anomaly, when present */
export function defaultModelsDir(): string | undefined {
  const dir = packagePath('models', 'default', 'anomaly');
  return existsSync(join(dir, 'manifest.json')) ? dir : undefined;
}
