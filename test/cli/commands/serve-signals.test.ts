/**
 * The server commands (`registry serve`, `rollout serve`) as processes: they print where they listen, answer, and
 * exit 0 on SIGTERM; a rollout controller whose broker is down waits for it (its start holds the process open,
 * instead of exiting 13 with the start unsettled) and still stops cleanly on SIGTERM while it waits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../../helpers/aedes-broker.ts';
import { serveProcess } from '../serve-process.ts';
import { freePort } from '../../helpers/free-port.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-serve-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `edgeloop rollout serve` on any port, its broker at `mqttPort` on loopback */
const rolloutServe = (mqttPort: number) =>
  serveProcess([
    'rollout',
    'serve',
    '--port',
    '0',
    '--data-dir',
    tempDir(),
    '--mqtt',
    `mqtt://127.0.0.1:${mqttPort}`,
    '--insecure',
  ]);

describe('server commands and signals', () => {
  it('registry serve answers until SIGTERM, then exits 0', { timeout: 60_000 }, async () => {
    const child = serveProcess(['registry', 'serve', '--port', '0', '--data-dir', tempDir(), '--insecure']);
    const url = (await child.waitFor(/registry listening on (http:\/\/\S+)/))[1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('rollout serve waits for a broker that is down, then serves once it is up', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const child = rolloutServe(port);
    // still waiting (not exited) after a few failed connection attempts
    const early = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('waiting'), 2500))]);
    expect(early).toBe('waiting');
    const broker = await startTestBroker(port);
    onTestFinished(() => broker.close());
    const url = (await child.waitFor(/rollout controller listening on (http:\/\/\S+)/))[1]!;
    expect((await fetch(`${url}/v1/rollouts`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('rollout serve stops cleanly on SIGTERM while it waits for the broker', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const child = rolloutServe(port);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    expect(child.output()).not.toContain('listening');
  });
});
