#!/usr/bin/env node
// The system programs the test suite runs for real (Debian packages), checked before `npm test` (the `pretest`
// script) and installed by .ci/run: this list is the one source for both.
//   - missing and root with apt-get (a CI machine, a container): install them, with a line saying so;
//   - missing otherwise: exit 1 at once with the exact command to run. Tests that need them are never skipped.
//
//   node scripts/check-test-prereqs.mjs           check; install when root with apt-get
//   node scripts/check-test-prereqs.mjs --sudo    also install through sudo when not root (what .ci/run does)
// Plain JS: .ci/run calls it before `npm ci`, when no dependency is installed yet.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** each program the tests run, the Debian package that provides it, and what needs it */
export const PREREQS = Object.freeze([
  { command: 'mosquitto', aptPackage: 'mosquitto', neededBy: 'MQTT broker tests (test/helpers/mosquitto.ts)' },
  { command: 'mosquitto_passwd', aptPackage: 'mosquitto', neededBy: 'mosquitto password-file tests' },
  { command: 'mosquitto_pub', aptPackage: 'mosquitto-clients', neededBy: 'the external-broker end-to-end test' },
  {
    command: 'chromium',
    aptPackage: 'chromium',
    neededBy: 'the dashboard browser test (playwright-core, /usr/bin/chromium)',
  },
  { command: 'promtool', aptPackage: 'prometheus', neededBy: 'the Prometheus metrics and rules checks' },
  { command: 'openssl', aptPackage: 'openssl', neededBy: 'the TLS certificates of the mosquitto tests' },
  { command: 'zip', aptPackage: 'zip', neededBy: 'the Greengrass artifact test' },
  { command: 'unzip', aptPackage: 'unzip', neededBy: 'the Greengrass artifact test' },
]);

/** the Debian packages of the whole list, each once, in list order */
export function aptPackages(prereqs = PREREQS) {
  return [...new Set(prereqs.map((p) => p.aptPackage))];
}

/** the shell line that installs `packages` with apt-get, with sudo in front unless root */
export function installCommand(packages, { root }) {
  const sudo = root ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * What to do about the missing programs (pure: the facts come in, a decision comes out).
 * @param {{ missing: ReadonlyArray<{command: string, aptPackage: string, neededBy: string}>, root: boolean,
 *           hasApt: boolean, hasSudo: boolean, allowSudo: boolean }} facts
 * @returns {{ action: 'ok' } | { action: 'install', packages: string[], sudo: boolean, message: string }
 *          | { action: 'fail', message: string }}
 */
export function decide({ missing, root, hasApt, hasSudo, allowSudo }) {
  if (missing.length === 0) return { action: 'ok' };
  const packages = aptPackages(missing);
  const what = missing.map((m) => `  ${m.command} (Debian package ${m.aptPackage}): ${m.neededBy}`).join('\n');
  const head = `edgeloop tests: missing system programs:\n${what}\n`;
  if (hasApt && (root || (allowSudo && hasSudo))) {
    const sudo = !root;
    return {
      action: 'install',
      packages,
      sudo,
      message: `edgeloop tests: installing ${packages.join(' ')} with apt-get${sudo ? ' through sudo' : ' (running as root)'}`,
    };
  }
  if (hasApt)
    return {
      action: 'fail',
      message: `${head}install them, then run the tests again:\n  ${installCommand(packages, { root })}`,
    };
  return {
    action: 'fail',
    message:
      `${head}this machine has no apt-get: install these programs with its package manager so that they are on PATH ` +
      `(on Debian or Ubuntu: ${installCommand(packages, { root })}), then run the tests again`,
  };
}

/** folders searched besides PATH: Debian puts mosquitto in /usr/sbin, which a user's PATH often lacks */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** true when `command` is an executable file in PATH or an sbin folder */
export function onPath(command, path = process.env.PATH ?? '') {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...SBIN]) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

function run(argv, sudo) {
  const [cmd, ...args] = sudo ? ['sudo', ...argv] : argv;
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${[cmd, ...args].join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

export function main(argv = process.argv.slice(2)) {
  const missingNow = () => PREREQS.filter((p) => !onPath(p.command));
  const decision = decide({
    missing: missingNow(),
    root: process.getuid?.() === 0,
    hasApt: onPath('apt-get'),
    hasSudo: onPath('sudo'),
    allowSudo: argv.includes('--sudo'),
  });
  if (decision.action === 'ok') return 0;
  if (decision.action === 'fail') {
    process.stderr.write(decision.message + '\n');
    return 1;
  }
  process.stderr.write(decision.message + '\n');
  run(['apt-get', 'update', '-q'], decision.sudo);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...decision.packages], decision.sudo);
  const still = missingNow();
  if (still.length > 0) {
    process.stderr.write(
      `edgeloop tests: still missing after apt-get install: ${still.map((m) => m.command).join(', ')}\n`,
    );
    return 1;
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main();
