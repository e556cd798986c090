/**
 * HTTP load from a second process, the same way for every HTTP benchmark: wrk (C, Debian package `wrk`) when it is
 * installed — it needs far less CPU than a Node client, which matters on 2 cores — else autocannon in a child Node
 * process (autocannon-worker.ts). Either cycles through `paths` and prints one JSON line of figures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LoadResult {
  rps: number;
  p50: number;
  /** computed from every response time (null when the generator could not tell) */
  p95: number | null;
  p99: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  url: string;
  paths: string[];
  connections: number;
  durationSec: number;
  /** where wrk's path list is written */
  workDir: string;
  /** false: autocannon even when wrk is installed */
  wrk?: boolean;
}

export function wrkInstalled(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** One measured run after a 2 s warm-up; resolves with the generator's figures. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const here = import.meta.dirname;
  const child = (command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...(env ? { env } : {}) });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}`))));
    });
  let out: string;
  if (o.wrk ?? wrkInstalled()) {
    const pathsFile = join(o.workDir, 'paths.txt');
    writeFileSync(pathsFile, o.paths.join('\n') + '\n');
    const wrk = (secs: number): Promise<string> =>
      child(
        'wrk',
        [
          '-t',
          String(Math.min(2, o.connections)),
          '-c',
          String(o.connections),
          '-d',
          `${secs}s`,
          '-s',
          join(here, 'wrk-paths.lua'),
          o.url,
        ],
        { ...process.env, WRK_PATHS_FILE: pathsFile },
      );
    await wrk(2);
    out = await wrk(o.durationSec);
  } else {
    const job = { url: o.url, paths: o.paths, connections: o.connections, duration: o.durationSec, warmup: 2 };
    out = await child(process.execPath, ['--import', 'tsx', join(here, 'autocannon-worker.ts'), JSON.stringify(job)]);
  }
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`the load generator printed no result:\n${out}`);
  return JSON.parse(line) as LoadResult;
}
