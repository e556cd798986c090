/**
 * One process per data directory, as users start them: a second `edgeloop agent` / `cloud` / `up` on a directory
 * in use exits 1 with EL_ERR_DATA_DIR_LOCKED naming the holder's PID; a SIGKILLed holder's lock is taken over.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { acquireDataDirLock, HOLDER_FILE } from '../../lib/data-dir-lock.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { runCli, startCli, tempCwd } from './cli-process.ts';

describe('data directory lock', () => {
  it('a second agent with the same config exits 1 naming the PID of the running one', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const cwd = tempCwd();
    writeFileSync(
      join(cwd, 'agent.yaml'),
      `deviceId: pump-7\ndataDir: ./data\ntransport: { kind: mqtt, url: "${broker.url}" }\nlogLevel: warn\n`,
    );
    const first = startCli(['agent', '--config', 'agent.yaml'], { cwd });
    await first.waitFor(/pump-7 running/);
    const second = await runCli(['agent', '--config', 'agent.yaml'], { cwd });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `edgeloop agent: data directory ${join(cwd, 'data')} is in use by PID ${first.child.pid} (edgeloop agent (device pump-7))`,
    );
    expect(second.stderr).toContain('[EL_ERR_DATA_DIR_LOCKED]');
    // the first one was not disturbed, and stops cleanly
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(join(cwd, 'data', HOLDER_FILE))).toBe(false);
  }, 120_000);

  it('the lock of a SIGKILLed cloud is taken over, with a log line naming the dead PID', async () => {
    const cwd = tempCwd();
    const env = { EDGELOOP_HTTP__PORT: '0' };
    const args = ['cloud', '--only', 'dlq', '--data-dir', 'state', '--log-level', 'warn'];
    const first = startCli(args, { cwd, env });
    await first.waitFor(/edgeloop cloud running/);
    const refused = await runCli(args, { cwd, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`data directory .*state is in use by PID ${first.child.pid} \\(edgeloop cloud\\)`),
    );

    first.child.kill('SIGKILL');
    await first.exited;
    const third = startCli(args, { cwd, env });
    await third.waitFor(/edgeloop cloud running/);
    const takeover = third
      .stderr()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'data directory lock: the previous holder is gone, taking over');
    expect(takeover).toMatchObject({
      previousPid: first.child.pid,
      previousCommand: 'edgeloop cloud',
      dataDir: join(cwd, 'state'),
    });
    expect(JSON.parse(readFileSync(join(cwd, 'state', HOLDER_FILE), 'utf8'))).toMatchObject({
      pid: third.child.pid,
      command: 'edgeloop cloud',
    });
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);

  it('edgeloop sim --cloud refuses a data directory another process holds', async () => {
    const cwd = tempCwd();
    const lock = acquireDataDirLock({ dir: join(cwd, 'state'), command: 'edgeloop cloud (test)' });
    onTestFinished(() => lock.release());
    const r = await runCli(['sim', '--cloud', '--data-dir', 'state', '--devices', '1', '--duration', '1s', '--quiet'], {
      cwd,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `edgeloop sim: data directory ${join(cwd, 'state')} is in use by PID ${process.pid} (edgeloop cloud (test))`,
    );
  }, 120_000);

  it('edgeloop up refuses a data directory whose cloud directory another process holds', async () => {
    const cwd = tempCwd();
    const lock = acquireDataDirLock({ dir: join(cwd, 'state', 'cloud'), command: 'edgeloop cloud (test)' });
    onTestFinished(() => lock.release());
    const r = await runCli(['up', '--data-dir', 'state', '--no-fleet', '--port', '0'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `edgeloop up: data directory ${join(cwd, 'state', 'cloud')} is in use by PID ${process.pid} (edgeloop cloud (test))`,
    );
  }, 120_000);
});
