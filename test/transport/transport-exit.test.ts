/**
 * close() frees everything: a process that used both transports (mqtt.js sockets and timers, the AWS CRT's native
 * client and threads) and closed them exits on its own, without process.exit(). And the reverse: an awaited
 * start() holds the process open while the broker is down, until it connects or its deadline passes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { freePort } from '../helpers/free-port.ts';

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

/** run a start fixture; its exit code and what it printed */
async function runFixture(
  name: string,
  args: string[],
  onOutput: (out: string) => void = () => {},
): Promise<{ code: number | null; out: string }> {
  const fixture = join(import.meta.dirname, 'fixtures', name);
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, EDGELOOP_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    onOutput(out);
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 50_000);
  onTestFinished(() => {
    clearTimeout(guard);
    child.kill('SIGKILL');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, out: out.trim() };
}

const awaitStart = (url: string, deadlineMs: number) => runFixture('await-start.ts', [url, String(deadlineMs)]);

describe('an awaited start() holds the process open while the broker is down', () => {
  it('until its deadline: the start rejects with EL_ERR_TRANSPORT_TIMEOUT (not exit 13)', async () => {
    const port = await freePort();
    expect(await awaitStart(`mqtt://127.0.0.1:${port}`, 1500)).toEqual({ code: 0, out: 'EL_ERR_TRANSPORT_TIMEOUT' });
  });

  it('with no deadline, until the broker comes up and the start connects', async () => {
    const port = await freePort();
    const run = awaitStart(`mqtt://127.0.0.1:${port}`, 0);
    // the broker starts after a few reconnect attempts have failed
    await new Promise((r) => setTimeout(r, 2500));
    const broker = await startTestBroker(port);
    onTestFinished(() => broker.close());
    expect(await run).toEqual({ code: 0, out: 'connected' });
  });

  it('a second start() while the transport reconnects by itself, until the broker is back', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    let stopped = false;
    const run = runFixture('restart-wait.ts', [broker.url], (out) => {
      if (stopped || !out.includes('offline')) return;
      stopped = true;
      // the broker is away for a few reconnect attempts, then listens again on its port
      setTimeout(() => void broker.restart(), 2000);
    });
    // the first start connected: take the broker away
    await new Promise((r) => setTimeout(r, 1500));
    await broker.stop();
    expect(await run).toEqual({ code: 0, out: 'offline\nconnected' });
  });
});
