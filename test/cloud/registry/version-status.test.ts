import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { LocalArtifactStore } from '../../../cloud/registry/artifact-store.ts';
import { ModelRegistry } from '../../../cloud/registry/model-registry.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';

const key = testKeys();

it('keeps a version status (candidate / rejected with the reason); a registry of schema 1 gains the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'el-registry-status-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const open = () => {
    const r = new ModelRegistry({
      dbPath: join(dir, 'registry.db'),
      store: new LocalArtifactStore({ dir: join(dir, 'artifacts') }),
      trustedKeys: [key.publicKeyPem],
    });
    r.start();
    return r;
  };
  let registry = open();
  const v1 = makeTestModel({ version: '1.0.0', key });
  await registry.push({ manifest: v1.manifest, artifact: v1.onnx });
  registry.close();
  // a database written before the status table existed
  const db = new Database(join(dir, 'registry.db'));
  db.exec('DROP TABLE version_status; PRAGMA user_version = 1;');
  db.close();

  registry = open();
  onTestFinished(() => registry.close());
  expect(registry.status('anomaly', '1.0.0')).toBeUndefined();
  const name = registry.list()[0]!.name;
  registry.setStatus(name, '1.0.0', 'rejected', 'false alarms not lower', { falseAlarmRate: 0.02 });
  expect(registry.status(name, '1.0.0')).toMatchObject({
    status: 'rejected',
    reason: 'false alarms not lower',
    details: { falseAlarmRate: 0.02 },
  });
  registry.setStatus(name, '1.0.0', 'candidate');
  expect(registry.status(name, '1.0.0')).toMatchObject({ status: 'candidate', reason: undefined });
  expect(() => registry.setStatus(name, '9.9.9', 'candidate')).toThrow(/no such version/);
  expect(() => registry.setStatus(name, '1.0.0', 'Not OK')).toThrow(/status "Not OK" is invalid/);
});
