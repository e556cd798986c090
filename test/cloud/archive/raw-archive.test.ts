/**
 * The raw archive is exactly-once from the stream: every accepted reading is in one Parquet file of its
 * date/hour partition, once, after compaction and after a kill -9 anywhere (write, commit, rename, compaction).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { RawArchive } from '../../../cloud/archive/raw-archive.ts';
import { encodeMessage, type DeviceMessage } from '../../../protocol/messages.ts';
import { isEdgeloopError } from '../../../protocol/errors.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'archive-crash-child.ts');
/** 22:00 UTC: the readings span two UTC days */
const T0 = Date.UTC(2026, 10, 24, 22, 0, 0);
const DEVICES = 40;
const MESSAGES = 12;
const PER_MESSAGE = 5;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-archive-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const device = (i: number) => `dev-${String(i).padStart(3, '0')}`;

/** device i, message k: readings seq k*5+1..k*5+5, 7 minutes apart per message (the messages span 1.4 hours + a day edge) */
function messages(): DeviceMessage[] {
  const out: DeviceMessage[] = [];
  for (let k = 0; k < MESSAGES; k++) {
    for (let i = 0; i < DEVICES; i++) {
      const ts = T0 + k * 7 * 60_000 + i * 1000 + (k >= 6 ? 3_600_000 : 0);
      const readings = Array.from({ length: PER_MESSAGE }, (_, j) => ({
        seq: k * PER_MESSAGE + j + 1,
        sensor: 'temp',
        ts: ts + j,
        value: i + j / 10,
      }));
      out.push({ v: 1, type: 'telemetry', deviceId: device(i), seq: readings[0]!.seq, sentAt: ts, readings });
    }
  }
  out.push({
    v: 1,
    type: 'status',
    deviceId: device(0),
    seq: 1,
    ts: T0,
    online: true,
    agentVersion: '1.2.0',
    models: [{ name: 'anomaly', version: '3' }],
    site: 'plant-a',
  });
  return out;
}

async function fillStream(path: string): Promise<void> {
  const stream = new LocalStream({ path, shardCount: 2, synchronous: 'NORMAL' });
  await stream.start();
  try {
    const all = messages();
    for (let from = 0; from < all.length; from += 100) {
      await stream.put(all.slice(from, from + 100).map((m) => ({ partitionKey: m.deviceId, data: encodeMessage(m) })));
    }
  } finally {
    await stream.close();
  }
}

async function query<T>(sql: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run("SET TimeZone = 'UTC'");
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

function partFiles(dir: string): string[] {
  return existsSync(dir)
    ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /(^|\/)part-[^/]*\.parquet$/.test(f)).sort()
    : [];
}

