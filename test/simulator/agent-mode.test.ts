/**
 * Agent mode: real edge agents (SQLite outbox, MQTT transport) driven by the simulator; and kill -9 of agents in
 * child processes, restarted on the same outboxes, with nothing accepted lost.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../simulator/run-simulation.ts';

describe('runSimulation (agent mode)', () => {
  it('drives real agents in this process with complete delivery', async () => {
    const r = await runSimulation({ mode: 'agent', devices: 2, durationSec: 2, messageRate: 2, drainTimeoutSec: 20 });
    expect(r.mode).toBe('agent');
    expect(r.throughput.readingsPublished).toBeGreaterThan(2 * 5 * 2);
    expect(r.delivery.expected).toBeGreaterThanOrEqual(r.throughput.readingsPublished);
    expect(r.delivery.complete).toBe(true);
    expect(r.delivery.perDevice.every((d) => d.missing === 0 && d.received > 0)).toBe(true);
  });

  it('loses nothing an agent accepted when it is killed with SIGKILL and restarted', async () => {
    const r = await runSimulation({
      mode: 'agent',
      devices: 1,
      agentsPerProcess: 1,
      durationSec: 3,
      messageRate: 2,
      faults: [{ kind: 'agent-kill', atSec: 1, durationSec: 0.5, share: 1 }],
      drainTimeoutSec: 30,
    });
    const kill = r.faults.find((f) => f.kind === 'agent-kill')!;
    expect(kill.devicesAffected).toBe(1);
    expect(kill.drainMs).not.toBeNull();
    expect(r.delivery.missing).toBe(0);
    expect(r.delivery.complete).toBe(true);
  }, 150_000);
});
