/**
 * close() frees everything: a process that used both transports (mqtt.js sockets and timers, the AWS CRT's native
 * client and threads) and closed them exits on its own, without process.exit().
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startMosquitto } from '../helpers/mosquitto.ts';

describe('transports release every handle on close()', () => {
  it('a child process that used and closed both transports exits by itself', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const fixture = join(import.meta.dirname, 'fixtures', 'close-and-exit.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, broker.host, String(broker.port)], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    // a leaked handle keeps the child alive: kill it after a generous bound and fail with what it printed
    const guard = setTimeout(() => child.kill('SIGKILL'), 50_000);
    onTestFinished(() => {
      clearTimeout(guard);
      child.kill('SIGKILL');
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    expect({ code, signal, out: out.includes('closed') ? 'closed' : out }).toEqual({
      code: 0,
      signal: null,
      out: 'closed',
    });
  });
});
