import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { createAgent, type Agent } from '../../agent/create-agent.ts';
import type { AgentConfigInput } from '../../agent/config.ts';
import { collect, readingsOf } from './helpers/mqtt-collector.ts';
import { writeTestModel } from './helpers/test-model.ts';
import { tempDir } from './helpers/temp-dir.ts';

function config(url: string, dir: string, extra: Partial<AgentConfigInput> = {}): AgentConfigInput {
  return {
    deviceId: 'dev-1',
    dataDir: dir,
    transport: { kind: 'mqtt', url, reconnect: { minMs: 20, maxMs: 200 } },
    outbox: { batchLingerMs: 10, intakeLingerMs: 2 },
    ...extra,
  };
}

async function started(cfg: AgentConfigInput): Promise<Agent> {
  const agent = createAgent({ config: cfg });
  onTestFinished(() => agent.close(0));
  await agent.start();
  return agent;
}

const T = (prefix = 'edgeloop/v1/dev-1') => [`${prefix}/telemetry`, `${prefix}/events`, `${prefix}/status`];

describe('agent end to end (aedes)', () => {
  it('accepted readings arrive with increasing seq; anomalies go out as events with context; status is retained', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    writeTestModel(join(dir, 'models', 'anomaly'), { threshold: 10, length: 4 });
    const sub = await collect(broker.url, T());
    const agent = await started(
      config(broker.url, dir, { models: { initial: [join(dir, 'models', 'anomaly')] }, inference: { cooldownMs: 0 } }),
    );
    expect(agent.inference!.active('anomaly')?.manifest.version).toBe('1.0.0');
    const readings = [];
    for (let t = 0; t < 50; t++) {
      readings.push({ sensor: 'temperature', ts: 1000 + t, value: t === 30 ? 99 : 1 });
      readings.push({ sensor: 'vibration', ts: 1000 + t, value: 0.5 });
    }
    const range = await agent.ingest(readings);
    expect(range).toEqual({ firstSeq: 1, lastSeq: 100 });
    const eventsOf = (ms: typeof sub.messages) =>
      ms.filter((m) => m.body.type === 'events').flatMap((m) => m.body.events as Array<Record<string, unknown>>);
    // the events may come in more than one message: wait for all of them (and then see that no fifth arrives)
    await sub.waitFor((m) => readingsOf(m).length >= 100 && eventsOf(m).length >= 4);
    await agent.publisher!.flush(5_000);
    const got = readingsOf(sub.messages);
    expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(got[0]).toEqual({ seq: 1, sensor: 'temperature', ts: 1000, value: 1 });
    const events = eventsOf(sub.messages);
    // the spike at t=30 is in 4 windows (length 4, stride 1)
    expect(events).toHaveLength(4);
    expect(events[0]).toMatchObject({
      seq: 101,
      kind: 'anomaly',
      severity: 'critical',
      model: { name: 'anomaly', version: '1.0.0' },
      score: 99,
      threshold: 10,
      sensors: ['temperature', 'vibration'],
      window: { start: 1027, end: 1030 },
      context: { last: { temperature: 99, vibration: 0.5 }, max: { temperature: 99 } },
    });
    expect(agent.inference!.stats('anomaly')).toMatchObject({ windows: 47, anomalies: 4 });
    await agent.close();
    const status = sub.messages.filter((m) => m.topic.endsWith('/status'));
    expect(status.length).toBeGreaterThanOrEqual(1);
    const last = status.at(-1)!.body;
    expect(last).toMatchObject({
      type: 'status',
      online: false,
      seq: 104,
      outbox: { depth: 0 },
      models: [{ name: 'anomaly', version: '1.0.0' }],
    });
  });

  it('broker down: the outbox grows, then drains in seq order after reconnect, nothing lost', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const sub = await collect(broker.url, T());
    const agent = await started(
      config(broker.url, dir, { outbox: { batchMaxRecords: 100, batchLingerMs: 5, intakeLingerMs: 1 } }),
    );
    await agent.ingest([{ sensor: 's', ts: 1, value: 0 }]);
    await sub.waitFor((m) => readingsOf(m).length === 1);
    await sub.close();
    await broker.stop();
    // wait until the agent noticed
    await new Promise<void>((r) => (agent.transport!.connected ? agent.transport!.on('offline', () => r()) : r()));
    for (let i = 1; i <= 20; i++)
      await agent.ingest(Array.from({ length: 50 }, (_, j) => ({ sensor: 's', ts: i, value: i * 100 + j })));
    expect(agent.outbox.telemetryCount).toBe(1000);
    expect(agent.status().outbox!.depth).toBe(1000);
    await broker.restart();
    const sub2 = await collect(broker.url, T());
    await sub2.waitFor((m) => new Set(readingsOf(m).map((r) => r.seq)).size >= 1000);
    const seqs = readingsOf(sub2.messages).map((r) => r.seq);
    expect([...new Set(seqs)]).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2)); // in order
    await new Promise<void>((r) => {
      const check = (): void => (agent.outbox.telemetryCount === 0 ? r() : void setTimeout(check, 20));
      check();
    });
  });

  it('disk budget exceeded while offline: oldest telemetry dropped exactly and counted, events kept and sent', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    writeTestModel(join(dir, 'models'), { sensors: ['a', 'b'], length: 2, threshold: 10 });
    await broker.stop();
    const per = 48 + 1;
    const agent = await started(
      config(broker.url, dir, {
        models: { initial: [join(dir, 'models')] },
        inference: { cooldownMs: 0 },
        outbox: { maxBytes: per * 200, batchLingerMs: 5 },
      }),
    );
    let accepted = 0;
    for (let t0 = 0; t0 < 500; t0 += 25) {
      const chunk = [];
      for (let t = t0; t < t0 + 25; t++)
        chunk.push({ sensor: 'a', ts: t, value: t === 400 ? 50 : 1 }, { sensor: 'b', ts: t, value: 1 });
      await agent.ingest(chunk);
      accepted += chunk.length;
    }
    await agent.inference!.idle();
    const st = agent.status();
    expect(st.outbox!.bytes).toBeLessThanOrEqual(per * 200);
    const events = agent.outbox.eventCount;
    expect(events).toBe(2); // the spike is in 2 windows of length 2
    const kept = agent.outbox.telemetryCount;
    expect(st.drops!.telemetry).toBe(accepted - kept);
    expect(st.drops!.events).toBe(0);
    await broker.restart();
    const sub = await collect(broker.url, T());
    await sub.waitFor((m) => readingsOf(m).length >= kept && m.filter((x) => x.body.type === 'events').length >= 1);
    const seqs = readingsOf(sub.messages).map((r) => r.seq);
    // exactly the newest `kept` readings arrive (events took seqs among them)
    const lastSeq = agent.outbox.lastSeq;
    const eventSeqs = sub.messages
      .filter((x) => x.body.type === 'events')
      .flatMap((x) => (x.body.events as Array<{ seq: number }>).map((e) => e.seq));
    expect(eventSeqs).toHaveLength(2);
    const expected = [];
    for (let q = lastSeq; expected.length < kept; q--) if (!eventSeqs.includes(q)) expected.unshift(q);
    expect(seqs).toEqual(expected);
  });

  it('leaves no handles behind after close()', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    writeTestModel(join(dir, 'models'), {});
    const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    const agent = createAgent({
      config: config(broker.url, dir, {
        models: { initial: [join(dir, 'models')] },
        sources: {
          http: { port: 0 },
          socket: { path: join(dir, 'agent.sock') },
          simulated: { sensors: [{ name: 'temperature' }, { name: 'vibration' }], rateHz: 200 },
        },
        health: { port: 0 },
      }),
    });
    await agent.start();
    await new Promise<void>((r) => (agent.transport!.connected ? r() : agent.transport!.on('connect', () => r())));
    await agent.ingest([{ sensor: 'temperature', ts: 1, value: 1 }]);
    await agent.close();
    await agent.close(); // idempotent
    await expect(agent.ingest([{ sensor: 'x', ts: 1, value: 1 }])).rejects.toMatchObject({
      code: 'EL_ERR_AGENT_STOPPING',
    });
    // let sockets finish closing
    await new Promise((r) => setImmediate(r));
    const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    const count = (xs: string[]) => xs.reduce<Record<string, number>>((a, x) => ((a[x] = (a[x] ?? 0) + 1), a), {});
    const b = count(before);
    const leaked = Object.entries(count(after)).filter(([k, n]) => n > (b[k] ?? 0) && k !== 'Immediate');
    expect(leaked).toEqual([]);
  });
});

describe('agent end to end (mosquitto)', () => {
  it('publishes telemetry through mosquitto', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const sub = await collect(broker.url, T());
    const agent = await started(config(broker.url, dir));
    await agent.ingest(Array.from({ length: 300 }, (_, i) => ({ sensor: 'p', ts: i, value: i })));
    await sub.waitFor((m) => readingsOf(m).length >= 300);
    expect(readingsOf(sub.messages).map((r) => r.value)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
