/**
 * The layout of each generated table of docs/benchmarks.md, by result name: which figures (label and configuration,
 * as each bench records them through bench/lib/report.ts) stand in which row and column. A result without a layout
 * here gets the default table (one row per figure: value, raw limit, ratio).
 */
import type { TableLayout } from './docs-tables.ts';

/** value, raw limit and the ratio between them, one row per figure; only the value is ever bold */
const valueRawRatio = (raw: string, ratio: 'ratio' | 'percent' = 'ratio') =>
  [
    { title: 'value' },
    { title: raw, field: 'raw', bold: false },
    { title: ratio === 'ratio' ? 'ratio' : 'of the raw limit', field: ratio, bold: false },
  ] as const;

const AGENT_CONFIGS = [
  { title: 'aedes, device profile', config: 'aedes, device profile' },
  { title: 'mosquitto, device profile', config: 'mosquitto, device profile' },
  // the comparison run: not what the targets are about
  { title: 'aedes, Node defaults', config: 'aedes, Node defaults', bold: false, target: false },
];

export const TABLE_LAYOUTS: Readonly<Record<string, TableLayout>> = {
  agent: {
    head: 'figure',
    columns: AGENT_CONFIGS,
    rows: [
      {
        title: 'readings/s end to end, inference on every window',
        label: 'readings/s',
        unit: false,
        bold: true,
        target: true,
      },
      { title: 'CPU per reading (agent process, ORT included)', label: 'CPU per reading' },
      { title: '**peak RSS (VmHWM)**', label: 'peak RSS', bold: true, target: true },
      { title: 'RSS once started, before the first reading', label: 'RSS once started' },
      {
        title: 'at the peak: V8 heap / external / native rest',
        label: ['V8 heap at the peak', 'external at the peak', 'native rest at the peak'],
      },
      { title: 'windows scored / messages', label: ['windows scored', 'messages'], unit: false },
      { title: 'readings per message', label: 'readings per message', unit: false },
      {
        title: 'disk bytes per reading (write_bytes / wchar)',
        label: ['disk bytes per reading, write_bytes', 'disk bytes per reading, wchar'],
        unit: false,
      },
      { title: 'ratio to raw SQLite insert (same run)', label: 'readings/s', field: 'percent' },
    ],
  },
  pipeline: {
    head: 'figure',
    columns: valueRawRatio('raw broker limit (aedes alone), same run', 'percent'),
    rows: [
      { title: 'closed loop, end to end', label: 'end to end', config: 'closed loop', bold: true },
      { title: 'raw broker limit (aedes alone), messages', label: 'raw broker limit, messages' },
      { title: 'paced at', label: 'paced at', config: 'paced' },
      { title: 'paced: delivered end to end', label: 'end to end', config: 'paced' },
      {
        title: 'paced: latency device time → feature write, p50 / p95 / p99',
        label: ['latency p50', 'latency p95', 'latency p99'],
        config: 'paced',
      },
      { title: 'KinesisStream (kinesalite), closed loop, end to end', label: 'end to end', config: 'kinesis' },
      { title: 'raw kinesalite limit (PutRecords, 4 in flight)', label: 'raw kinesalite limit' },
    ],
  },
  'stream-features': {
    head: 'stage',
    columns: valueRawRatio('raw limit (better-sqlite3, same rows), same run'),
    rows: [
      { title: 'LocalStream.put, 500 records per put, synchronous NORMAL', label: 'LocalStream.put, NORMAL' },
      { title: 'LocalStream.put, 500 records per put, synchronous FULL', label: 'LocalStream.put, FULL' },
      { title: 'Processor drain (LocalStream → aggregation → SqliteFeatureStore)', label: 'drain, messages' },
      { title: 'same, readings', label: 'drain, readings', bold: true },
      { title: 'same, feature writes', label: 'drain, feature writes' },
      { title: 'live: producer 500 messages / 50 ms, processor running', label: 'live, producer' },
      { title: 'live: device time → feature write p50 / p99', label: ['live lag p50', 'live lag p99'] },
    ],
  },
  recommend: {
    head: 'concurrency',
    columns: [
      { title: 'raw req/s', label: 'req/s', field: 'raw', unit: false },
      { title: 'raw p50 / p99 ms', label: ['p50', 'p99'], field: 'raw', unit: false },
      { title: 'service req/s', label: 'req/s', unit: false },
      { title: 'service p50 / p99 ms', label: ['p50', 'p99'], unit: false },
      { title: 'service / raw', label: 'req/s', field: 'percent' },
    ],
    rows: [
      { title: '2', config: 'concurrency 2' },
      { title: '50', config: 'concurrency 50' },
    ],
  },
  maintenance: {
    head: 'figure',
    columns: [
      { title: 'maintenance: `observe()` → prediction served' },
      { title: 'raw limit: `OrtModelRunner.run`, same run', field: 'raw' },
      { title: 'ratio', field: 'ratio' },
    ],
    rows: [
      { title: 'one device, one window: p50 / p95 / p99', label: ['p50', 'p95', 'p99'] },
      { title: '256 devices per tick', label: '256 devices per tick' },
    ],
  },
  'warehouse-reports': {
    head: 'clients',
    columns: [
      { title: 'raw req/s', label: 'req/s', field: 'raw', unit: false },
      { title: 'raw p50 / p95 ms', label: ['p50', 'p95'], field: 'raw', unit: false },
      { title: 'reports req/s', label: 'req/s', unit: false },
      { title: 'reports p50 / p95 / p99 ms', label: ['p50', 'p95', 'p99'], unit: false },
      { title: 'reports / raw', label: 'req/s', field: 'percent', decimals: 1 },
      { title: 'p95 < 100 ms', label: 'p95', field: 'met' },
    ],
    rows: [{ title: '50' }],
  },
  rollout: {
    head: 'figure',
    columns: valueRawRatio('raw limit, same run'),
    rows: [
      {
        title: 'artifact GET, 1 MiB × 8 clients (raw: a bare fastify route sending the bytes from memory)',
        label: 'artifact GET',
        bold: true,
      },
      { title: 'artifact Range GET of the second half (body)', label: 'artifact Range GET' },
      {
        title:
          '`RolloutMachine.tick()`, 10,000 devices, 1,000 in the cohort, 2 gates (raw: a bare pass over the fleet)',
        label: 'RolloutMachine.tick()',
        bold: true,
      },
    ],
  },
  simulator: {
    head: 'figure',
    columns: valueRawRatio('raw limit (one lean connection, QoS 1), same run', 'percent'),
    rows: [
      {
        title: 'light: devices × messages per second each',
        label: ['devices', 'rate'],
        config: 'light',
        join: ' × ',
        unit: false,
      },
      { title: 'light: all connections up', label: 'connections up', config: 'light' },
      { title: 'light: sustained in steady state', label: 'msgs/s, steady state', config: 'light', bold: true },
      { title: 'light: readings/s', label: 'readings/s', config: 'light' },
      { title: 'light: simulator CPU, steady state', label: 'CPU, steady state', config: 'light', bold: true },
      { title: 'light: simulator CPU, whole run', label: 'CPU, whole run', config: 'light' },
      { title: 'light: CPU per message', label: 'CPU per message', config: 'light' },
      { title: 'light: messages per CPU-second', label: 'msgs per CPU-second', config: 'light' },
      { title: 'light: sends skipped / late by ≥ 1 period', label: ['sends skipped', 'sends late'], config: 'light' },
      { title: 'light: mosquitto CPU', label: 'mosquitto CPU', config: 'light' },
      { title: 'light: simulator RSS', label: 'RSS', config: 'light' },
      { title: 'agents: in one process, started and connected', label: ['agents', 'connected'], config: 'agents' },
      { title: 'agents: readings/s accepted', label: 'readings/s', config: 'agents' },
      { title: 'agents: delivered / expected', label: ['delivered', 'expected'], config: 'agents', unit: false },
      { title: 'agents: latency device → broker p50 / p99', label: ['latency p50', 'latency p99'], config: 'agents' },
      { title: 'agents: CPU (incl. the in-process observer)', label: 'CPU', config: 'agents' },
      { title: 'agents: RSS', label: 'RSS', config: 'agents' },
    ],
  },
};
