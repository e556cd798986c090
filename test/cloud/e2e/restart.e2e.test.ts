/**
 * Crash test: `edgeloop cloud` runs in a child process with the embedded broker; a device publishes a steady
 * stream of QoS 1 telemetry; the cloud is killed with SIGKILL mid-stream and started again on the same port and
 * data directory. Afterwards every (deviceId, seq) the device sent is in the stream exactly once (nothing lost,
 * nothing double-counted), features are served, and a SIGTERM shuts the cloud down cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { enc, range, readAll, telemetry } from '../ingest/ingest-helpers.ts';
import { featuresWhen, tempDir } from './e2e-helpers.ts';
import { freePort } from '../../helpers/free-port.ts';

const BIN = join(import.meta.dirname, '../../../bin/edgeloop.js');

/** Start `edgeloop cloud` and resolve once it prints its MQTT URL. */
async function startCloud(configPath: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'cloud', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGELOOP_LOG_LEVEL: 'warn' },
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (/mqtt\s+mqtt:\/\//.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`edgeloop cloud exited with ${code} during start:\n${out}\n${err}`)));
  });
  return child;
}

describe('edgeloop cloud crash and restart', () => {
  it('kill -9 mid-stream loses nothing and double-counts nothing', async () => {
    const dir = tempDir();
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const configPath = join(dir, 'cloud.yaml');
    writeFileSync(
      configPath,
      [
        `dataDir: ${dataDir}`,
        'broker:',
        '  embedded:',
        `    port: ${port}`,
        '    allowAnonymous: true',
        'http:',
        '  enabled: false',
        'processor:',
        '  idleWaitMs: 20',
        '',
      ].join('\n'),
    );
    let cloud = await startCloud(configPath);

    const MESSAGES = 300;
    const PER = 25;
    const t0 = Date.now() - 10 * 60_000;
    const dev = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'crash-dev', clean: false, reconnectPeriod: 100 });
    onTestFinished(() => new Promise<void>((r) => dev.end(true, {}, () => r())));
    dev.on('error', () => {});
    await new Promise<void>((r) => dev.once('connect', () => r()));
    let acked = 0;
    const killAt = 100;
    let killed: Promise<void> | undefined;
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      // keep ~20 messages in flight, like an agent draining its outbox
      while (all.length - acked >= 20) await new Promise((r) => setTimeout(r, 2));
      const m = telemetry('crash-dev', 1 + i * PER, PER, { ts: t0 + i * 1000 });
      all.push(
        dev.publishAsync('edgeloop/v1/crash-dev/telemetry', enc(m), { qos: 1 }).then(() => {
          acked++;
          if (acked === killAt) {
            cloud.kill('SIGKILL');
            killed = new Promise<void>((r) => cloud.once('exit', () => r())).then(async () => {
              cloud = await startCloud(configPath);
            });
          }
        }),
      );
    }
    await Promise.all(all);
    await killed;
    expect(acked).toBe(MESSAGES);

    const stream = new LocalStream({ path: join(dataDir, 'stream.db') });
    await stream.start();
    onTestFinished(() => stream.close());
    const seqs = (await readAll(stream)).seqs.get('crash-dev')!;
    const sorted = [...seqs].sort((a, b) => a - b);
    expect(sorted.length).toBe(MESSAGES * PER); // no duplicates
    expect(sorted).toEqual(range(1, MESSAGES * PER)); // nothing lost

    const f = await featuresWhen(dataDir, 'crash-dev', (x) => typeof x.temp_count_1m === 'number');
    expect(f.temp_count_1m).toBeGreaterThan(0);

    const exited = new Promise<number | null>((r) => cloud.once('exit', (code) => r(code)));
    cloud.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
