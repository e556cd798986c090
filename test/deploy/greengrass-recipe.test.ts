/**
 * deploy/greengrass/recipe.yaml, run the way the Greengrass nucleus runs it: the artifact is zipped, unzipped into
 * `{artifacts:decompressedPath}/<zip name without .zip>/`, the recipe variables are interpolated, and the Install and
 * Run lifecycle scripts run under `sh -c` in `{work:path}`. Run connects with the recipe's own transport (aws-iot,
 * mutual TLS with the "thing" certificate) to a local mosquitto whose TLS listener requires a client certificate,
 * and the retained status of the thing must arrive with the default model loaded from the artifact.
 *
 * The artifact is the Greengrass zip of the packed agent (`npm run pack:agent -- --zip`), what a user uploads.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { collect } from '../agent/helpers/mqtt-collector.ts';
import { tempDir } from '../agent/helpers/temp-dir.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import {
  artifactFolder,
  interpolate,
  lifecycleScript,
  nucleusArchitecture,
  selectManifest,
  spawnLifecycle,
  type NucleusPaths,
  type Recipe,
} from '../helpers/greengrass-nucleus.ts';

const root = join(import.meta.dirname, '..', '..');
const recipe = parse(readFileSync(join(root, 'deploy', 'greengrass', 'recipe.yaml'), 'utf8')) as Recipe;
const defaults = recipe.ComponentConfiguration?.DefaultConfiguration ?? {};

function exitOf(child: ChildProcess): Promise<{ code: number | null; output: string }> {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('Greengrass recipe: the nucleus view', () => {
  it('has a manifest for linux aarch64 and amd64 whose zip artifacts all unpack to the folder the lifecycle uses', () => {
    for (const arch of ['aarch64', 'amd64']) {
      const m = selectManifest(recipe, 'linux', arch);
      const paths: NucleusPaths = {
        artifactsPath: '/gg/a',
        decompressedPath: '/gg/d',
        workPath: '/gg/w',
        thingName: 't',
      };
      const scripts = ['Install', 'Run'].map((s) => interpolate(lifecycleScript(m, s), paths, defaults)).join('\n');
      const zips = (m.Artifacts ?? []).filter((a) => a.Unarchive === 'ZIP');
      expect(zips.length).toBe(1);
      const folder = artifactFolder(paths.decompressedPath, zips[0]!.URI);
      // every path under decompressedPath that the scripts name is inside the folder of the zip
      const named = [...scripts.matchAll(/\/gg\/d\/[^\s\]]+/g)].map((x) => x[0]);
      expect(named.length).toBeGreaterThan(0);
      for (const p of named) expect(p.startsWith(folder + '/'), `${p} is not under ${folder}/`).toBe(true);
    }
  });

  it('interpolation names a variable the recipe has no value for', () => {
    const paths: NucleusPaths = { artifactsPath: '/a', decompressedPath: '/d', workPath: '/w', thingName: 't' };
    expect(interpolate('x {work:path} {configuration:/port} { host: 1 }', paths, { port: 8883 })).toBe(
      'x /w 8883 { host: 1 }',
    );
    expect(() => interpolate('{configuration:/nope} {kernel:rootPath}', paths, {})).toThrow(
      '{configuration:/nope}, {kernel:rootPath}',
    );
  });

  it('Install writes a config whose model and key paths exist, and Run connects as the thing over mutual TLS', {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir('edgeloop-gg-');
    execFileSync(process.execPath, [
      join(root, 'scripts', 'pack-agent.mjs'),
      '--out',
      join(dir, 'build'),
      '--zip',
      '--json',
    ]);

    const manifest = selectManifest(recipe, 'linux', nucleusArchitecture());
    const zipArtifact = manifest.Artifacts!.find((a) => a.Unarchive === 'ZIP')!;
    const zipName = zipArtifact.URI.slice(zipArtifact.URI.lastIndexOf('/') + 1);
    const paths: NucleusPaths = {
      artifactsPath: join(dir, 'packages', 'artifacts', recipe.ComponentName, recipe.ComponentVersion),
      decompressedPath: join(dir, 'packages', 'artifacts-unarchived', recipe.ComponentName, recipe.ComponentVersion),
      workPath: join(dir, 'work', recipe.ComponentName),
      thingName: 'gg-core-1',
    };
    for (const p of [paths.artifactsPath, paths.decompressedPath, paths.workPath]) mkdirSync(p, { recursive: true });
    copyFileSync(join(dir, 'build', zipName), join(paths.artifactsPath, zipName));
    const unpacked = artifactFolder(paths.decompressedPath, zipArtifact.URI);
    execFileSync('unzip', ['-q', join(paths.artifactsPath, zipName), '-d', unpacked]);

    const broker = await startMosquitto({ tls: true, requireClientCert: true });
    onTestFinished(() => broker.close());
    const certs = broker.certs!;
    const configuration = {
      ...defaults,
      endpoint: '127.0.0.1',
      port: broker.tlsPort,
      certPath: certs.clientCertPath,
      keyPath: certs.clientKeyPath,
      caPath: certs.caPath,
      httpPort: 0,
    };

    const install = await exitOf(
      spawnLifecycle(interpolate(lifecycleScript(manifest, 'Install'), paths, configuration), paths),
    );
    expect(install.code, install.output).toBe(0);
    const configFile = join(paths.workPath, 'agent.yaml');
    const checked = JSON.parse(
      execFileSync(
        process.execPath,
        [join(unpacked, 'bin', 'edgeloop.js'), 'agent', '--config', configFile, '--check'],
        { encoding: 'utf8' },
      ),
    ) as {
      deviceId: string;
      transport: { kind: string; port: number };
      models: { initial: string[]; trustedKeys: string[] };
    };
    expect(checked.deviceId).toBe('gg-core-1');
    for (const p of [...checked.models.initial, ...checked.models.trustedKeys])
      expect(existsSync(p), `${p} exists`).toBe(true);
    expect(existsSync(join(checked.models.initial[0]!, 'manifest.json'))).toBe(true);
    expect(checked.transport).toMatchObject({ kind: 'aws-iot', port: broker.tlsPort });

    const status = await collect(broker.url, ['edgeloop/v1/gg-core-1/status']);
    const run = spawnLifecycle(interpolate(lifecycleScript(manifest, 'Run'), paths, configuration), paths);
    const ran = exitOf(run);
    onTestFinished(() => {
      if (run.exitCode === null) run.kill('SIGKILL');
    });
    await Promise.race([
      status.waitFor(
        (msgs) => msgs.some((m) => m.body.online === true && Array.isArray(m.body.models) && m.body.models.length > 0),
        60_000,
      ),
      ran.then((r) => Promise.reject(new Error(`Run exited with ${r.code} before the status arrived:\n${r.output}`))),
    ]);
    // the nucleus stops a component with SIGTERM; Run exec's the agent, so the signal reaches it
    run.kill('SIGTERM');
    const stopped = await ran;
    expect(stopped.code, stopped.output).toBe(0);
  });
});
