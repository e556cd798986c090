/** `edgeloop recommend` as a real process: serves the shipped recommender, answers, exits 0 on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { SqliteFeatureStore } from '../../../cloud/feature-store/sqlite-feature-store.ts';

const bin = join(import.meta.dirname, '../../../bin/edgeloop.js');

it('edgeloop recommend serves recommendations from the feature store and stops cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-rec-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteFeatureStore({ path: join(dir, 'features.db') });
  await store.start();
  await store.put('device_features', {
    entityId: 'mill-9',
    eventTime: Date.now(),
    features: {
      air_temperature_k_last: 298.1,
      process_temperature_k_last: 308.6,
      rotational_speed_rpm_last: 1551,
      torque_nm_last: 42.8,
      tool_wear_min_last: 0,
      type_m_last: 1,
      type_l_last: 0,
      type_h_last: 0,
    },
  });
  await store.close();

  const child = spawn(process.execPath, [bin, 'recommend', '--data-dir', dir, '--port', '0'], {
    env: { ...process.env, EDGELOOP_HTTP__PORT: '0', EDGELOOP_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /recommend (http:\/\/[^/\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  const r = await fetch(`${url}/v1/recommendations/mill-9?k=2`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { model: { name: string }; actions: unknown[] };
  expect(body.actions).toHaveLength(2);
  expect((await fetch(`${url}/v1/recommendations/nobody`)).status).toBe(404);
  expect(((await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string }).openapi).toBe('3.1.0');
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  expect(code).toBe(0);
});
