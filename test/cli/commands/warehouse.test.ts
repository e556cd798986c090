/**
 * `edgeloop warehouse` against a small cloud run in the test (embedded broker, ingest, stream, archive): devices
 * publish over MQTT, the archive commits, then every shell block of docs/query-the-fleet.md runs as written from
 * the repository (EDGELOOP_DATA_DIR points it at the test's cloud), and a failing check, a write through `query`
 * and a wrong report are refused with a readable message.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { hashPassword } from '../../../cloud/broker/password-hash.ts';
import type { RawArchive } from '../../../cloud/archive/raw-archive.ts';
import { encodeMessage, type DeviceMessage } from '../../../protocol/messages.ts';
import { cli, eventually } from '../../cloud/e2e/e2e-helpers.ts';
import { fleet, T0, tempDir } from '../../cloud/warehouse/fleet-fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DOC = join(ROOT, 'docs', 'query-the-fleet.md');

function topicOf(m: DeviceMessage): string {
  const kind = m.type === 'model-report' ? 'models/report' : m.type;
  return `edgeloop/v1/${m.deviceId}/${kind}`;
}

async function publishFleet(url: string): Promise<void> {
  const clients = new Map<string, MqttClient>();
  for (const id of ['dev-a', 'dev-b']) {
    const c = mqtt.connect(url, { clientId: id, username: id, password: `pw-${id}`, reconnectPeriod: 0 });
    onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    clients.set(id, c);
  }
  for (const m of fleet()) {
    await new Promise<void>((resolve, reject) =>
      clients.get(m.deviceId)!.publish(topicOf(m), encodeMessage(m), { qos: 1 }, (e) => (e ? reject(e) : resolve())),
    );
  }
}

/** the shell blocks of a docs page, as command lines */
function shellCommands(md: string): string[] {
  return [...md.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')),
  );
}

describe('edgeloop warehouse', () => {
  it('the docs page runs as written against a cloud that archived a small fleet; check fails readably; query is read-only', {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir();
    const creds = join(dir, 'credentials.yaml');
    const FAST = { N: 1024, r: 8, p: 1 };
    writeFileSync(
      creds,
      `devices:\n  dev-a: "${await hashPassword('pw-dev-a', FAST)}"\n  dev-b: "${await hashPassword('pw-dev-b', FAST)}"\n`,
    );
    const dataDir = join(dir, 'cloud');
    const cloud = createCloud(
      parseCloudConfig({
        dataDir,
        logLevel: 'silent',
        broker: { embedded: { port: 0, credentialsFile: creds } },
        http: { enabled: false },
        processor: { idleWaitMs: 20 },
        archive: { flushIntervalMs: 50, compactSettleMs: 0 },
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();
    await publishFleet(cloud.urls.mqtt!);
    const archive = cloud.parts.get('archive')!.instance as RawArchive;
    await eventually(
      async () =>
        archive.stats().rowsWritten.readings === 360 && archive.stats().rowsWritten.events === 11 ? true : undefined,
      'the archive to commit 360 readings',
      60_000,
    );
    await cloud.close();

    const env = { ...process.env, EDGELOOP_DATA_DIR: dataDir, NODE_OPTIONS: '' };
    const outputs: string[] = [];
    for (const cmd of shellCommands(readFileSync(DOC, 'utf8'))) {
      let out: string;
      try {
        out = execFileSync('sh', ['-c', cmd], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        throw new Error(`docs command failed (exit ${e.status}): ${cmd}\n${e.stdout}\n${e.stderr}`);
      }
      outputs.push(out);
    }
    const all = outputs.join('\n');
    expect(outputs[0]).toMatch(/^refresh #1: \d+ partitions loaded/);
    expect(outputs[0]).toMatch(/PASS  reconcile-ingest\s+371 readings and events of 2 devices/);
    expect(all).not.toMatch(/FAIL/);
    // model-impact: three versions of anomaly
    expect(outputs[3]).toMatch(/anomaly\s+1\s+2\s+240\s+8/);
    expect(outputs[3]).toMatch(/anomaly\s+3\s+1\s+60\s+0/);
    // device-history of dev-a: three versions, the last current
    expect(
      outputs[5]!
        .trim()
        .split('\n')
        .filter((l) => /^\d+\s/.test(l)),
    ).toHaveLength(3);
    expect(outputs[5]).toContain(new Date(T0 + 3_600_000).toISOString().slice(0, 10));
    expect(outputs[7]!.trim()).toBe('{"sensor":"temp","readings":360,"mean":89.5}');
    // site-trend of the first site only
    expect(outputs[8]).toMatch(/^site\s+day\s+devices/);
    expect(outputs[8]).toContain('plant-a');
    expect(outputs[8]).not.toContain('plant-b');

    // a lost archive file: reconcile-ingest fails, exit 1, readable
    const readings = join(dataDir, 'archive', 'readings');
    const day = readdirSync(readings)[0]!;
    rmSync(join(readings, day, 'hour=09'), { recursive: true });
    const failed = await cli(['warehouse', 'refresh', '--data-dir', dataDir]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(
      /^FAIL  reconcile-ingest\s+the ingest accepted 371 readings and events .* the warehouse holds 251 \(120 missing\), e.g. dev-a: ingest 189, warehouse 129/m,
    );
    expect(failed.stderr).toContain('1 check(s) failed: reconcile-ingest [EL_ERR_WAREHOUSE_CHECK_FAILED]');
    const check = await cli(['warehouse', 'check', '--data-dir', dataDir]);
    expect(check.code).toBe(1);

    const write = await cli(['warehouse', 'query', 'DELETE FROM fact_reading', '--data-dir', dataDir]);
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/read-only/i);
    const rows = await cli([
      'warehouse',
      'query',
      'SELECT count(*) AS n FROM fact_reading',
      '--data-dir',
      dataDir,
      '--format',
      'csv',
    ]);
    expect(rows.stdout).toBe('n\n240\n');
    const bad = await cli(['warehouse', 'report', 'fleet-wealth', '--data-dir', dataDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'unknown report "fleet-wealth"; reports: fleet-health, device-history, model-impact, site-trend',
    );
    const noDev = await cli(['warehouse', 'report', 'device-history', '--data-dir', dataDir]);
    expect(noDev.stderr).toContain('needs a device id');
  });

  it('says what is missing when there is no archive or no warehouse', async () => {
    const dir = tempDir();
    const r = await cli(['warehouse', 'refresh', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no raw archive in .*archive does not exist/);
    const q = await cli(['warehouse', 'query', 'SELECT 1', '--data-dir', dir]);
    expect(q.stderr).toMatch(/no warehouse in .*warehouse\.duckdb does not exist.*edgeloop warehouse refresh/);
    const u = await cli(['warehouse', 'frobnicate', '--data-dir', dir]);
    expect(u.code).toBe(2);
  });
});
