/** The `edgeloop` command as a user runs it: a child process of bin/edgeloop.js, with its output collected. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'edgeloop.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** resolves with the exit code */
  exited: Promise<number | null>;
  /** wait until stdout + stderr match `re` (rejects on exit or timeout) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** `o.bin`: another copy of bin/edgeloop.js (an assembled install tree); default the repository's */
export function startCli(args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; bin?: string }): CliProcess {
  const child = spawn(process.execPath, [o.bin ?? BIN, ...args], {
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', EDGELOOP_LOG_FORMAT: 'json', ...o.env },
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (b: Buffer) => ((out += String(b)), listeners.forEach((l) => l())));
  child.stderr!.on('data', (b: Buffer) => ((err += String(b)), listeners.forEach((l) => l())));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (re, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (re.test(out + err)) done(resolve);
        };
        const t = setTimeout(
          () => done(() => reject(new Error(`no output matching ${re} within ${timeoutMs} ms:\n${out}${err}`))),
          timeoutMs,
        );
        const onExit = (code: number | null): void =>
          done(() => reject(new Error(`exited with ${code} before printing ${re}:\n${out}${err}`)));
        const done = (f: () => void): void => {
          clearTimeout(t);
          listeners.delete(check);
          child.off('exit', onExit);
          f();
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
  };
}

/** Run to completion. */
export async function runCli(
  args: string[],
  o: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startCli(args, o);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export function tempCwd(prefix = 'el-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
