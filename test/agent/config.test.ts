import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../cli/load-config.ts';
import { AgentConfigSchema } from '../../agent/config.ts';
import { main } from '../../cli/main.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { collect, readingsOf } from './helpers/mqtt-collector.ts';
import { tempDir } from './helpers/temp-dir.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'docs', 'agent.example.yaml');
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'edgeloop.js');

function sink() {
  let out = '';
  return { stream: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, text: () => out };
}

describe('agent config', () => {
  it('the documented example config validates, with defaults filled in', () => {
    const c = loadConfig(AgentConfigSchema, { file: EXAMPLE, env: {} });
    expect(c.deviceId).toBeTruthy();
    expect(c.outbox.durability).toBe('normal');
    expect(c.outbox.batchMaxBytes).toBeLessThanOrEqual(128 * 1024);
  });

  it('errors name the field and the file; EDGELOOP_* overrides apply and are named', () => {
    const dir = tempDir();
    const f = join(dir, 'agent.yaml');
    writeFileSync(
      f,
      'deviceId: pump-1\ntransport: { kind: mqtt, url: "mqtt://127.0.0.1:1883" }\noutbox: { maxBytes: lots }\n',
    );
    expect(() => loadConfig(AgentConfigSchema, { file: f, env: {} })).toThrow(
      /agent\.yaml: outbox\.maxBytes: .*number/,
    );
    writeFileSync(
      f,
      'deviceId: pump-1\ntransport: { kind: mqtt, url: "mqtt://127.0.0.1:1883" }\noutbox: { maxbytes: 5 }\n',
    );
    expect(() => loadConfig(AgentConfigSchema, { file: f, env: {} })).toThrow(/outbox: Unrecognized key.*maxbytes/);
    writeFileSync(f, 'deviceId: pump-1\ntransport: { kind: mqtt, url: "mqtt://127.0.0.1:1883" }\n');
    const c = loadConfig(AgentConfigSchema, {
      file: f,
      env: { EDGELOOP_OUTBOX__DURABILITY: 'full', EDGELOOP_TRANSPORT__URL: 'mqtts://b:8883' },
    });
    expect(c.outbox.durability).toBe('full');
    expect(c.transport).toMatchObject({ kind: 'mqtt', url: 'mqtts://b:8883' });
    expect(() => loadConfig(AgentConfigSchema, { file: f, env: { EDGELOOP_OUTBOX__DURABILITY: 'fast' } })).toThrow(
      /outbox\.durability \(from EDGELOOP_OUTBOX__DURABILITY\)/,
    );
    writeFileSync(f, 'deviceId: fleet\ntransport: { kind: aws-iot, endpoint: "mqtts://x" }\n');
    expect(() => loadConfig(AgentConfigSchema, { file: f, env: {} })).toThrow(
      /agent\.yaml: deviceId: .*not "fleet"; transport\.endpoint: a host name without a scheme; transport\.certPath: required/,
    );
  });
});

describe('edgeloop agent (CLI)', () => {
  it('--check prints the validated config; a bad config exits 1 naming the field and file', async () => {
    const dir = tempDir();
    const f = join(dir, 'a.yaml');
    writeFileSync(f, 'deviceId: d1\ntransport: { kind: mqtt, url: "mqtt://127.0.0.1:1" }\n');
    const out = sink();
    const err = sink();
    expect(
      await main(['agent', '--config', f, '--check'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: dir }),
    ).toBe(0);
    expect(JSON.parse(out.text())).toMatchObject({ deviceId: 'd1', outbox: { durability: 'normal' } });
    writeFileSync(f, 'deviceId: d1\ntransport: { kind: mqtt, url: "http://x" }\n');
    expect(await main(['agent', '--config', f], { stdout: out.stream, stderr: err.stream, env: {}, cwd: dir })).toBe(1);
    expect(err.text()).toMatch(/a\.yaml: transport\.url: expected mqtt:\/\/.*\[EL_ERR_CONFIG_INVALID\]/);
    expect(await main(['agent', '--bogus'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: dir })).toBe(2);
    expect(err.text()).toMatch(/edgeloop agent: --bogus: unknown option \(expected one of --config/);
  });

  it('runs as a process: stdin readings are published, SIGTERM drains and exits 0', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const f = join(dir, 'a.yaml');
    writeFileSync(
      f,
      `deviceId: cli-dev\ndataDir: ${JSON.stringify(dir)}\ntransport: { kind: mqtt, url: "${broker.url}" }\noutbox: { batchLingerMs: 5 }\nlogLevel: warn\n`,
    );
    const sub = await collect(broker.url, ['edgeloop/v1/cli-dev/#']);
    const child = spawn(process.execPath, [BIN, 'agent', '--config', f, '--stdin'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    onTestFinished(() => void (child.exitCode === null && child.kill('SIGKILL')));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin!.write(
      '{"sensor":"t","value":1,"ts":1}\n{"sensor":"t","value":"bad"}\n{"sensor":"t","value":2,"ts":2}\n',
    );
    await sub.waitFor((m) => readingsOf(m).length === 2, 30_000);
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr).toMatch(/malformed input rejected/);
    await sub.waitFor((m) => m.some((x) => x.topic.endsWith('/status') && x.body.online === false));
    const status = sub.messages.filter((x) => x.topic.endsWith('/status')).at(-1)!.body;
    expect(status).toMatchObject({ online: false, rejected: 1, seq: 2, outbox: { depth: 0 } });
  });
});
