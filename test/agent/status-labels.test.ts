import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent } from '../../agent/create-agent.ts';
import { validateDeviceMessage } from '../../protocol/messages.ts';
import { tempDir } from './helpers/temp-dir.ts';

describe('agent status labels', () => {
  it('reports the configured site and hardware in its status message (for the warehouse), and none when unset', async () => {
    const dir = tempDir();
    const base = { dataDir: join(dir, 'data'), transport: { kind: 'mqtt' as const, url: 'mqtt://127.0.0.1:1' } };
    const labelled = createAgent({ config: { deviceId: 'dev-1', site: 'plant-a', hardware: 'rpi4-4gb', ...base } });
    onTestFinished(() => labelled.close(0));
    const s = labelled.status();
    expect(s).toMatchObject({ site: 'plant-a', hardware: 'rpi4-4gb' });
    expect(validateDeviceMessage(JSON.parse(JSON.stringify(s)))).toMatchObject({
      site: 'plant-a',
      hardware: 'rpi4-4gb',
    });
    const plain = createAgent({ config: { deviceId: 'dev-2', ...base } });
    onTestFinished(() => plain.close(0));
    expect('site' in plain.status() || 'hardware' in plain.status()).toBe(false);
    expect(() => createAgent({ config: { deviceId: 'dev-3', site: '', ...base } })).toThrow(/site/);
  });
});
