import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { LocalArtifactStore } from '../../../cloud/registry/artifact-store.ts';
import { ModelRegistry, type AliasEvent } from '../../../cloud/registry/model-registry.ts';
import { RegistryServer, parseRange } from '../../../cloud/registry/registry-server.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';

const key = testKeys();
const otherKey = testKeys();

function setup(opts: { allowLocalPaths?: boolean; apiToken?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'el-registry-'));
  const clock = new ManualClock(1_000);
  const registry = new ModelRegistry({
    dbPath: join(dir, 'registry.db'),
    store: new LocalArtifactStore({ dir: join(dir, 'artifacts') }),
    trustedKeys: [key.publicKeyPem],
    clock,
  });
  registry.start();
  const server = new RegistryServer({ registry, port: 0, ...opts });
  onTestFinished(async () => {
    await server.close();
    registry.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, clock, registry, server };
}

describe('ModelRegistry', () => {
  it('stores versions with metrics, training summary and lineage, and resolves versions and aliases', async () => {
    const { registry, clock } = setup();
    const v1 = makeTestModel({ version: '1.0.0', key });
    const v2 = makeTestModel({ version: '1.1.0', key, scale: 1.5, parentVersion: '1.0.0' });
    expect((await registry.push({ manifest: v1.manifest, artifact: v1.onnx })).created).toBe(true);
    clock.advance(10);
    await registry.push({ manifest: v2.manifest, artifact: v2.onnx });
    const rec = registry.get('pump-ae', '1.1.0')!;
    expect(rec.parentVersion).toBe('1.0.0');
    expect(rec.dataHash).toMatch(/^sha256:/);
    expect(rec.metrics).toEqual({ auc: 0.93, f1: 0.71 });
    expect(rec.training.features).toEqual({ vibration: { mean: 0, std: 1, p05: -1.64, p95: 1.64 } });
    expect(rec.keyId).toBe(key.keyId);
    expect(registry.resolve('pump-ae').version).toBe('1.1.0');
    expect(registry.list()).toEqual([
      { name: 'pump-ae', versions: 2, latest: '1.1.0', latestPushedAt: 1010, aliases: {} },
    ]);
    // pushing the same version again is a no-op; a different one with the same version is a conflict
    expect((await registry.push({ manifest: v1.manifest, artifact: v1.onnx })).created).toBe(false);
    const clash = makeTestModel({ version: '1.0.0', key, scale: 3 });
    await expect(registry.push({ manifest: clash.manifest, artifact: clash.onnx })).rejects.toMatchObject({
      code: 'EL_ERR_REGISTRY_CONFLICT',
    });

    const events: AliasEvent[] = [];
    registry.on('alias', (e) => events.push(e));
    registry.setAlias('pump-ae', 'production', '1.0.0');
    clock.advance(5);
    registry.setAlias('pump-ae', 'production', '1.1.0');
    registry.setAlias('pump-ae', 'production', '1.1.0'); // unchanged: no event
    expect(events.map((e) => [e.version, e.previous])).toEqual([
      ['1.0.0', undefined],
      ['1.1.0', '1.0.0'],
    ]);
    expect(registry.resolve('pump-ae', 'production').version).toBe('1.1.0');
    expect(registry.aliasHistory('pump-ae', 'production').map((h) => h.version)).toEqual(['1.1.0', '1.0.0']);
    expect(() => registry.setAlias('pump-ae', 'canary', '9.9')).toThrow(
      expect.objectContaining({ code: 'EL_ERR_REGISTRY_NOT_FOUND' }),
    );
    expect(() => registry.setAlias('pump-ae', 'bad alias', '1.0.0')).toThrow(
      expect.objectContaining({ code: 'EL_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => registry.resolve('pump-ae', 'nope')).toThrow(/no such version or alias/);
  });

  it('refuses manifests that do not verify: wrong key, tampered manifest, artifact mismatch, unsigned', async () => {
    const { registry } = setup();
    const good = makeTestModel({ version: '1', key });
    const wrongKey = makeTestModel({ version: '2', key: otherKey });
    await expect(registry.push({ manifest: wrongKey.manifest, artifact: wrongKey.onnx })).rejects.toMatchObject({
      code: 'EL_ERR_REGISTRY_UNTRUSTED',
      details: { reason: 'EL_ERR_MODEL_UNTRUSTED_KEY' },
    });
    const tampered = { ...good.manifest, threshold: 99 };
    await expect(registry.push({ manifest: tampered, artifact: good.onnx })).rejects.toMatchObject({
      details: { reason: 'EL_ERR_MODEL_SIGNATURE' },
    });
    const other = makeTestModel({ version: '1', key, scale: 2 });
    await expect(registry.push({ manifest: good.manifest, artifact: other.onnx })).rejects.toMatchObject({
      details: { reason: 'EL_ERR_MODEL_HASH' },
    });
    const { signature: _s, ...unsigned } = good.manifest;
    await expect(registry.push({ manifest: unsigned, artifact: good.onnx })).rejects.toMatchObject({
      details: { reason: 'EL_ERR_MODEL_UNSIGNED' },
    });
    expect(registry.list()).toEqual([]);
  });

  it('keeps metadata across a restart', async () => {
    const { registry, dir } = setup();
    const v1 = makeTestModel({ version: '1', key });
    await registry.push({ manifest: v1.manifest, artifact: v1.onnx });
    registry.setAlias('pump-ae', 'canary', '1');
    registry.close();
    const again = new ModelRegistry({
      dbPath: join(dir, 'registry.db'),
      store: new LocalArtifactStore({ dir: join(dir, 'artifacts') }),
      trustedKeys: [key.publicKeyPem],
    });
    onTestFinished(() => again.close());
    again.start();
    expect(again.resolve('pump-ae', 'canary').manifest).toEqual(v1.manifest);
    expect(() => registry.list()).toThrow(expect.objectContaining({ code: 'EL_ERR_CLOSED' }));
  });

  it('rejects unknown options', () => {
    expect(
      () =>
        new ModelRegistry({
          dbPath: ':memory:',
          store: new LocalArtifactStore({ dir: '/tmp/x' }),
          trustedKeys: [],
          requireSignatures: true,
        } as never),
    ).toThrow(/unknown option "requireSignatures"/);
  });
});

describe('parseRange', () => {
  it.each([
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=50-500', 100, { start: 50, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=5-1', 100, undefined],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    [undefined, 100, undefined],
  ] as const)('%s of %i bytes', (h, size, want) => {
    expect(parseRange(h, size)).toEqual(want);
  });
});

describe('RegistryServer', () => {
  it('serves the API and artifacts with ranges, ETag, 206 and 416 over real HTTP', async () => {
    const { server } = setup();
    await server.start();
    const v1 = makeTestModel({ version: '1.0.0', key });
    const push = await fetch(`${server.url}/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ manifest: v1.manifest, artifact: Buffer.from(v1.onnx).toString('base64') }),
    });
    expect(push.status).toBe(201);
    const pushed = (await push.json()) as { version: { artifactUrl: string; sha256: string } };
    expect(pushed.version.artifactUrl).toBe(`${server.url}/v1/artifacts/${v1.manifest.artifact.sha256}`);

    const full = await fetch(pushed.version.artifactUrl);
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(`"${v1.manifest.artifact.sha256}"`);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(v1.onnx))).toBe(true);

    const part = await fetch(pushed.version.artifactUrl, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${v1.onnx.byteLength}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(v1.onnx.subarray(10, 20)))).toBe(true);

    const tail = await fetch(pushed.version.artifactUrl, { headers: { range: `bytes=${v1.onnx.byteLength - 5}-` } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(Buffer.from(v1.onnx.subarray(-5)))).toBe(true);

    const bad = await fetch(pushed.version.artifactUrl, { headers: { range: `bytes=${v1.onnx.byteLength}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${v1.onnx.byteLength}`);
    await bad.arrayBuffer();

    const stale = await fetch(pushed.version.artifactUrl, { headers: { range: 'bytes=0-3', 'if-range': '"other"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
    const cached = await fetch(pushed.version.artifactUrl, {
      headers: { 'if-none-match': `"${v1.manifest.artifact.sha256}"` },
    });
    expect(cached.status).toBe(304);

    const head = await fetch(pushed.version.artifactUrl, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(v1.onnx.byteLength));

    const missing = await fetch(`${server.url}/v1/artifacts/${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'EL_ERR_REGISTRY_NOT_FOUND' } });

    const alias = await fetch(`${server.url}/v1/models/pump-ae/aliases/production`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '1.0.0' }),
    });
    expect(await alias.json()).toMatchObject({ alias: 'production', version: '1.0.0' });
    const show = (await (await fetch(`${server.url}/v1/models/pump-ae/versions/production`)).json()) as {
      version: string;
      manifest: unknown;
      training: unknown;
    };
    expect(show.version).toBe('1.0.0');
    expect(show.manifest).toEqual(v1.manifest);
    const list = (await (await fetch(`${server.url}/v1/models`)).json()) as { models: unknown[] };
    expect(list.models).toEqual([expect.objectContaining({ name: 'pump-ae', aliases: { production: '1.0.0' } })]);
  });

  it('answers 422 for an untrusted push, 400 for path pushes when disabled, 401 without the token', async () => {
    const { server, dir } = setup({ apiToken: 's3cret' });
    const wrong = makeTestModel({ version: '1', key: otherKey });
    const body = JSON.stringify({ manifest: wrong.manifest, artifact: Buffer.from(wrong.onnx).toString('base64') });
    const noAuth = await server.app.inject({
      method: 'POST',
      url: '/v1/models',
      payload: body,
      headers: { 'content-type': 'application/json' },
    });
    expect(noAuth.statusCode).toBe(401);
    const auth = { 'content-type': 'application/json', authorization: 'Bearer s3cret' };
    const untrusted = await server.app.inject({ method: 'POST', url: '/v1/models', payload: body, headers: auth });
    expect(untrusted.statusCode).toBe(422);
    expect(untrusted.json()).toMatchObject({ error: { code: 'EL_ERR_REGISTRY_UNTRUSTED' } });
    const byPath = await server.app.inject({
      method: 'POST',
      url: '/v1/models',
      payload: { manifest: wrong.manifest, path: join(dir, 'x.onnx') },
      headers: auth,
    });
    expect(byPath.statusCode).toBe(400);
    expect(byPath.json().error.message).toMatch(/allowLocalPaths/);
  });
});

