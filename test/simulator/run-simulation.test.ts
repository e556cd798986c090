import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { runSimulation } from '../../simulator/run-simulation.ts';
import { renderHtmlReport } from '../../simulator/report/html-report.ts';
import { reportToJson, summarize } from '../../simulator/report/sim-report.ts';

describe('runSimulation (light mode, loopback)', () => {
  it('loses nothing through a broker restart and a network partition', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const progress: number[] = [];
    const r = await runSimulation(
      {
        devices: 20,
        durationSec: 5,
        messageRate: 2,
        seed: 3,
        faults: [
          { kind: 'broker-restart', atSec: 1, durationSec: 1 },
          { kind: 'partition', atSec: 3, durationSec: 1.5, share: 0.3, style: 'block' },
          { kind: 'spike', atSec: 2, device: 4, sensor: 'torque' },
          { kind: 'tool-wear', atSec: 2.5, device: 'sim-0007' },
        ],
        drainTimeoutSec: 20,
        reconnect: { minMs: 50, maxMs: 500 },
      },
      {
        broker: { url: broker.url, stop: broker.stop, restart: broker.restart },
        onProgress: (p) => progress.push(p.connectedDevices),
      },
    );
    expect(r.fleet.devices).toBe(20);
    expect(r.throughput.messagesPublished).toBeGreaterThan(150);
    expect(r.delivery.expected).toBe(r.throughput.readingsPublished);
    expect(r.delivery.missing).toBe(0);
    expect(r.delivery.complete).toBe(true);
    expect(r.delivery.received).toBe(r.delivery.expected);
    expect(r.delivery.perDevice).toHaveLength(20);
    // both faults really happened: devices were disconnected and came back
    expect(r.faults.map((f) => f.kind)).toEqual(['broker-restart', 'partition']);
    expect(r.faults[1]!.devicesAffected).toBe(6);
    for (const f of r.faults) expect(f.drainMs).not.toBeNull();
    expect(r.connect.connects).toBeGreaterThan(20 + 6);
    expect(Math.min(...progress)).toBeLessThan(20);
    // ground truth of the data faults, on the run's clock
    expect(r.groundTruth.map((f) => [f.deviceId, f.kind, f.action])).toEqual([
      ['sim-0005', 'spike', null],
      ['sim-0007', 'tool-wear', 'replace tool'],
    ]);
    expect(r.latency.deviceToBroker.count).toBe(r.delivery.received);
    const html = renderHtmlReport(r);
    expect(html).toContain('<svg');
    expect(html).toContain('broker-restart');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    // light mode raises no events: a precision with nothing to divide reads "n/a", never "n/a%"
    expect(html).not.toMatch(/n\/a\s*%/);
    expect(JSON.parse(reportToJson(r)).delivery.complete).toBe(true);
    expect(summarize(r)).toMatch(/delivery +\d+\/\d+ readings \(complete\)/);
  });

  it('recovers from a connect storm under a rate limit, a blackhole partition and a slow consumer', async () => {
    const r = await runSimulation({
      devices: 40,
      durationSec: 5,
      connections: 40,
      faults: [
        { kind: 'connect-storm', atSec: 0.5, durationSec: 1, maxConnectsPerSec: 20 },
        { kind: 'partition', atSec: 2, durationSec: 1, share: 0.25, style: 'blackhole' },
        { kind: 'slow-consumer', atSec: 3, durationSec: 1 },
      ],
      drainTimeoutSec: 20,
      reconnect: { minMs: 50, maxMs: 1000 },
    });
    const storm = r.faults.find((f) => f.kind === 'connect-storm')!;
    expect(storm.reconnectMs).not.toBeNull();
    expect(storm.refusedConnects).toBeGreaterThan(0);
    expect(r.delivery.complete).toBe(true);
    expect(r.delivery.missing).toBe(0);
  });

  it('multiplexes devices over fewer connections and validates options', async () => {
    const r = await runSimulation({
      devices: 20,
      connections: 4,
      durationSec: 1.5,
      messageRate: 4,
      samplesPerMessage: 3,
    });
    expect(r.fleet.connections).toBe(4);
    expect(r.delivery.complete).toBe(true);
    // 5 sensors x 3 samples per message
    expect(r.throughput.readingsPublished).toBe(r.throughput.messagesPublished * 15);
    await expect(runSimulation({ devices: 2, connections: 5 })).rejects.toMatchObject({ code: 'EL_ERR_SIM_OPTIONS' });
    await expect(runSimulation({ devices: 2, bogus: 1 } as never)).rejects.toThrow(/Unrecognized key.*bogus|bogus/);
    await expect(runSimulation({ durationSec: 2, faults: [{ kind: 'spike', atSec: 5 }] })).rejects.toThrow(
      /starts after the run ends/,
    );
    await expect(
      runSimulation({ mode: 'light', durationSec: 1, faults: [{ kind: 'agent-kill', atSec: 0.5 }] }),
    ).rejects.toThrow(/agent-kill needs mode "agent"/);
  });
});
