/**
 * The offline history is exactly-once from the stream: the processor checkpoints only what the Parquet store
 * committed, and after a restart does not append again the rows a previous run committed.
 *
 * Every device sends one telemetry message, so every stream record yields exactly one expected feature row
 * (entity, event time, value) whatever the batching and wherever a crash lands: a lost row is missing, a
 * duplicated one is there twice.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { ParquetOfflineStore } from '../../../cloud/feature-store/parquet-offline-store.ts';
import { compareSequenceNumbers, Processor } from '../../../cloud/processor/processor.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { encodeMessage, type TelemetryMessage } from '../../../protocol/messages.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'offline-crash-child.ts');
const T0 = Date.UTC(2026, 10, 24, 23, 0, 0);

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-proc-offline-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const device = (i: number) => `dev-${String(i).padStart(5, '0')}`;
/** device i reads value i at T0 + 37 s * i (the rows span two UTC days) */
const ts = (i: number) => T0 + 37_000 * i;

async function fillStream(path: string, devices: number): Promise<void> {
  const stream = new LocalStream({ path, shardCount: 2, synchronous: 'NORMAL' });
  await stream.start();
  try {
    for (let from = 0; from < devices; from += 500) {
      const batch = Array.from({ length: Math.min(500, devices - from) }, (_, j) => {
        const i = from + j;
        const m: TelemetryMessage = {
          v: 1,
          type: 'telemetry',
          deviceId: device(i),
          seq: 1,
          sentAt: ts(i),
          readings: [{ seq: 1, sensor: 'temp', ts: ts(i), value: i }],
        };
        return { partitionKey: device(i), data: encodeMessage(m) };
      });
      await stream.put(batch);
    }
  } finally {
    await stream.close();
  }
}

/** every row of the group, read with DuckDB without union_by_name (none before the first commit) */
async function offlineRows(dir: string): Promise<{ entity_id: string; t: number; temp_last: number; n: number }[]> {
  const groupDir = join(dir, 'device_features');
  const parts = existsSync(groupDir)
    ? readdirSync(groupDir, { recursive: true }).filter((f) => /(^|\/)part-[^/]*\.parquet$/.test(String(f)))
    : [];
  if (parts.length === 0) return [];
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(
      `SELECT entity_id, epoch_ms(event_time)::DOUBLE AS t, temp_last, count(*)::INTEGER AS n
       FROM read_parquet('${join(dir, 'device_features')}/*/*.parquet', hive_partitioning = true)
       GROUP BY ALL ORDER BY entity_id`,
    );
    return r.getRowObjectsJS() as { entity_id: string; t: number; temp_last: number; n: number }[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

function expectExactlyOnce(rows: Awaited<ReturnType<typeof offlineRows>>, devices: number): void {
  expect(rows.length).toBe(devices);
  const wrong = rows.filter((r, i) => r.entity_id !== device(i) || r.n !== 1 || r.t !== ts(i) || r.temp_last !== i);
  expect(wrong.slice(0, 5)).toEqual([]);
}

/** stream, online and offline store on `dir`'s files, and a processor (nothing started in the background) */
async function openPipeline(dir: string, clock: ManualClock, batchSize: number) {
  const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 2, synchronous: 'NORMAL' });
  const store = new SqliteFeatureStore({ path: join(dir, 'features.db'), synchronous: 'NORMAL' });
  const offline = new ParquetOfflineStore({
    dir: join(dir, 'offline'),
    flushRows: 1_000_000,
    flushIntervalMs: 3_600_000,
    clock,
  });
  await stream.start();
  await store.start();
  await offline.start();
  const processor = new Processor({ stream, store, offlineStore: offline, batchSize, clock });
  return { stream, store, offline, processor };
}

interface Child {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: () => void;
}

function runChild(
  dir: string,
  mode: 'run' | 'finish',
  onLine: (l: { writes?: number; rowsWritten?: number; buffered?: number; done?: boolean }) => void,
): Child {
  // node itself with the tsx loader: SIGKILL reaches the process that runs the processor
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  createInterface({ input: child.stdout! }).on('line', (l) => onLine(JSON.parse(l) as { writes?: number }));
  const exited = new Promise<Awaited<Child['exited']>>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { exited, kill: () => child.kill('SIGKILL') };
}