describe('registry part: trusted key directories', () => {
  it('trusts every *.pub of a configured directory, including a key added while it runs', async () => {
    const { createRegistryPart } = await import('../../../cloud/registry/registry-part.ts');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'el-registry-keys-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    writeFileSync(join(keys, 'first.pub'), key.publicKeyPem);
    const part = createRegistryPart({ dataDir: join(dir, 'data'), port: 0, trustedKeys: [keys] });
    await part.start();
    onTestFinished(() => part.close());
    const reg = part.instance.registry;
    const a = makeTestModel({ version: '1.0.0', key });
    expect((await reg.push({ manifest: a.manifest, artifact: a.onnx })).created).toBe(true);
    const b = makeTestModel({ version: '1.1.0', key: otherKey });
    await expect(reg.push({ manifest: b.manifest, artifact: b.onnx })).rejects.toMatchObject({
      code: 'EL_ERR_REGISTRY_UNTRUSTED',
      message: expect.stringMatching(/not among the trusted keys/),
    });
    // `edgeloop models keygen` into the trusted directory: no restart needed
    writeFileSync(join(keys, 'second.pub'), otherKey.publicKeyPem);
    expect((await reg.push({ manifest: b.manifest, artifact: b.onnx })).created).toBe(true);
    // a file that is not a key is not silently skipped
    expect(() => createRegistryPart({ dataDir: join(dir, 'data2'), trustedKeys: [join(dir, 'missing')] })).toThrow(
      /registry.trustedKeys: trusted key .*missing/,
    );
  });
});
