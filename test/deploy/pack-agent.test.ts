/**
 * scripts/pack-agent.mjs (`npm run pack:agent`): the agent's own install. The figures are the script's own
 * measurement of what it wrote; the tarball is unpacked into an empty temp folder (no node_modules above it) and the
 * agent runs from there: --help, then a short start against aedes with the default model scoring simulated readings.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { dependencyClosure, pruneRules } from '../../scripts/pack-agent.mjs';
import { collect, readingsOf } from '../agent/helpers/mqtt-collector.ts';
import { tempDir } from '../agent/helpers/temp-dir.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';

const root = join(import.meta.dirname, '..', '..');
const MB = 1e6;

interface PackResult {
  name: string;
  arch: string;
  tgz: string;
  artifactBytes: number;
  installedBytes: number;
  estimate: { arch: string; installedBytes: number };
}

describe('pack-agent: dependency closure (pure)', () => {
  const lock = {
    'node_modules/a': { version: '1.0.0', dependencies: { b: '^1', 'prebuild-install': '^7' } },
    'node_modules/b': { version: '1.0.0', dependencies: { c: '^2' } },
    'node_modules/b/node_modules/c': { version: '2.0.0' },
    'node_modules/c': { version: '1.0.0' },
    'node_modules/prebuild-install': { version: '7.0.0' },
  };

  it('resolves nested copies first, skips install-only helpers', () => {
    expect(dependencyClosure(lock, ['a'])).toEqual([
      'node_modules/a',
      'node_modules/b',
      'node_modules/b/node_modules/c',
    ]);
  });

  it('names a dependency missing from the lockfile and refuses dev packages', () => {
    expect(() => dependencyClosure(lock, ['zzz'])).toThrow('zzz (needed by the agent) is not in package-lock.json');
    expect(() => dependencyClosure({ 'node_modules/d': { version: '1', dev: true } }, ['d'])).toThrow('dev dependency');
  });

  it('keeps one platform of each native package', () => {
    expect(pruneRules('arm64')['onnxruntime-node']!.check).toBe('bin/napi-v6/linux/arm64');
    expect(pruneRules('x64')['aws-crt']!.check).toBe('dist/bin/linux-x64-glibc');
  });
});

describe('pack-agent: the packed agent', () => {
  let out: string;
  let packed: PackResult;
  let unpacked: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'edgeloop-pack-'));
    packed = JSON.parse(
      execFileSync(process.execPath, [join(root, 'scripts', 'pack-agent.mjs'), '--out', out, '--json'], {
        encoding: 'utf8',
      }),
    ) as PackResult;
    execFileSync('tar', ['-xzf', packed.tgz, '-C', out]);
    unpacked = join(out, packed.name);
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('is at most 60 MB packed and 120 MB installed, with this platform only and none of the toolkit', () => {
    expect(packed.name).toBe(`edgeloop-agent-0.1.0-linux-${process.arch}`);
    expect(packed.artifactBytes).toBeLessThanOrEqual(60 * MB);
    expect(packed.installedBytes).toBeLessThanOrEqual(120 * MB);
    expect(packed.estimate.installedBytes).toBeLessThanOrEqual(120 * MB);
    const files = execFileSync('tar', ['-tzf', packed.tgz], { encoding: 'utf8', maxBuffer: 64 * MB }).split('\n');
    const other = process.arch === 'x64' ? 'arm64' : 'x64';
    const offenders = files.filter(
      (f) =>
        /napi-v6\/(darwin|win32)|dist\/bin\/(darwin|win32)|-musl\/|@tensorflow|@duckdb|onnxruntime-web|node_modules\/fastify\/|node_modules\/aedes\//.test(
          f,
        ) ||
        f.includes(`napi-v6/linux/${other}`) ||
        f.includes(`dist/bin/linux-${other}-`),
    );
    expect(offenders).toEqual([]);
    for (const f of [
      'bin/edgeloop.js',
      'bin/edgeloop-agent',
      'docs/agent.md',
      'deploy/agent.env',
      'models/default/anomaly/model.onnx',
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    ]) {
      expect(files).toContain(`${packed.name}/${f}`);
    }
  });

  it('runs --help and refuses the toolkit-only commands with a clear message', () => {
    const help = execFileSync('sh', [join(unpacked, 'bin', 'edgeloop-agent'), '--help'], {
      cwd: unpacked,
      encoding: 'utf8',
    });
    expect(help).toContain('usage: edgeloop agent --config FILE');
    const r = spawnSync(process.execPath, [join(unpacked, 'bin', 'edgeloop.js'), 'up'], {
      cwd: unpacked,
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('holds the agent command only');
  });

  it('starts against aedes with the default model, publishes scored telemetry and stops on SIGTERM', {
    timeout: 90_000,
  }, async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir('edgeloop-packed-run-');
    const model = join(unpacked, 'models', 'default');
    const sensors = JSON.parse(readFileSync(join(model, 'anomaly', 'manifest.json'), 'utf8')).inputs
      .sensors as string[];
    const config = {
      deviceId: 'packed-1',
      dataDir: join(dir, 'data'),
      transport: { kind: 'mqtt', url: broker.url },
      models: { initial: [join(model, 'anomaly')], trustedKeys: [join(model, 'keys', 'edgeloop-default.pub')] },
      sources: { simulated: { sensors: sensors.map((name) => ({ name, base: 10, amplitude: 1 })), rateHz: 50 } },
      status: { intervalMs: 300 },
      logLevel: 'warn',
    };
    writeFileSync(join(dir, 'agent.yaml'), stringify(config));
    const msgs = await collect(broker.url, ['edgeloop/v1/packed-1/#']);
    const agent = spawn('sh', [join(unpacked, 'bin', 'edgeloop-agent'), '--config', join(dir, 'agent.yaml')], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    agent.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    onTestFinished(() => {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    });
    const scored = (m: { body: Record<string, unknown> }): boolean =>
      m.body.type === 'status' &&
      m.body.online === true &&
      ((m.body.inference as { windows?: number } | undefined)?.windows ?? 0) > 0;
    await Promise.race([
      msgs.waitFor((all) => readingsOf(all).length >= 100 && all.some(scored), 60_000),
      exited.then((code) => Promise.reject(new Error(`the packed agent exited with ${code}:\n${stderr}`))),
    ]);
    // modules the CLI loads on demand stay on demand in the bundle: an mqtt agent maps ONNX Runtime, not the AWS CRT
    // (bin/edgeloop-agent exec's node, so the child is the agent)
    const maps = readFileSync(`/proc/${agent.pid}/maps`, 'utf8');
    expect(maps).toContain('libonnxruntime.so');
    expect(maps).not.toContain('aws-crt-nodejs.node');
    agent.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
  });
});
