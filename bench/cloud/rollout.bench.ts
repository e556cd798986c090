/**
 * Registry and rollout figures:
 * 1. artifact downloads from RegistryServer (1 MiB model, 8 concurrent clients, full GETs and resumed Range GETs)
 *    against the raw limit: a bare fastify route sending the same bytes from memory, measured in the same run;
 * 2. RolloutMachine.tick() over a fleet of 10 000 devices (gates on) against a bare pass over the same fleet map.
 * Run: npx tsx bench/cloud/rollout.bench.ts (figures through bench/lib/report.ts into bench/results/rollout.json)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { LocalArtifactStore } from '../../cloud/registry/artifact-store.ts';
import { ModelRegistry } from '../../cloud/registry/model-registry.ts';
import { RegistryServer } from '../../cloud/registry/registry-server.ts';
import { RolloutMachine } from '../../cloud/rollout/rollout-machine.ts';
import type { FleetDevice } from '../../cloud/rollout/rollout-state.ts';
import { parseRolloutSpec } from '../../cloud/rollout/rollout-spec.ts';
import { BenchReport } from '../lib/report.ts';

const SIZE = 1024 * 1024;
const CONCURRENCY = 8;
const DURATION_MS = 3000;

async function load(url: string, range: boolean): Promise<number> {
  let bytes = 0;
  const end = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const res = await fetch(url, range ? { headers: { range: `bytes=${SIZE / 2}-` } } : {});
        bytes += (await res.arrayBuffer()).byteLength;
      }
    }),
  );
  return bytes / (DURATION_MS / 1000) / 2 ** 20;
}

async function main(): Promise<void> {
  const report = new BenchReport('rollout');
  const dir = mkdtempSync(join(tmpdir(), 'el-bench-rollout-'));
  const body = randomBytes(SIZE);
  const store = new LocalArtifactStore({ dir: join(dir, 'artifacts') });
  const { sha256 } = await store.put(body);
  const registry = new ModelRegistry({ dbPath: join(dir, 'registry.db'), store, trustedKeys: [] });
  registry.start();
  const server = new RegistryServer({ registry, port: 0 });
  await server.start();
  const raw = Fastify();
  raw.get('/blob', async (_req, reply) => reply.type('application/octet-stream').send(body));
  await raw.listen({ port: 0, host: '127.0.0.1' });
  const rawUrl = `http://127.0.0.1:${(raw.server.address() as AddressInfo).port}/blob`;
  const url = server.artifactUrl(sha256);
  await load(url, false); // warm up
  const rawMb = await load(rawUrl, false);
  const fullMb = await load(url, false);
  const rangeMb = await load(url, true);
  console.log(`artifact downloads, 1 MiB x${CONCURRENCY} clients (raw: bare fastify sending the bytes from memory):`);
  report.figure({
    label: 'artifact GET',
    value: fullMb,
    unit: 'MiB/s',
    raw: rawMb,
    decimals: 0,
  });
  report.figure({ label: 'artifact Range GET', value: rangeMb, unit: 'MiB/s', decimals: 0 });
  await server.close();
  await raw.close();
  registry.close();
  rmSync(dir, { recursive: true, force: true });

  const N = 10_000;
  const fleet = new Map<string, FleetDevice>();
  for (let i = 0; i < N; i++) {
    fleet.set(`dev-${i}`, {
      online: true,
      models: [{ name: 'm', version: '1' }],
      inference: { windows: 500, anomalies: 20, anomalyRate: 0.04, p50Ms: 0.1, p95Ms: 0.2, p99Ms: 0.3 },
      lastSeen: 0,
    });
  }
  const spec = parseRolloutSpec({
    model: 'm',
    version: '2',
    stages: '10%,50%,100%',
    bake: '10m',
    gates: ['anomaly_rate<=2x', 'p95_inference_ms<=1.5x'],
  });
  const m = RolloutMachine.create({
    id: 'b',
    spec,
    target: { version: '2', artifactUrl: 'u', manifest: {} },
    previous: null,
    now: 0,
  });
  m.tick(0, fleet); // assigns stage 1 (1000 devices)
  for (const id of Object.keys(m.state.devices)) fleet.get(id)!.models = [{ name: 'm', version: '2' }];
  const ticks = 50;
  let t0 = performance.now();
  for (let i = 1; i <= ticks; i++) m.tick(i, fleet);
  const tickMs = (performance.now() - t0) / ticks;
  t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < ticks; i++) for (const [, fd] of fleet) sink += fd.inference!.anomalyRate;
  const passMs = (performance.now() - t0) / ticks;
  // the bare pass must use what it read, or it could be optimised away
  if (sink <= 0) console.log('the bare pass read nothing');
  console.log(`RolloutMachine.tick over ${N} devices, 1000 in the cohort, 2 gates (raw: a bare pass over the fleet):`);
  report.figure({
    label: 'RolloutMachine.tick()',
    value: tickMs,
    unit: 'ms',
    raw: passMs,
    decimals: 2,
  });
  report.write();
}

await main();
