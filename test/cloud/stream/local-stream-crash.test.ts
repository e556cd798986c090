/**
 * Crash test: a child process writes to a LocalStream and is SIGKILLed mid-stream; every record whose put() had
 * resolved is in the stream afterwards, exactly once, and the file opens cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';

it('keeps every acknowledged record when the writer is killed with SIGKILL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-stream-crash-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'stream.db');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'stream-writer.ts'), path],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let acked = 0;
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      for (const m of buf.matchAll(/acked (\d+)\n/g)) acked = Math.max(acked, Number(m[1]));
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
      if (acked >= 500) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`)),
    );
  });
  await new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
  );

  const stream = new LocalStream({ path, shardCount: 2 });
  await stream.start();
  onTestFinished(() => stream.close());
  const seen: number[] = [];
  for (const shard of await stream.listShards()) {
    let position: string | undefined;
    for (;;) {
      const b = await stream.read(shard, { consumer: 'check', position, limit: 10_000 });
      if (b.records.length === 0) break;
      for (const r of b.records) seen.push(Number(Buffer.from(r.data).toString()));
      position = b.position;
    }
  }
  seen.sort((a, b) => a - b);
  expect(new Set(seen).size).toBe(seen.length); // nothing twice
  expect(seen.length).toBeGreaterThanOrEqual(acked); // everything acknowledged (and perhaps a batch committed but not yet printed)
  expect(seen.slice(0, acked)).toEqual(Array.from({ length: acked }, (_, i) => i));
  expect(seen.length % 50).toBe(0); // whole batches only: a put is one transaction
});
