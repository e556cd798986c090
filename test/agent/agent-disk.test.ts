/**
 * The agent on a full volume (a real tmpfs): readings are refused over HTTP with 507 EL_ERR_OUTBOX_FULL and
 * counted, a restart while the volume is full works, once the broker is back every accepted reading is delivered
 * and deleted (acks succeed), intake resumes, and nothing is thrown or left unhandled along the way.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent, type Agent } from '../../agent/create-agent.ts';
import type { AgentConfigInput } from '../../agent/config.ts';
import type { HttpSource } from '../../agent/sources/http-source.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { collect, readingsOf } from './helpers/mqtt-collector.ts';
import { canMountTmpfs, fillVolume, freeBytes, smallVolume } from './helpers/small-volume.ts';

const MiB = 1024 * 1024;

async function startAgent(
  config: AgentConfigInput,
): Promise<{ agent: Agent; post: (ids: number[]) => Promise<Response> }> {
  const agent = createAgent({ config });
  onTestFinished(() => agent.close(0));
  await agent.start();
  const http = agent.sources.find((s) => s.name === 'http') as HttpSource;
  const post = (ids: number[]) =>
    fetch(`${http.url}/v1/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ids.map((id) => JSON.stringify({ sensor: 'vibration', ts: 1_000 + id, value: id })).join('\n'),
    });
  return { agent, post };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe.skipIf(!canMountTmpfs)('agent on a full volume (tmpfs)', () => {
  it('refuses with 507 EL_ERR_OUTBOX_FULL (counted), restarts while full, drains every accepted reading once the broker is back', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    onTestFinished(() => void process.off('unhandledRejection', onUnhandled));

    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const sub = await collect(broker.url, ['edgeloop/v1/disk-dev/telemetry'], { persistent: true });
    await broker.stop(); // the outage: readings pile up in the outbox
    const dir = smallVolume(16 * MiB);
    const config: AgentConfigInput = {
      deviceId: 'disk-dev',
      dataDir: dir,
      transport: { kind: 'mqtt', url: broker.url, reconnect: { minMs: 20, maxMs: 100 } },
      outbox: { minFreeBytes: 256 * 1024, reserveBytes: MiB, batchLingerMs: 5, intakeLingerMs: 1 },
      inference: { enabled: false },
      sources: { http: { port: 0 } },
      health: { port: 0 },
    };
    let { agent, post } = await startAgent(config);
    const accepted: number[] = [];
    for (let i = 0; i < 40; i++) {
      const ids = range(i * 1000, 1000);
      expect((await post(ids)).status).toBe(202);
      accepted.push(...ids);
    }
    fillVolume(dir);
    expect(freeBytes(dir)).toBe(0);

    let res = await post(range(100_000, 500));
    expect(res.status).toBe(507);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ code: 'EL_ERR_OUTBOX_FULL', accepted: 0 });
    expect(agent.counters.refused).toBe(500);
    expect(agent.outbox.stats().refused).toBe(500);
    const metrics = await (await fetch(`http://127.0.0.1:${agent.healthPort}/metrics`)).text();
    expect(metrics).toMatch(/^edgeloop_agent_readings_refused_total 500$/m);

    // restart while the volume is full: starts, keeps the backlog, refuses the same way
    await agent.close(0);
    ({ agent, post } = await startAgent(config));
    expect(agent.outbox.telemetryCount).toBe(40_000);
    res = await post(range(200_000, 500));
    expect(res.status).toBe(507);
    // refusals on a full volume are counted in memory and stored with the next write that succeeds
    expect(agent.outbox.stats().refused).toBe(500);

    // the broker is back: every accepted reading is delivered and its rows deleted
    await broker.restart();
    expect(await agent.publisher!.flush(30_000)).toBe(true);
    await sub.waitFor((m) => new Set(readingsOf(m).map((r) => r.value)).size >= accepted.length, 30_000);
    expect(new Set(readingsOf(sub.messages).map((r) => r.value))).toEqual(new Set(accepted));
    expect(agent.outbox.telemetryCount).toBe(0);
    await agent.close(0);
    ({ agent, post } = await startAgent(config));
    expect(agent.outbox.stats().refused).toBe(500); // stored with the first delete

    // the delivered rows left room in the file: intake resumes
    res = await post(range(300_000, 100));
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
    expect(await agent.publisher!.flush(10_000)).toBe(true);
    expect(agent.lastError ?? '').not.toMatch(/SQLITE/);
    expect(unhandled).toEqual([]);
  });
});
