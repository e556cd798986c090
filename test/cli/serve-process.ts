/**
 * A long-running `edgeloop` command as a real process for tests: spawned from bin/edgeloop.js with logging off,
 * its output collected, `waitFor(re)` resolving with the first match of what it printed on stdout, `exited` with its
 * exit code; killed when the test finishes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ServeProcess {
  /** the first match of `re` in stdout (rejects when the process exits first) */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** stdout and stderr so far */
  output(): string;
}

export function serveProcess(args: string[], env: Record<string, string> = {}): ServeProcess {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'edgeloop.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, EDGELOOP_LOG_LEVEL: 'silent', NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    exited,
    kill: (signal) => child.kill(signal),
    output: () => out + err,
    waitFor: (re) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = (): boolean => {
          const m = re.exec(out);
          if (m) resolve(m);
          return m !== null;
        };
        if (check()) return;
        const onData = (): void => {
          if (check()) child.stdout.off('data', onData);
        };
        child.stdout.on('data', onData);
        void exited.then((code) => reject(new Error(`exited ${code} before printing ${re}: ${out}${err}`)));
      }),
  };
}