async function expectExactlyOnce(archiveDir: string): Promise<void> {
  const rows = await query<{ n: number; distinct_keys: number; wrong_partition: number }>(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT (device_id, seq))::INTEGER AS distinct_keys,
            count(*) FILTER (WHERE strftime(ts, '%Y-%m-%d') <> date::VARCHAR OR strftime(ts, '%H') <> lpad(hour::VARCHAR, 2, '0'))::INTEGER AS wrong_partition
     FROM read_parquet('${archiveDir}/readings/*/*/*.parquet', hive_partitioning = true, hive_types = {'date': VARCHAR, 'hour': VARCHAR})`,
  );
  expect(rows[0]).toEqual({
    n: DEVICES * MESSAGES * PER_MESSAGE,
    distinct_keys: DEVICES * MESSAGES * PER_MESSAGE,
    wrong_partition: 0,
  });
  expect(existsSync(join(archiveDir, '_commit.json'))).toBe(true);
  // no leftover temp file anywhere
  expect((readdirSync(archiveDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

/** a filled stream in a temp dir and an archive run over it until drained; the stream stays open */
async function archiveAll(
  compactSettleMs: number,
): Promise<{ stream: LocalStream; archive: RawArchive; archiveDir: string }> {
  const dir = tempDir();
  await fillStream(join(dir, 'stream.db'));
  const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 2 });
  await stream.start();
  onTestFinished(() => stream.close());
  const archiveDir = join(dir, 'archive');
  const archive = new RawArchive({
    stream,
    dir: archiveDir,
    flushRows: 200,
    flushIntervalMs: 10,
    batchSize: 30,
    idleWaitMs: 10,
    compactSettleMs,
  });
  await archive.start();
  await archive.drain();
  await archive.close();
  await expectExactlyOnce(archiveDir);
  return { stream, archive, archiveDir };
}

describe('RawArchive', () => {
  it('archives every reading once in date/hour partitions, compacts settled hours, and resumes from its checkpoint', async () => {
    const { stream, archive, archiveDir } = await archiveAll(0);
    const s = archive.stats();
    expect(s.rowsWritten.readings).toBe(DEVICES * MESSAGES * PER_MESSAGE);
    expect(s.rowsWritten.status).toBe(1);
    expect(s.commits).toBeGreaterThan(5);
    // 200-row commits over three hour partitions: compaction left one file per partition
    const files = partFiles(join(archiveDir, 'readings'));
    const partitions = new Set(files.map((f) => f.split('/').slice(0, 2).join('/')));
    expect([...partitions].sort()).toEqual([
      'date=2026-11-24/hour=22',
      'date=2026-11-24/hour=23',
      'date=2026-11-25/hour=00',
    ]);
    expect(files.length).toBe(partitions.size);
    expect(s.filesCompacted).toBeGreaterThan(files.length);
    const rows = await query<{ device_id: string; seq: bigint }>(
      `SELECT device_id, seq FROM read_parquet('${archiveDir}/readings/date=2026-11-24/hour=22/*.parquet') LIMIT 3`,
    );
    expect(rows.map((r) => [r.device_id, Number(r.seq)])).toEqual([
      ['dev-000', 1],
      ['dev-000', 2],
      ['dev-000', 3],
    ]);
    const status = await query<{ site: string; model_version: string }>(
      `SELECT site, model_version FROM read_parquet('${archiveDir}/status/*/*/*.parquet')`,
    );
    expect(status).toEqual([{ site: 'plant-a', model_version: '3' }]);

    // a restart reads nothing again: the checkpoint is at the committed positions
    const again = new RawArchive({ stream, dir: archiveDir, flushIntervalMs: 10, idleWaitMs: 10, compactSettleMs: 0 });
    await again.start();
    await again.drain();
    await again.close();
    expect(again.stats().rowsWritten.readings).toBe(0);
    await expectExactlyOnce(archiveDir);
  });

  it('does not compact an hour that has not settled, and keeps files at the target size', async () => {
    // settle time far beyond now: nothing is compacted
    const { archive, archiveDir } = await archiveAll(1e12);
    expect(archive.stats().filesCompacted).toBe(0);
    expect(partFiles(join(archiveDir, 'readings')).length).toBe(archive.stats().filesWritten - 1); // one status file
  });

  it('refuses to start on a malformed _commit.json (EL_ERR_ARCHIVE_COMMIT), naming the file', async () => {
    const dir = tempDir();
    const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 1 });
    await stream.start();
    onTestFinished(() => stream.close());
    mkdirSync(join(dir, 'archive'));
    writeFileSync(
      join(dir, 'archive', '_commit.json'),
      '{"format":1,"schema":{"version":1,"columns":[]},"positions":{},"renames":[],"deletes":"x"}',
    );
    const archive = new RawArchive({ stream, dir: join(dir, 'archive') });
    onTestFinished(() => archive.close());
    const err = await archive.start().catch((e: unknown) => e);
    expect(isEdgeloopError(err, 'EL_ERR_ARCHIVE_COMMIT')).toBe(true);
    expect((err as Error).message).toMatch(/_commit\.json.*"deletes"/);
  });

  it('kill -9 at every step of a write and of a compaction, restart, finish: every reading is archived exactly once', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    await fillStream(join(dir, 'stream.db'));
    const phases = ['files', 'committed', 'renamed', 'checkpointed', 'compact-committed', 'compacted'];
    for (const phase of phases) {
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir, 'run', phase, '2'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const lines: { killedAt: string }[] = [];
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as { killedAt: string }));
      // a run that never reaches the phase (it lost or skipped rows and ran dry) is stopped and fails here
      const stuck = setTimeout(() => child.kill('SIGTERM'), 30_000);
      const signal = await new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
      clearTimeout(stuck);
      expect(signal, `the archive never reached "${phase}" a second time`).toBe('SIGKILL');
      expect(lines.at(-1)?.killedAt).toBe(phase); // killed there, not elsewhere
    }
    const finish = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir, 'finish'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out: string[] = [];
    createInterface({ input: finish.stdout! }).on('line', (l) => out.push(l));
    const code = await new Promise<number | null>((r) => finish.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(JSON.parse(out.at(-1)!).done).toBe(true);
    await expectExactlyOnce(join(dir, 'archive'));
  });
});
