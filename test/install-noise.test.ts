/**
 * `npm install` in a clone prints no warning a user would worry about: no unknown config in .npmrc, no
 * EBADENGINE on the Node running the tests, and every dependency with an install script is either allowed or
 * denied in package.json's `allowScripts` (npm 11 lists the others after every install). The install is resolved
 * from package-lock.json by npm itself (`--dry-run --offline`, an empty cache and user config: about 1 s, no network).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './agent/helpers/temp-dir.ts';

const root = join(import.meta.dirname, '..');

function npm(args: string[], cwd: string, dir: string): { status: number | null; stdout: string; stderr: string } {
  writeFileSync(join(dir, 'empty-npmrc'), '');
  const env = {
    ...process.env,
    npm_config_cache: join(dir, 'cache'),
    npm_config_userconfig: join(dir, 'empty-npmrc'),
    NODE_OPTIONS: '',
  };
  return spawnSync('npm', args, { cwd, encoding: 'utf8', env });
}

describe('npm install prints no warnings', () => {
  it(`resolving the lockfile on Node ${process.version}: no unknown config, no EBADENGINE`, () => {
    const dir = tempDir('edgeloop-npm-');
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(root, f), join(dir, f));
    const r = npm(['install', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], dir, dir);
    expect(r.status, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => /^npm (warn|WARN|error|ERR)/.test(l));
    expect(warnings).toEqual([]);
  });

  it('every install script of the installed tree is reviewed in allowScripts', () => {
    const dir = tempDir('edgeloop-npm-');
    const r = npm(['install-scripts', 'ls'], root, dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('No packages with unreviewed install scripts.');
  });

  it("denies onnxruntime-node's postinstall (it only downloads the CUDA provider) and no .npmrc flag stands in for it", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      allowScripts: Record<string, boolean>;
    };
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
    expect(readFileSync(join(root, '.npmrc'), 'utf8')).not.toContain('onnxruntime');
  });
});
