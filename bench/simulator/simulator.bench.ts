/**
 * Simulator benchmark: the load generator's own cost.
 *   1. light mode: N devices (default 10,000), one TCP connection and one message per second each, against
 *      mosquitto in its own process; the simulator's CPU (process.cpuUsage) over the steady state, and what an
 *      observer in another process received (delivery, latency).
 *   2. agent mode: M real agents (default 200) in this process (SQLite outbox, MQTT transport each): start time,
 *      CPU and delivery.
 *   3. the raw limit, measured in the same run: one lean MQTT connection publishing QoS 1 as fast as it can
 *      (messages per second and per CPU-second of this process).
 *
 *   npx tsx bench/simulator/simulator.bench.ts [--devices 10000] [--seconds 30] [--agents 200] [--skip-agents]
 *
 * Figures through bench/lib/report.ts into bench/results/simulator.json.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runSimulation } from '../../simulator/run-simulation.ts';
import { LeanMqttClient } from '../../simulator/light/lean-mqtt-client.ts';
import { BenchReport } from '../lib/report.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '30' },
    agents: { type: 'string', default: '200' },
    'agent-seconds': { type: 'string', default: '20' },
    'skip-agents': { type: 'boolean', default: false },
    'skip-light': { type: 'boolean', default: false },
    rate: { type: 'string', default: '1' },
    'no-observer': { type: 'boolean', default: false },
  },
});
const DEVICES = Number(values.devices);
const SECONDS = Number(values.seconds);
const AGENTS = Number(values.agents);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function startMosquitto(
  dir: string,
): Promise<{ url: string; port: number; child: ChildProcess; cpuSec: () => number }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  // max_queued_messages 0: never drop QoS 1 messages for a slow subscriber (DESIGN.md, measured limits)
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\npersistence false\nlog_type error\n`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    try {
      const c = new LeanMqttClient({ host: '127.0.0.1', port, clientId: 'probe', reconnect: false });
      await c.connect();
      await c.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const cpuSec = (): number => {
    try {
      const stat = execSync(`cat /proc/${child.pid}/stat`).toString().split(' ');
      return (Number(stat[13]) + Number(stat[14])) / 100;
    } catch {
      return Number.NaN;
    }
  };
  return { url: `mqtt://127.0.0.1:${port}`, port, child, cpuSec };
}

/** The observer runs in its own process so its cost is not the simulator's. */
function startObserver(url: string): {
  child: ChildProcess;
  result: Promise<Record<string, unknown>>;
  ready: Promise<void>;
} {
  const code = `
    import { FleetObserver } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'simulator', 'fleet-observer.ts'))};
    const o = new FleetObserver({ url: ${JSON.stringify(url)}, clientId: 'bench-observer' });
    await o.start();
    process.send({ ready: true });
    process.on('message', async () => {
      let gaps = 0; let devices = 0;
      const s = o.latency.summary();
      process.send({ received: o.delivery.received, duplicates: o.delivery.duplicates, devices: o.delivery.devicesSeen, latency: s, cpu: process.cpuUsage() });
      await o.close();
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const result = new Promise<Record<string, unknown>>((resolve) => {
    child.on('message', (m: Record<string, unknown>) => (m.ready ? readyResolve() : resolve(m)));
  });
  return { child, result, ready };
}

async function rawLimit(port: number): Promise<{ msgsPerSec: number; msgsPerCpuSec: number }> {
  let acked = 0;
  const c = new LeanMqttClient({
    host: '127.0.0.1',
    port,
    clientId: 'raw',
    maxInflight: 256,
    maxQueued: 1_000_000,
    onAck: () => acked++,
  });
  await c.connect();
  const payload = Buffer.alloc(200, 'x');
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  while (Date.now() - t0 < 3000) {
    if (c.backlog < 5000) for (let i = 0; i < 1000; i++) c.publish('raw/t', payload);
    await new Promise((r) => setImmediate(r));
  }
  const el = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await c.close();
  return { msgsPerSec: acked / el, msgsPerCpuSec: acked / ((cpu.user + cpu.system) / 1e6) };
}

const dir = mkdtempSync(join(tmpdir(), 'el-bench-sim-'));
const report = new BenchReport('simulator');
console.log(`free memory ${(freemem() / 2 ** 30).toFixed(1)} GiB`);
const mq = await startMosquitto(dir);
try {
  const raw = await rawLimit(mq.port);
  console.log(
    `raw limit: one lean connection, QoS 1, 200 B: ${raw.msgsPerSec.toFixed(0)} msgs/s, ${raw.msgsPerCpuSec.toFixed(0)} msgs per CPU-second of the publisher`,
  );
  const light = (label: string, value: number, unit: string, decimals: number, rawValue?: number) =>
    report.figure({ config: 'light', label, value, unit, decimals, raw: rawValue });
  const agents = (label: string, value: number, unit: string, decimals: number) =>
    report.figure({ config: 'agents', label, value, unit, decimals });

  if (!values['skip-light']) {
    const RATE = Number(values.rate);
    const obs = values['no-observer'] ? undefined : startObserver(mq.url);
    await obs?.ready;
    const mq0 = mq.cpuSec();
    let steadyCpu: NodeJS.CpuUsage | undefined;
    let steadyT = 0;
    let steady: { cores: number; msgs: number } | undefined;
    let pubAtSteady = 0;
    let lastPub = 0;
    const r = await runSimulation(
      {
        devices: DEVICES,
        durationSec: SECONDS,
        messageRate: RATE,
        url: mq.url,
        observe: false,
        connectRatePerSec: 2000,
        drainTimeoutSec: 30,
      },
      {
        onProgress: (p) => {
          lastPub += p.msgsPerSec;
          if (p.phase === 'running' && !steadyCpu && p.elapsedSec >= 5) {
            steadyCpu = process.cpuUsage();
            steadyT = Date.now();
            pubAtSteady = lastPub;
          } else if (p.phase === 'running' && steadyCpu && p.elapsedSec >= SECONDS - 1 && !steady) {
            const c = process.cpuUsage(steadyCpu);
            const el = (Date.now() - steadyT) / 1000;
            steady = { cores: (c.user + c.system) / 1e6 / el, msgs: (lastPub - pubAtSteady) / el };
          }
        },
      },
    );
    // let the observer drain: wait until it stops receiving
    await new Promise((res) => setTimeout(res, 3000));
    obs?.child.send('done');
    const o = obs ? await obs.result : { received: 'n/a', duplicates: 'n/a', latency: 'n/a' };
    const mqCores = (mq.cpuSec() - mq0) / (SECONDS + r.connect.timeToAllConnectedMs / 1000);
    console.log(
      `light mode: ${DEVICES} devices at ${RATE} msg/s each, ${r.fleet.connections} connections, connected in ${r.connect.timeToAllConnectedMs} ms`,
    );
    console.log(
      `  published ${r.throughput.messagesPublished} msgs (${r.throughput.messagesPerSec.toFixed(0)} msgs/s, ${r.throughput.readingsPerSec.toFixed(0)} readings/s), acked ${r.throughput.messagesAcked}`,
    );
    console.log(
      `  simulator CPU in steady state: ${steady ? steady.cores.toFixed(3) : 'n/a'} cores at ${steady ? steady.msgs.toFixed(0) : 'n/a'} msgs/s; whole run ${r.cpu.cores.toFixed(3)} cores; rss ${r.memory.rssMiB.toFixed(0)} MiB`,
    );
    console.log(
      `  schedule: ${r.schedule.lateSends} sends late by >= 1 period, ${r.schedule.skippedSends} skipped (simulator starved of CPU)`,
    );
    console.log(`  mosquitto CPU: ${mqCores.toFixed(2)} cores`);
    console.log(
      `  observer (separate process): received ${o.received} of ${r.throughput.readingsPublished} readings, ${o.duplicates} duplicates, latency ${JSON.stringify(o.latency)}`,
    );
    light('devices', DEVICES, 'devices', 0);
    report.figure({ config: 'light', label: 'rate', value: RATE, unit: 'msg/s each', maxDecimals: 2 });
    light('connections up', r.connect.timeToAllConnectedMs / 1000, 's', 1);
    if (steady) {
      light('msgs/s, steady state', steady.msgs, 'msgs/s', 0);
      light('CPU, steady state', steady.cores, 'cores', 3);
    }
    light('readings/s', r.throughput.readingsPerSec, 'readings/s', 0);
    light('CPU, whole run', r.cpu.cores, 'cores', 3);
    if (steady) {
      light('CPU per message', (steady.cores / steady.msgs) * 1e6, 'µs', 0);
      light('msgs per CPU-second', steady.msgs / steady.cores, 'msgs per CPU-second', 0, raw.msgsPerCpuSec);
    }
    light('sends skipped', r.schedule.skippedSends, 'sends', 0);
    light('sends late', (r.schedule.lateSends / Math.max(1, r.throughput.messagesPublished)) * 100, '%', 0);
    light('mosquitto CPU', mqCores, 'cores', 2);
    light('RSS', r.memory.rssMiB, 'MiB', 0);
    if (steady)
      console.log(
        `FIGURE light: ${DEVICES} devices x ${RATE} msg/s = ${steady.msgs.toFixed(0)} msgs/s using ${steady.cores.toFixed(3)} cores (target <= 1), ${((steady.cores / steady.msgs) * 1e6).toFixed(0)} CPU-us per message => ${((steady.cores / steady.msgs) * DEVICES).toFixed(2)} cores at ${DEVICES} msgs/s; raw ${raw.msgsPerCpuSec.toFixed(0)} msgs/CPU-s (${(1e6 / raw.msgsPerCpuSec).toFixed(0)} us/msg) => ${((steady.msgs / steady.cores / raw.msgsPerCpuSec) * 100).toFixed(0)} % of raw efficiency; late ${r.schedule.lateSends}, skipped ${r.schedule.skippedSends}`,
      );
  }

  if (!values['skip-agents']) {
    const obs = startObserver(mq.url);
    await obs.ready;
    const t0 = Date.now();
    const r = await runSimulation({
      mode: 'agent',
      devices: AGENTS,
      durationSec: Number(values['agent-seconds']),
      url: mq.url,
      drainTimeoutSec: 30,
      observe: true,
    });
    obs.child.send('done');
    await obs.result;
    console.log(
      `agent mode: ${AGENTS} agents in one process (SQLite outbox + MQTT each), started and connected in ${r.connect.timeToAllConnectedMs} ms`,
    );
    console.log(
      `  ${r.throughput.readingsPerSec.toFixed(0)} readings/s accepted, ${r.throughput.messagesPerSec.toFixed(0)} msgs/s published; delivery ${r.delivery.received}/${r.delivery.expected} (${r.delivery.complete ? 'complete' : `${r.delivery.missing} missing`}), p50 ${r.latency.deviceToBroker.p50} ms p99 ${r.latency.deviceToBroker.p99} ms`,
    );
    console.log(
      `  CPU ${r.cpu.cores.toFixed(3)} cores (incl. in-process observer), rss ${r.memory.rssMiB.toFixed(0)} MiB, wall ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    agents('agents', AGENTS, 'agents', 0);
    agents('connected', r.connect.timeToAllConnectedMs / 1000, 's', 1);
    agents('readings/s', r.throughput.readingsPerSec, 'readings/s', 0);
    agents('delivered', r.delivery.received, 'readings', 0);
    agents('expected', r.delivery.expected, 'readings', 0);
    agents('latency p50', r.latency.deviceToBroker.p50, 'ms', 0);
    agents('latency p99', r.latency.deviceToBroker.p99, 'ms', 0);
    agents('CPU', r.cpu.cores, 'cores', 2);
    agents('RSS', r.memory.rssMiB, 'MiB', 0);
    console.log(
      `FIGURE agents: ${AGENTS} agents in one process, delivery ${r.delivery.complete ? 'complete' : 'INCOMPLETE'}, ${r.cpu.cores.toFixed(2)} cores`,
    );
  }
  report.write();
} finally {
  mq.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
