/**
 * npm run bench:warehouse-reports [-- --duration 10 --devices 200 --days 3 --autocannon]
 *
 * The warehouse's named reports over HTTP at 50 concurrent clients (the figure: p95 < 100 ms), against the
 * machine's own limit in the same run: a bare Fastify GET answering a constant. A fleet of `devices` devices on 4
 * sites, one reading every 5 minutes for `days` days, an anomaly every 97th reading and a model rollout halfway, is
 * put through a real LocalStream and RawArchive into Parquet and refreshed into a DuckDB warehouse; the reports
 * server then reads it read-only. Load comes from a second process (wrk when installed, else autocannon), cycling
 * through every report: fleet-health, device-history of each device, model-impact with and without asOf, site-trend
 * of each site and of all.
 * Prints req/s and p50 / p95 / p99 for each, the ratio reports/raw, and whether p95 < 100 ms, through
 * bench/lib/report.ts into bench/results/warehouse-reports.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { ReportsServer } from '../../cloud/warehouse/reports-server.ts';
import { Warehouse } from '../../cloud/warehouse/warehouse.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import { runLoad, wrkInstalled, type LoadResult } from './load/load-generator.ts';
import { BenchReport } from '../lib/report.ts';
import { archiveMessages } from '../../test/helpers/archive-messages.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    devices: { type: 'string', default: '200' },
    days: { type: 'string', default: '3' },
    autocannon: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const nDevices = Number(values.devices);
const nDays = Number(values.days);
const CONNECTIONS = 50;
const work = mkdtempSync(join(tmpdir(), 'edgeloop-bench-wh-'));
const SITES = ['plant-a', 'plant-b', 'plant-c', 'plant-d'];
const STEP = 5 * 60_000;
const start = Math.floor(Date.now() / 86_400_000) * 86_400_000 - nDays * 86_400_000;

/** one device's messages: a status, readings every STEP, anomalies, and the rollout to version 2 halfway */
function device(i: number): DeviceMessage[] {
  const deviceId = `dev-${String(i).padStart(4, '0')}`;
  const out: DeviceMessage[] = [
    {
      v: 1,
      type: 'status',
      deviceId,
      seq: 0,
      ts: start,
      online: true,
      agentVersion: '1.4.0',
      models: [{ name: 'anomaly', version: '1' }],
      site: SITES[i % SITES.length]!,
      hardware: 'rpi4',
    },
  ];
  let seq = 1;
  const end = start + nDays * 86_400_000;
  for (let ts = start, k = 0; ts < end; ts += STEP, k++) {
    out.push({
      v: 1,
      type: 'telemetry',
      deviceId,
      seq,
      sentAt: ts,
      readings: [{ seq, sensor: 'temp', ts, value: 20 + (k % 13) }],
    });
    seq++;
    if ((k + i) % 97 === 0) {
      out.push({
        v: 1,
        type: 'events',
        deviceId,
        seq,
        sentAt: ts + 1000,
        events: [{ seq, ts: ts + 1000, kind: 'anomaly', severity: 'warning', score: 0.9 }],
      });
      seq++;
    }
    if (ts === start + Math.floor(nDays / 2) * 86_400_000) {
      out.push({
        v: 1,
        type: 'model-report',
        deviceId,
        seq,
        ts,
        model: 'anomaly',
        version: '2',
        state: 'active',
        rolloutId: 'r-2',
      });
      seq++;
    }
  }
  return out;
}

async function buildWarehouse(): Promise<string> {
  await archiveMessages(
    work,
    (function* () {
      for (let i = 0; i < nDevices; i++) yield* device(i);
    })(),
  );
  const path = join(work, 'warehouse.duckdb');
  const w = await Warehouse.open({ path, archiveDir: join(work, 'archive'), checks: { maxStalenessMs: null } });
  try {
    const r = await w.refresh();
    console.log(`warehouse: ${r.partitionsLoaded} partitions, ${r.hoursAggregated} hours, ${r.daysAggregated} days`);
  } finally {
    w.close();
  }
  return path;
}

const useWrk = !values.autocannon && wrkInstalled();

/** load from a second process (bench/cloud/load/load-generator.ts) */
function load(url: string, paths: string[]): Promise<LoadResult> {
  return runLoad({ url, paths, connections: CONNECTIONS, durationSec: duration, workDir: work, wrk: useWrk });
}

const report = new BenchReport('warehouse-reports');
console.log(
  `load generator: ${useWrk ? 'wrk' : 'autocannon'} in a second process, ${CONNECTIONS} connections, ${duration}s per run`,
);
console.log(
  `fleet: ${nDevices} devices on ${SITES.length} sites, a reading every ${STEP / 60_000} min for ${nDays} days`,
);
const path = await buildWarehouse();

const raw = Fastify();
raw.get('/v1/reports/fleet-health', async () => ({ report: 'fleet-health', rows: [] }));
await raw.listen({ port: 0, host: '127.0.0.1' });
const rawUrl = `http://127.0.0.1:${(raw.server.address() as { port: number }).port}`;
const server = new ReportsServer({ path });
await server.start();

const asOf = new Date(start + 86_400_000).toISOString();
const paths = [
  '/v1/reports/fleet-health',
  '/v1/reports/model-impact',
  `/v1/reports/model-impact?asOf=${encodeURIComponent(asOf)}`,
  '/v1/reports/site-trend',
  ...SITES.map((s) => `/v1/reports/site-trend?site=${s}&from=${asOf.slice(0, 10)}`),
  ...Array.from(
    { length: Math.min(nDevices, 50) },
    (_, i) => `/v1/reports/device-history/dev-${String(i).padStart(4, '0')}`,
  ),
];

try {
  const r = await load(rawUrl, ['/v1/reports/fleet-health']);
  const s = await load(server.url!, paths);
  console.log(`reports: non-2xx ${s.non2xx}, errors ${s.errors}; raw limit: a bare Fastify GET`);
  report.figure({ label: 'req/s', value: s.rps, unit: 'req/s', raw: r.rps, decimals: 0 });
  for (const p of ['p50', 'p95', 'p99'] as const) {
    const v = s[p];
    if (v === null) continue; // the generator could not tell
    report.figure({
      label: p,
      value: v,
      unit: 'ms',
      raw: r[p] ?? undefined,
      maxDecimals: 2,
      ...(p === 'p95' ? { target: { op: '<', value: 100 } as const } : {}),
    });
  }
  report.figure({ label: 'non-2xx responses', value: s.non2xx, unit: 'responses', decimals: 0 });
  report.write();
} finally {
  await server.close();
  await raw.close();
  rmSync(work, { recursive: true, force: true });
}
