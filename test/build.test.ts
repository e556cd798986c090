/**
 * The compiled tree (scripts/build.mjs): every module runs under plain node with no TypeScript loader, shipped
 * files are found from it, no relative `.ts` specifier survives, and bin/edgeloop.js uses it only while it is up
 * to date with the sources. bin/edgeloop-agent applies the device memory profile of deploy/agent.env.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distIsFresh, scanSources } from '../scripts/build-info.mjs';
import { startTestBroker } from './helpers/aedes-broker.ts';
import { tempDir } from './agent/helpers/temp-dir.ts';

const root = join(import.meta.dirname, '..');
const out = join(root, 'node_modules', '.cache', `edgeloop-build-test-${process.pid}`);
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** run `main(args)` of the compiled CLI in a plain node process (no loader); returns [exit code, stdout, stderr] */
function compiledCli(args: string[]): [number | null, string, string] {
  const code = `const { main } = await import(${JSON.stringify(join(out, 'cli', 'main.js'))}); process.exitCode = await main(${JSON.stringify(args)});`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return [r.status, r.stdout, r.stderr];
}

function* jsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* jsFiles(p);
    else if (e.name.endsWith('.js')) yield p;
  }
}

describe('scripts/build.mjs', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet', '--out', out]);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('compiles every source module, copies the assets and records what it was built from', () => {
    const scan = scanSources(root);
    const info = JSON.parse(readFileSync(join(out, 'build-info.json'), 'utf8')) as { sources: number };
    expect(info.sources).toBe(scan.files.length);
    const compiled = new Set([...jsFiles(out)].map((f) => f.slice(out.length + 1)));
    const missing = scan.files
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(root.length + 1).replace(/\.ts$/, '.js'))
      .filter((f) => !compiled.has(f));
    expect(missing).toEqual([]);
    for (const asset of ['cloud/recommend/response-log-worker.mjs', 'cloud/dashboard/public/index.html']) {
      expect(readFileSync(join(out, asset), 'utf8')).toBe(readFileSync(join(root, asset), 'utf8'));
    }
    expect(distIsFresh(root, out)).toBe(true);
  });

  it('leaves no relative .ts module specifier in the compiled code', () => {
    const offenders: string[] = [];
    for (const f of jsFiles(out)) {
      const m = /["'`]\.{1,2}\/[^"'`\n]*\.ts["'`]/.exec(readFileSync(f, 'utf8'));
      if (m) offenders.push(`${f.slice(out.length + 1)}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });

  it('runs under plain node: --version, a lazily loaded command, and the shipped models found from dist', () => {
    expect(compiledCli(['--version'])).toEqual([0, `${version}\n`, '']);
    const [code, stdout] = compiledCli(['agent', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/usage: edgeloop agent --config FILE/);
    const key = join(root, 'models', 'default', 'keys', 'edgeloop-default.pub');
    const [vcode, vout, verr] = compiledCli([
      'models',
      'verify',
      '--model',
      join(root, 'models', 'default', 'anomaly'),
      '--key',
      key,
    ]);
    expect(verr).toBe('');
    expect(vcode).toBe(0);
    expect(vout).toMatch(/edgeloop-default-anomaly/);
  });
});

describe('distIsFresh', () => {
  it('is true only while no source file is newer than the build and none was added or removed', () => {
    const r = tempDir();
    mkdirSync(join(r, 'agent'), { recursive: true });
    mkdirSync(join(r, 'dist'), { recursive: true });
    writeFileSync(join(r, 'agent', 'a.ts'), 'export const a = 1;\n');
    const record = (): void => {
      const s = scanSources(r);
      writeFileSync(
        join(r, 'dist', 'build-info.json'),
        JSON.stringify({ sources: s.files.length, newestMtimeMs: s.newestMtimeMs }),
      );
    };
    expect(distIsFresh(r)).toBe(false); // no build-info yet
    record();
    expect(distIsFresh(r)).toBe(true);
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(r, 'agent', 'a.ts'), later, later);
    expect(distIsFresh(r)).toBe(false); // edited
    record();
    writeFileSync(join(r, 'agent', 'b.ts'), '');
    utimesSync(join(r, 'agent', 'b.ts'), new Date(0), new Date(0));
    expect(distIsFresh(r)).toBe(false); // added (even with an old mtime)
    record();
    rmSync(join(r, 'agent', 'b.ts'));
    expect(distIsFresh(r)).toBe(false); // removed
    // tests are not compiled: adding one changes nothing
    record();
    writeFileSync(join(r, 'agent', 'a.test.ts'), '');
    expect(distIsFresh(r)).toBe(true);
  });
});

describe('bin/edgeloop-agent', () => {
  it('runs the agent with the V8 flags and malloc settings of deploy/agent.env; variables already set win', async () => {
    const broker = await startTestBroker();
    const dir = tempDir();
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      `deviceId: profile-1\ndataDir: ${JSON.stringify(join(dir, 'data'))}\ntransport: { kind: mqtt, url: "${broker.url}" }\ninference: { enabled: false }\n`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '3' };
    delete env.MALLOC_MMAP_THRESHOLD_;
    delete env.EDGELOOP_NODE_FLAGS;
    const child = spawn(join(root, 'bin', 'edgeloop-agent'), ['--config', config], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', () => stderr.includes('running') && resolve());
        child.once('exit', (c) => reject(new Error(`agent exited with ${c}: ${stderr}`)));
      });
      // the wrapper exec()s node: same pid
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const environ = new Map(
        readFileSync(`/proc/${child.pid}/environ`, 'utf8')
          .split('\0')
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const profile = readFileSync(join(root, 'deploy', 'agent.env'), 'utf8');
      const flags = /^EDGELOOP_NODE_FLAGS="(.*)"$/m.exec(profile)![1]!.split(' ');
      expect(flags.length).toBeGreaterThan(0);
      expect(argv.slice(1, 1 + flags.length)).toEqual(flags);
      expect(argv.slice(-4)).toEqual([join(root, 'bin', 'edgeloop.js'), 'agent', '--config', config]);
      expect(environ.get('MALLOC_MMAP_THRESHOLD_')).toBe(/^MALLOC_MMAP_THRESHOLD_=(\d+)$/m.exec(profile)![1]);
      expect(environ.get('MALLOC_ARENA_MAX')).toBe('3'); // set by the caller: kept
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await broker.close();
    }
  });
});
