import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startMosquitto } from './mosquitto.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test helper: startMosquitto', () => {
  it('runs a real mosquitto with the documented config, restarts on the same port and cleans up', async () => {
    const b = await startMosquitto();
    onTestFinished(() => b.close());
    const conf = readFileSync(b.configPath, 'utf8');
    expect(conf).toMatch(/^max_queued_messages 0$/m);
    expect(conf).toMatch(/^persistence false$/m);
    expect(conf).toMatch(new RegExp(`^listener ${b.port} 127\\.0\\.0\\.1$`, 'm'));
    const c = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    await c.publishAsync('h/t', 'x', { qos: 1 });
    await c.endAsync();
    const pid1 = b.pid!;
    await b.stop();
    expect(alive(pid1)).toBe(false);
    await expect(mqtt.connectAsync(b.url, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
    await b.restart();
    expect(b.pid).not.toBe(pid1);
    const c2 = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    await c2.endAsync();
    expect(b.log()).toMatch(/mosquitto version .* running/);
    const pid2 = b.pid!;
    await b.close();
    await b.close(); // idempotent
    expect(alive(pid2)).toBe(false);
    expect(() => readFileSync(b.configPath)).toThrow(/ENOENT/);
  });

  it('password file: refuses anonymous clients and wrong passwords, accepts the configured user', async () => {
    const b = await startMosquitto({ users: { alice: 'pw1' } });
    onTestFinished(() => b.close());
    await expect(mqtt.connectAsync(b.url, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    await expect(mqtt.connectAsync(b.url, { reconnectPeriod: 0, username: 'alice', password: 'nope' })).rejects.toThrow(
      /Not authorized|Bad user/i,
    );
    const ok = await mqtt.connectAsync(b.url, { reconnectPeriod: 0, username: 'alice', password: 'pw1' });
    await ok.endAsync();
  });

  it('TLS listener requires a client certificate from the generated CA', async () => {
    const b = await startMosquitto({ tls: true });
    onTestFinished(() => b.close());
    const c = b.certs!;
    const ok = await mqtt.connectAsync(b.tlsUrl!, {
      reconnectPeriod: 0,
      ca: c.ca,
      cert: c.clientCert,
      key: c.clientKey,
    });
    await ok.endAsync();
    await expect(
      mqtt.connectAsync(b.tlsUrl!, { reconnectPeriod: 0, ca: c.ca, connectTimeout: 1500 }),
    ).rejects.toThrow();
  });
});
