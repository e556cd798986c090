/**
 * What a simulation run derives from its resolved options and hooks before anything starts: the infrastructure
 * faults, whether a broker restart is played at the network, which fault proxies it needs, how many devices a
 * partition cuts off, and the credentials of the devices and of the observer. Also the broker URL check.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import type { Endpoint } from './light/light-fleet.ts';
import type { SimulationHooks } from './simulation-hooks.ts';
import { isInfraFault, type InfraFaultSpec, type ResolvedSimulationOptions } from './simulation-options.ts';

export interface RunPlan {
  infra: InfraFaultSpec[];
  /** a broker restart without control of the broker process: every device connection is reset at the proxy */
  restartAtProxy: boolean;
  /** everyone connects through the main proxy (a restart at the network or a connect storm is scheduled) */
  needMain: boolean;
  /** the first devices that connect through the partition proxy (0: no partition scheduled) */
  partitionCount: number;
  credentials: SimulationHooks['credentials'];
  observerCredentials: { username?: string | undefined; password?: string | undefined };
}

/** The plan of a run of `devices` devices. */
export function planRun(o: ResolvedSimulationOptions, hooks: SimulationHooks, devices: number): RunPlan {
  const infra = o.faults.filter(isInfraFault) as InfraFaultSpec[];
  // without control of the broker process, a broker restart is played at the network: every device connection
  // is reset and refused for the outage (the broker keeps its state, like a broker restarting with persistence)
  const hasControl = hooks.broker ? Boolean(hooks.broker.stop && hooks.broker.restart) : !o.url;
  const restartAtProxy = infra.some((f) => f.kind === 'broker-restart') && !hasControl;
  // proxies: a partition group gets its own proxy; everyone goes through the main proxy when a storm is scheduled
  const partitions = infra.filter((f) => f.kind === 'partition');
  const needMain = restartAtProxy || infra.some((f) => f.kind === 'connect-storm');
  const share = partitions.length ? Math.max(...partitions.map((p) => p.share)) : 0;
  const partitionCount = partitions.length ? Math.max(1, Math.round(share * devices)) : 0;
  const credentials =
    hooks.credentials ??
    (o.username !== undefined ? () => ({ username: o.username, password: o.password }) : undefined);
  const observerCredentials = hooks.observerCredentials ?? { username: o.username, password: o.password };
  return { infra, restartAtProxy, needMain, partitionCount, credentials, observerCredentials };
}

export function parseUrl(url: string): Endpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_SIM_OPTIONS', `broker URL "${url}" is not a URL`, { cause });
  }
  if (u.protocol !== 'mqtt:')
    throw new EdgeloopError(
      'EL_ERR_SIM_OPTIONS',
      `broker URL "${url}": only mqtt:// is supported by the load generator (TLS costs are measured separately)`,
    );
  return { host: u.hostname, port: Number(u.port || 1883) };
}
