/**
 * A rollout stack for tests on real components: aedes on port 0, a registry part and a rollout part on port 0, and
 * real agents (SQLite outbox, ONNX Runtime, model updater) that take model updates. `close()` closes all of it in
 * reverse order and removes the temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent, type Agent } from '../../../agent/create-agent.ts';
import type { AgentConfigInput } from '../../../agent/config.ts';
import { createRegistryPart, type RegistryPart } from '../../../cloud/registry/registry-part.ts';
import type { ModelSource } from '../../../cloud/rollout/rollout-controller.ts';
import { createRolloutPart, type RolloutPart } from '../../../cloud/rollout/rollout-part.ts';
import { startTestBroker, type TestBroker } from '../../helpers/aedes-broker.ts';

export interface RolloutStack {
  dir: string;
  broker: TestBroker;
  reg: RegistryPart;
  ro: RolloutPart;
  agents: Agent[];
  close(): Promise<void>;
}

export async function startRolloutStack(o: {
  prefix: string;
  /** files or directories (relative to the stack's dir) of the registry's trusted keys */
  registryKeys: (dir: string) => string[];
  /** the same for the agents */
  agentKeys: (dir: string) => string[];
  /** called with the stack's dir before anything starts (write key files there) */
  prepare?: (dir: string) => void;
  agentIds: string[];
  agentConfig?: Partial<AgentConfigInput>;
  /** a ModelSource in front of the registry (default: the registry over HTTP) */
  models?: (reg: RegistryPart) => ModelSource;
}): Promise<RolloutStack> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix));
  const closers: Array<() => Promise<unknown> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    o.prepare?.(dir);
    const broker = await startTestBroker();
    closers.push(() => broker.close());
    const reg = createRegistryPart({ dataDir: join(dir, 'cloud'), port: 0, trustedKeys: o.registryKeys(dir) });
    await reg.start();
    closers.push(() => reg.close());
    const ro = createRolloutPart(
      {
        dataDir: join(dir, 'cloud'),
        mqtt: { url: broker.url },
        registryUrl: reg.instance.server.url,
        http: { port: 0 },
        tickMs: 50,
        discoveryMs: 100,
      },
      o.models ? { models: o.models(reg) } : {},
    );
    await ro.start();
    closers.push(() => ro.close());
    const agents = o.agentIds.map((id) =>
      createAgent({
        config: {
          deviceId: id,
          dataDir: join(dir, id),
          transport: { kind: 'mqtt', url: broker.url },
          models: { trustedKeys: o.agentKeys(dir), updates: true },
          status: { intervalMs: 200 },
          logLevel: 'silent',
          ...o.agentConfig,
        },
      }),
    );
    closers.push(async () => {
      for (const a of agents) await a.close();
    });
    await Promise.all(agents.map((a) => a.start()));
    return { dir, broker, reg, ro, agents, close };
  } catch (err) {
    await close();
    throw err;
  }
}
