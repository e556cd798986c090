/**
 * Registry and rollout writes are open when no apiToken is configured: such a listener may bind loopback only,
 * unless the explicit `insecure` option is set (then it starts and warns). Drives the real parts (cloud config →
 * RegistryServer / RolloutServer on Fastify, the rollout controller on an aedes broker).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { main } from '../../../cli/main.ts';
import { createRegistryPart } from '../../../cloud/registry/registry-part.ts';
import { createRolloutPart } from '../../../cloud/rollout/rollout-part.ts';
import { isLoopbackHost, assertSecureListener } from '../../../lib/listen-guard.ts';
import { packagePath } from '../../../lib/package-root.ts';
import { isEdgeloopError } from '../../../protocol/errors.ts';
import { startTestBroker } from '../../helpers/aedes-broker.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-exposure-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function captureLogger(): { logger: pino.Logger; lines: Array<{ level: number; msg: string; host?: string }> } {
  const lines: Array<{ level: number; msg: string; host?: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

function expectInsecure(fn: () => unknown, what: string, host: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isEdgeloopError(err, 'EL_ERR_INSECURE_LISTENER'), String(err)).toBe(true);
  const msg = (err as Error).message;
  expect(msg).toContain(what);
  expect(msg).toContain(host);
  expect(msg).toContain('insecure');
}

/** an answer from a plain GET; undefined when nothing listens */
async function reachable(url: string): Promise<number | undefined> {
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => undefined,
  );
}

describe('listen guard', () => {
  it('tells loopback hosts from the rest', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.2', 'example.com', '128.0.0.1', '::2', ''])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('passes loopback and authenticated listeners, refuses the rest, warns when insecure is explicit', () => {
    const { logger, lines } = captureLogger();
    assertSecureListener({ host: '127.0.0.1', authConfigured: false, insecure: false, what: 'x', logger });
    assertSecureListener({ host: '0.0.0.0', authConfigured: true, insecure: false, what: 'x', logger });
    expect(lines).toEqual([]);
    expectInsecure(
      () => assertSecureListener({ host: '0.0.0.0', port: 9, authConfigured: false, insecure: false, what: 'thing' }),
      'thing',
      '0.0.0.0:9',
    );
    assertSecureListener({ host: '0.0.0.0', port: 9, authConfigured: false, insecure: true, what: 'thing', logger });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(40);
    expect(lines[0]!.msg).toMatch(/^INSECURE: thing listens on 0\.0\.0\.0:9 without authentication/);
  });
});

