/** `edgeloop cloud` as a real process: a cloud with nothing listening stays up until a signal, then exits 0. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { encodeMessage } from '../../../protocol/messages.ts';
import { tel } from '../../helpers/kinesis-event.ts';

const bin = join(import.meta.dirname, '../../../bin/edgeloop.js');

it('edgeloop cloud --only processor with HTTP off keeps running, processes records, and exits 0 on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-cloud-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [bin, 'cloud', '--only', 'processor', '--data-dir', dir], {
    env: { ...process.env, EDGELOOP_HTTP__ENABLED: 'false', EDGELOOP_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let exitedEarly: number | null | undefined;
  void exited.then((code) => (exitedEarly ??= code));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('edgeloop cloud running: stream, feature-store, processor')) resolve();
    });
    void exited.then((code) => reject(new Error(`exited ${code} before it ran: ${err}`)));
  });

  // records put into its stream after start-up become features: the process is alive and working
  const stream = new LocalStream({ path: join(dir, 'stream.db'), shardCount: 4 });
  await stream.start();
  onTestFinished(() => stream.close());
  const now = Date.now();
  await stream.put([{ partitionKey: 'k1', data: encodeMessage(tel('k1', [['temp', now, 21.5]])) }]);
  const store = new SqliteFeatureStore({ path: join(dir, 'features.db') });
  await store.start();
  onTestFinished(() => store.close());
  await expect
    .poll(
      async () => {
        if (exitedEarly !== undefined)
          throw new Error(`edgeloop cloud exited with ${exitedEarly} while it should serve; stderr: ${err}`);
        return (await store.get('device_features', 'k1'))?.features.temp_last;
      },
      { timeout: 20_000, interval: 100 },
    )
    .toBe(21.5);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 40_000);
