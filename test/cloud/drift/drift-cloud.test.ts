/**
 * The drift monitors inside `edgeloop cloud`: with a `drift:` section the cloud runs the drift part, the processor
 * feeds it every feature write and every status message it reads from the stream, and `edgeloop drift status`
 * reads what they stored.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { buildReference, withManifestBaseline } from '../../../cloud/drift/reference.ts';
import { cloudDriftPart, streamPart } from '../../../cloud/parts/index.ts';
import { encodeMessage, type StatusMessage } from '../../../protocol/messages.ts';
import { Prng } from '../../../lib/prng.ts';
import { runCli } from '../../cli/cli-process.ts';

describe('drift in the cloud', () => {
  it('observes what the processor reads and writes; edgeloop drift status shows the stored state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-drift-cloud-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const prng = new Prng(5);
    const ref = withManifestBaseline(
      buildReference({ temp_last: Array.from({ length: 2000 }, () => 20 + 2 * prng.normal()) }),
      {
        name: 'anomaly',
        version: '1.0.0',
        metrics: { trainingFlagRate: 0.01 },
      },
    );
    writeFileSync(join(dir, 'reference.json'), JSON.stringify(ref));
    const config = parseCloudConfig({
      dataDir: join(dir, 'cloud'),
      broker: { embedded: { port: 0, allowAnonymous: true } },
      http: { enabled: false },
      drift: { references: ['reference.json'], intervalMs: 60_000, policy: { minSamples: 5 } },
    });
    const cloud = createCloud(config, { cwd: dir });
    onTestFinished(() => cloud.close());
    await cloud.start();
    expect([...cloud.parts.keys()]).toContain('drift');
    const drift = cloud.get(cloudDriftPart);
    const stream = cloud.get(streamPart).instance;
    const now = Date.now();
    const ids = Array.from({ length: 20 }, (_, i) => `d-${i}`);
    const status = (deviceId: string): StatusMessage => ({
      v: 1,
      type: 'status',
      deviceId,
      seq: 0,
      ts: now,
      online: true,
      models: [{ name: 'anomaly', version: '1.0.0' }],
    });
    await stream.put(ids.map((id) => ({ partitionKey: id, data: encodeMessage(status(id)) })));
    for (let k = 0; k < 10; k++) {
      const ts = now - 60_000 + k * 1000;
      await stream.put(
        ids.map((id) => ({
          partitionKey: id,
          data: encodeMessage({
            v: 1,
            type: 'telemetry',
            deviceId: id,
            seq: k + 1,
            sentAt: ts,
            readings: [{ seq: k + 1, sensor: 'temp', ts, value: 20 + 2 * prng.normal() }],
          }),
        })),
      );
    }
    // every device became known to the monitors through the processor (status, then feature writes)
    const deadline = Date.now() + 30_000;
    while ((await drift.status()).devices < ids.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect((await drift.status()).devices).toBe(ids.length);
    await drift.check();
    await cloud.close();

    const r = await runCli(['drift', 'status', '--data-dir', join(dir, 'cloud'), '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { monitors: Array<{ subject: { kind: string; id: string }; state: string }> };
    expect(out.monitors.length).toBeGreaterThan(0);
    expect(out.monitors.every((m) => m.state !== 'drift')).toBe(true);
    const text = await runCli(['drift', 'status', '--data-dir', join(dir, 'cloud')], { cwd: dir });
    expect(text.stdout).toMatch(/^\d+ monitors, 0 drifting/);
    const none = await runCli(['drift', 'status', '--data-dir', join(dir, 'nothing-here')], { cwd: dir });
    expect(none.code).toBe(1);
  });
});