describe('registry exposure', () => {
  it('refuses a non-loopback registry without apiToken', () => {
    const dir = tempDir();
    expectInsecure(() => createRegistryPart({ dataDir: dir, host: '0.0.0.0', port: 0 }), 'registry', '0.0.0.0');
  });

  it('starts on a non-loopback host with an apiToken, and writes need it', async () => {
    const part = createRegistryPart({ dataDir: tempDir(), host: '0.0.0.0', port: 0, apiToken: 'secret' });
    onTestFinished(() => part.close());
    await part.start();
    const port = new URL(part.instance.server.url).port;
    const res = await fetch(`http://127.0.0.1:${port}/v1/models/m/aliases/prod`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"version":"1"}',
    });
    expect(res.status).toBe(401);
  });

  it('starts open on a non-loopback host with insecure: true, and says so in the log', async () => {
    const { logger, lines } = captureLogger();
    const part = createRegistryPart({ dataDir: tempDir(), host: '0.0.0.0', port: 0, insecure: true }, { logger });
    onTestFinished(() => part.close());
    await part.start();
    expect(await reachable(`http://127.0.0.1:${new URL(part.instance.server.url).port}/healthz`)).toBe(200);
    const warn = lines.filter((l) => l.level === 40);
    expect(warn.map((l) => l.msg).join('\n')).toMatch(
      /INSECURE: registry listens on 0\.0\.0\.0:0 without authentication/,
    );
  });

  it('starts without a token on loopback (the default) with no warning', async () => {
    const { logger, lines } = captureLogger();
    const part = createRegistryPart({ dataDir: tempDir(), port: 0 }, { logger });
    onTestFinished(() => part.close());
    await part.start();
    expect(await reachable(`${part.instance.server.url}/healthz`)).toBe(200);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

describe('rollout controller exposure', () => {
  it('refuses a non-loopback controller without apiToken before it connects anywhere', async () => {
    expectInsecure(
      () =>
        createRolloutPart({
          dataDir: tempDir(),
          mqtt: { url: 'mqtt://127.0.0.1:1' },
          http: { host: '0.0.0.0', port: 0 },
        }),
      'rollout controller',
      '0.0.0.0',
    );
  });

  it('starts with insecure: true (warned) and with an apiToken (writes need it)', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const { logger, lines } = captureLogger();
    const open = createRolloutPart(
      {
        dataDir: tempDir(),
        mqtt: { url: broker.url, clientId: 'ro-open' },
        http: { host: '0.0.0.0', port: 0, insecure: true },
      },
      { logger },
    );
    onTestFinished(() => open.close());
    await open.start();
    expect(await reachable(`http://127.0.0.1:${new URL(open.instance.server.url).port}/v1/rollouts`)).toBe(200);
    expect(
      lines
        .filter((l) => l.level === 40)
        .map((l) => l.msg)
        .join('\n'),
    ).toMatch(/INSECURE: rollout controller listens on 0\.0\.0\.0:0/);

    const closed = createRolloutPart({
      dataDir: tempDir(),
      mqtt: { url: broker.url, clientId: 'ro-token' },
      http: { host: '0.0.0.0', port: 0, apiToken: 't' },
    });
    onTestFinished(() => closed.close());
    await closed.start();
    const res = await fetch(`http://127.0.0.1:${new URL(closed.instance.server.url).port}/v1/rollouts/x/abort`, {
      method: 'POST',
    });
    expect(res.status).toBe(401);
  });
});

describe('edgeloop registry|rollout serve', () => {
  async function cli(argv: string[], cwd: string): Promise<{ code: number; err: string }> {
    let err = '';
    const sink = (f: (s: string) => void) =>
      new Writable({
        write(c, _e, cb) {
          f(String(c));
          cb();
        },
      });
    const code = await main(argv, { stdout: sink(() => {}), stderr: sink((s) => (err += s)), env: {}, cwd });
    return { code, err };
  }

  it('exit 1 naming the option when a non-loopback --host has no --token', async () => {
    const dir = tempDir();
    const reg = await cli(['registry', 'serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir], dir);
    expect(reg.code).toBe(1);
    expect(reg.err).toMatch(/registry: refusing to listen on 0\.0\.0\.0:0 .*--insecure.*EL_ERR_INSECURE_LISTENER/);
    const ro = await cli(
      ['rollout', 'serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir, '--mqtt', 'mqtt://127.0.0.1:1'],
      dir,
    );
    expect(ro.code).toBe(1);
    expect(ro.err).toMatch(/rollout controller: refusing to listen on 0\.0\.0\.0:0 .*EL_ERR_INSECURE_LISTENER/);
  });

  it('--insecure starts the registry on a non-loopback host and logs the warning', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [
        packagePath('bin', 'edgeloop.js'),
        'registry',
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--insecure',
        '--data-dir',
        dir,
      ],
      {
        env: { ...process.env, EDGELOOP_FROM_SOURCE: '1', EDGELOOP_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    onTestFinished(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const m = /registry listening on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${err}`)));
    });
    expect(await reachable(`http://127.0.0.1:${new URL(url).port}/healthz`)).toBe(200);
    expect(err).toMatch(/INSECURE: registry listens on 0\.0\.0\.0:0 without authentication/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
