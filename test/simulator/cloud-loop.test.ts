/**
 * The simulator against the embedded cloud (createCloud: authenticating broker, ingest, stream, processor,
 * feature store) on loopback: nothing is lost through a broker outage and a network partition, as seen by the
 * privileged observer and by the ingest's own count of new readings.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud } from '../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../cloud/config.ts';
import { hashPassword } from '../../cloud/broker/password-hash.ts';
import { runSimulation } from '../../simulator/run-simulation.ts';
import { deviceIds } from '../../simulator/build-fleet.ts';
import { featureStoreProbe, streamProbe } from '../../simulator/probes/pipeline-probes.ts';
import type { Stream } from '../../cloud/stream/stream.ts';
import type { FeatureStore } from '../../cloud/feature-store/feature-store.ts';

describe('simulator × embedded cloud', () => {
  it('delivers every reading into the stream through a broker outage and a partition', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'el-sim-cloud-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const credentialsFile = join(dir, 'credentials.json');
    writeFileSync(
      credentialsFile,
      JSON.stringify({ services: { observer: await hashPassword('secret', { N: 1024, r: 8, p: 1 }) } }),
    );
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        logLevel: 'silent',
        broker: { mode: 'embedded', embedded: { host: '127.0.0.1', port: 0, credentialsFile, allowAnonymous: true } },
        http: { enabled: false },
      } as never),
    );
    await cloud.start();
    onTestFinished(() => cloud.close());
    const ingest = cloud.parts.get('ingest')!.instance as { stats(): { readings: number; duplicateRecords: number } };

    const r = await runSimulation(
      {
        url: cloud.urls.mqtt!,
        devices: 25,
        durationSec: 6,
        messageRate: 2,
        reconnect: { minMs: 50, maxMs: 500 },
        faults: [
          { kind: 'broker-restart', atSec: 1, durationSec: 1 },
          { kind: 'partition', atSec: 3, durationSec: 1.5, share: 0.2, style: 'blackhole' },
        ],
        drainTimeoutSec: 20,
      },
      {
        observerCredentials: { username: 'observer', password: 'secret' },
        probes: [
          streamProbe(cloud.parts.get('stream')!.instance as Stream),
          featureStoreProbe(cloud.parts.get('feature-store')!.instance as FeatureStore, {
            deviceIds: () => deviceIds('sim-', 25),
          }),
        ],
      },
    );
    expect(r.delivery.complete).toBe(true);
    expect(r.delivery.missing).toBe(0);
    expect(r.faults.map((f) => [f.kind, f.drainMs !== null])).toEqual([
      ['broker-restart', true],
      ['partition', true],
    ]);
    expect(r.faults[0]!.notes).toMatch(/outage at the network/);
    expect(r.connect.connects).toBeGreaterThan(25);
    // the ingest saw each reading once, duplicates (re-sends after the outage) removed
    const deadline = Date.now() + 10_000;
    while (ingest.stats().readings < r.delivery.expected && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    expect(ingest.stats().readings).toBe(r.delivery.expected);
    // device time → stream for every reading (exactly once: the ingest removed the re-sent duplicates)
    expect(r.latency.stages.stream!.count).toBe(r.delivery.expected);
    expect(r.latency.stages.stream!.p50).toBeGreaterThanOrEqual(0);
    expect(r.latency.stages['feature store']!.count).toBeGreaterThan(0);
  });
});
