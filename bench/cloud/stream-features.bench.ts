/**
 * npx tsx bench/cloud/stream-features.bench.ts [-- --devices 200 --messages 20000 --readings 10]
 *
 * Measures, in one process, against the machine's raw limit measured in the same run:
 *   raw          better-sqlite3 (WAL) inserting the same 200-byte rows, 500 per transaction
 *   stream put   LocalStream.put of 500 device messages per call (synchronous FULL and NORMAL)
 *   processor    LocalStream → Processor → SqliteFeatureStore (drain of a filled stream): messages/s, readings/s
 *   live lag     a producer puts 500 messages every 50 ms while the processor runs: device time → feature
 *                write latency, p50/p99 (onFeatureWrite)
 * Figures through bench/lib/report.ts into bench/results/stream-features.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { LocalStream } from '../../cloud/stream/local-stream.ts';
import { SqliteFeatureStore } from '../../cloud/feature-store/sqlite-feature-store.ts';
import { Processor } from '../../cloud/processor/processor.ts';
import { encodeMessage, type TelemetryMessage } from '../../protocol/messages.ts';
import { percentiles } from '../../lib/stats.ts';
import { BenchReport } from '../lib/report.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    messages: { type: 'string', default: '20000' },
    readings: { type: 'string', default: '10' },
  },
});
const DEVICES = Number(values.devices);
const MESSAGES = Number(values.messages);
const READINGS = Number(values.readings);
const work = mkdtempSync(join(tmpdir(), 'edgeloop-bench-sf-'));

let seq = 0;
function message(i: number, tsBase: number, live = false): TelemetryMessage {
  const deviceId = `dev-${i % DEVICES}`;
  const ts = live ? tsBase : tsBase + Math.floor(i / DEVICES) * 100;
  const readings = Array.from({ length: READINGS }, (_, k) => ({
    seq: ++seq,
    sensor: `s${k}`,
    ts,
    value: Math.sin(i + k) * 10 + 50,
  }));
  return { v: 1, type: 'telemetry', deviceId, seq: readings[0]!.seq, sentAt: ts, readings };
}

const perS = (n: number, ms: number): number => (n / ms) * 1000;

async function main(): Promise<void> {
  const report = new BenchReport('stream-features');
  console.log(`devices ${DEVICES}, messages ${MESSAGES}, readings/message ${READINGS}`);
  const records = Array.from({ length: MESSAGES }, (_, i) => {
    const m = message(i, Date.now() - 600_000);
    return { partitionKey: m.deviceId, data: encodeMessage(m) };
  });
  const bytes = records.reduce((a, r) => a + r.data.byteLength, 0) / records.length;
  console.log(`record size ~${Math.round(bytes)} B`);

  for (const sync of ['NORMAL', 'FULL'] as const) {
    // raw: the same rows, same batching, plain better-sqlite3
    const db = new Database(join(work, `raw-${sync}.db`));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync}`);
    db.exec('CREATE TABLE r (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT, d BLOB, t INTEGER)');
    const ins = db.prepare('INSERT INTO r (k, d, t) VALUES (?, ?, ?)');
    const tx = db.transaction((rs: typeof records) => {
      for (const r of rs) ins.run(r.partitionKey, r.data, Date.now());
    });
    let t0 = performance.now();
    for (let i = 0; i < records.length; i += 500) tx(records.slice(i, i + 500));
    const rawMs = performance.now() - t0;
    db.close();

    const stream = new LocalStream({ path: join(work, `stream-${sync}.db`), synchronous: sync, shardCount: 4 });
    await stream.start();
    t0 = performance.now();
    for (let i = 0; i < records.length; i += 500) await stream.put(records.slice(i, i + 500));
    const putMs = performance.now() - t0;
    await stream.close();
    report.figure({
      label: `LocalStream.put, ${sync}`,
      value: perS(records.length, putMs),
      unit: 'records/s',
      raw: perS(records.length, rawMs),
      rawUnit: 'rows/s',
      decimals: 0,
    });
  }

  // processor drain over a filled stream
  {
    const stream = new LocalStream({ path: join(work, 'stream-NORMAL.db'), synchronous: 'NORMAL', shardCount: 4 });
    const store = new SqliteFeatureStore({ path: join(work, 'features.db'), synchronous: 'NORMAL' });
    await stream.start();
    await store.start();
    const p = new Processor({ stream, store, batchSize: 1000, aggregation: { allowedLatenessMs: 0 } });
    const t0 = performance.now();
    const n = await p.drain();
    const ms = performance.now() - t0;
    const s = p.stats();
    console.log(`processor drain: ${n} messages, ${s.featureWrites} feature writes`);
    report.figure({ label: 'drain, messages', value: perS(n, ms), unit: 'messages/s', decimals: 0 });
    report.figure({ label: 'drain, readings', value: perS(n * READINGS, ms), unit: 'readings/s', decimals: 0 });
    report.figure({
      label: 'drain, feature writes',
      value: perS(s.featureWrites, ms),
      unit: 'feature writes/s',
      decimals: 0,
    });
    await p.close();
    await store.close();
    await stream.close();
  }

  // live: producer + running processor, lag from device time to feature write
  {
    const stream = new LocalStream({ path: join(work, 'live.db'), synchronous: 'NORMAL', shardCount: 4 });
    const store = new SqliteFeatureStore({ path: join(work, 'live-features.db'), synchronous: 'NORMAL' });
    await stream.start();
    await store.start();
    const lags: number[] = [];
    const p = new Processor({
      stream,
      store,
      batchSize: 1000,
      onFeatureWrite: (i) => i.lagMs !== undefined && lags.push(i.lagMs),
    });
    await p.start();
    const rounds = 40;
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      const batch = Array.from({ length: 500 }, (_, i) => {
        const m = message(r * 500 + i, Date.now(), true);
        return { partitionKey: m.deviceId, data: encodeMessage(m) };
      });
      await stream.put(batch);
      await new Promise((res) => setTimeout(res, 50));
    }
    while (p.stats().records < rounds * 500) await new Promise((res) => setTimeout(res, 5));
    const ms = performance.now() - t0;
    const pc = percentiles(lags, [50, 99]);
    console.log(`live: 500 messages every 50 ms; lag device time → feature write over ${lags.length} writes`);
    report.figure({ label: 'live, producer', value: perS(rounds * 500, ms), unit: 'messages/s', decimals: 0 });
    report.figure({ label: 'live lag p50', value: pc.p50!, unit: 'ms', maxDecimals: 1 });
    report.figure({ label: 'live lag p99', value: pc.p99!, unit: 'ms', maxDecimals: 1 });
    await p.close();
    await store.close();
    await stream.close();
  }
  report.write();
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