describe('Processor + ParquetOfflineStore: exactly-once history', () => {
  it('kill -9 mid-stream, restart, finish: every feature row is in Parquet exactly once', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const DEVICES = 20_000;
    await fillStream(join(dir, 'stream.db'), DEVICES);

    let killedAt = 0;
    const first = runChild(dir, 'run', (l) => {
      if (process.env.CRASH_DEBUG) console.log(JSON.stringify(l));
      // once some rows are committed and others still buffered (at the latest near the end of the stream)
      const due = ((l.rowsWritten ?? 0) > 0 && (l.buffered ?? 0) > 0) || (l.writes ?? 0) >= DEVICES * 0.9;
      if (killedAt === 0 && due) {
        killedAt = l.writes!;
        first.kill();
      }
    });
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(killedAt).toBeGreaterThan(0);
    // killed mid-stream: some rows are committed, not all
    const before = await offlineRows(join(dir, 'offline'));
    expect(before.length).toBeLessThan(DEVICES);
    if (process.env.CRASH_DEBUG) console.log({ killedAt, committedBeforeRestart: before.length });

    let done = false;
    const second = runChild(dir, 'finish', (l) => void (done ||= l.done === true));
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(done).toBe(true);
    expectExactlyOnce(await offlineRows(join(dir, 'offline')), DEVICES);
  });

  it('a crash after the offline commit and before the checkpoint duplicates nothing; buffered rows are read again', async () => {
    const dir = tempDir();
    const DEVICES = 900;
    await fillStream(join(dir, 'stream.db'), DEVICES);
    const clock = new ManualClock(T0);
    // run 1: 4 steps, commit, 2 more steps whose rows stay buffered, then "crash": nothing more is written
    const a = await openPipeline(dir, clock, 100);
    for (let i = 0; i < 4; i++) await a.processor.step();
    await a.offline.flush();
    const committed = a.offline.committedPositions('device_features', 'processor');
    expect(Object.keys(committed).sort()).toEqual((await a.stream.listShards()).sort());
    // the checkpoint has not caught up with the commit yet: this is the window a crash can hit
    for (const shard of await a.stream.listShards()) {
      const cp = await a.stream.getCheckpoint('processor', shard);
      expect(cp === undefined || compareSequenceNumbers(cp, committed[shard]!) < 0).toBe(true);
    }
    for (let i = 0; i < 2; i++) await a.processor.step();
    expect(a.offline.stats().buffered).toBeGreaterThan(0);
    // abandon run 1 (a crash): its offline buffer is never written; its SQLite files are closed so that run 2 can
    // open them
    await a.store.close();
    await a.stream.close();
    const committedRows = (await offlineRows(join(dir, 'offline'))).length;
    expect(committedRows).toBeGreaterThan(0);
    expect(committedRows).toBeLessThan(DEVICES);

    // run 2: replays from the stream checkpoint; rows already committed are not appended again
    const b = await openPipeline(dir, clock, 100);
    await b.processor.drain();
    await b.processor.close();
    await b.offline.close();
    await b.store.close();
    await b.stream.close();
    expectExactlyOnce(await offlineRows(join(dir, 'offline')), DEVICES);
  });

  it('checkpoints only up to records whose offline rows are committed', async () => {
    const dir = tempDir();
    await fillStream(join(dir, 'stream.db'), 50);
    const { stream, store, offline, processor: p } = await openPipeline(dir, new ManualClock(T0), 500);
    onTestFinished(async () => {
      await p.close();
      await offline.close();
      await store.close();
      await stream.close();
    });
    expect(await p.drain()).toBe(50);
    const shards = await stream.listShards();
    for (const s of shards) expect(await stream.getCheckpoint('processor', s)).toBeUndefined();
    await offline.flush();
    await p.step();
    const committed = offline.committedPositions('device_features', 'processor');
    expect(Object.keys(committed).sort()).toEqual([...shards].sort());
    for (const s of shards) expect(await stream.getCheckpoint('processor', s)).toBe(committed[s]);
  });

  it('compares sequence numbers as decimal integers of any length', () => {
    expect(compareSequenceNumbers('000000000010', '9')).toBeGreaterThan(0);
    expect(
      compareSequenceNumbers(
        '49590338271490256608559692538361571095921575989136588898',
        '49590338271490256608559692538361571095921575989136588899',
      ),
    ).toBeLessThan(0);
    expect(compareSequenceNumbers('0007', '7')).toBe(0);
  });
});
