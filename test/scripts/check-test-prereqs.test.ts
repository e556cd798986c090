/**
 * scripts/check-test-prereqs.mjs: the decision (pure), the PATH lookup on real files, the "stop at once" run in a
 * child process, and that `npm test` and .ci/run both go through it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PREREQS, aptPackages, decide, installCommand, onPath } from '../../scripts/check-test-prereqs.mjs';
import { tempDir } from '../agent/helpers/temp-dir.ts';

const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'check-test-prereqs.mjs');
const chromium = PREREQS.find((p) => p.command === 'chromium')!;
const mosquitto = PREREQS.filter((p) => p.aptPackage === 'mosquitto');

describe('check-test-prereqs: decide', () => {
  const facts = { root: false, hasApt: true, hasSudo: true, allowSudo: false };

  it('does nothing when nothing is missing', () => {
    expect(decide({ ...facts, missing: [] })).toEqual({ action: 'ok' });
  });

  it('installs when root with apt-get, saying so, each package once', () => {
    const d = decide({ ...facts, root: true, missing: [...mosquitto, chromium] });
    expect(d).toEqual({
      action: 'install',
      packages: ['mosquitto', 'chromium'],
      sudo: false,
      message: 'edgeloop tests: installing mosquitto chromium with apt-get (running as root)',
    });
  });

  it('stops with the exact sudo command when not root, even with sudo available (no silent sudo in npm test)', () => {
    const d = decide({ ...facts, missing: [chromium] });
    expect(d.action).toBe('fail');
    if (d.action !== 'fail') return;
    expect(d.message).toContain('chromium (Debian package chromium): the dashboard browser test');
    expect(d.message).toContain('sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium');
  });

  it('installs through sudo only when asked (.ci/run)', () => {
    const d = decide({ ...facts, allowSudo: true, missing: [chromium] });
    expect(d).toMatchObject({ action: 'install', packages: ['chromium'], sudo: true });
    expect(decide({ ...facts, allowSudo: true, hasSudo: false, missing: [chromium] }).action).toBe('fail');
  });

  it('without apt-get names the programs and the Debian command, and never installs', () => {
    const d = decide({ ...facts, root: true, hasApt: false, missing: [chromium] });
    expect(d.action).toBe('fail');
    if (d.action !== 'fail') return;
    expect(d.message).toContain('no apt-get');
    expect(d.message).toContain('apt-get install -y --no-install-recommends chromium');
  });

  it('the list covers what CI installs', () => {
    expect(aptPackages()).toEqual(
      expect.arrayContaining(['mosquitto', 'mosquitto-clients', 'chromium', 'prometheus', 'zip', 'unzip']),
    );
    expect(installCommand(['a', 'b'], { root: true })).toBe(
      'apt-get update && apt-get install -y --no-install-recommends a b',
    );
  });
});

describe('check-test-prereqs: on a real machine', () => {
  it('finds an executable file on PATH and not a plain one', () => {
    const dir = tempDir('edgeloop-prereq-');
    writeFileSync(join(dir, 'tool-x'), '#!/bin/sh\n');
    chmodSync(join(dir, 'tool-x'), 0o755);
    writeFileSync(join(dir, 'tool-y'), 'data');
    expect(onPath('tool-x', dir)).toBe(true);
    expect(onPath('tool-y', dir)).toBe(false);
    expect(onPath('tool-x', '/nonexistent')).toBe(false);
  });

  it('exits 1 at once with the command when programs are missing and there is no apt-get', () => {
    // PATH with node only: chromium, zip, unzip, openssl (/usr/bin) and apt-get are not found; nothing is installed
    const dir = tempDir('edgeloop-prereq-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { PATH: bin } });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('missing system programs');
    expect(r.stderr).toContain('chromium (Debian package chromium)');
    expect(r.stderr).toContain('apt-get install -y --no-install-recommends');
    expect(r.stderr).not.toContain('installing');
  });

  it('is the pretest of `npm test` and what .ci/run installs with', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('node scripts/check-test-prereqs.mjs');
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    expect(ci).toContain('node scripts/check-test-prereqs.mjs --sudo');
    expect(ci.indexOf('check-test-prereqs')).toBeLessThan(ci.indexOf('npm test'));
  });
});
