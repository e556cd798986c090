/** An unhandled rejection is logged with a code; one-shot commands exit 1, services keep running. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempCwd } from './cli-process.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'reject.ts');

const ROOT = join(import.meta.dirname, '..', '..');

/** run in the repository (where `--import tsx` resolves); data directories are passed as flags */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], {
      cwd: ROOT,
      // stdin stays open: `cloud hash-password` waits on it
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', EDGELOOP_LOG_FORMAT: 'json', EDGELOOP_HTTP__PORT: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += String(b)));
    child.stderr.on('data', (b: Buffer) => (stderr += String(b)));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('unhandled rejections', () => {
  it('a one-shot command (cloud hash-password, waiting on stdin) logs the rejection with its code and exits 1', async () => {
    const r = await run(['0', 'cloud', 'hash-password']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(logLines(r.stderr)).toMatchObject([
      {
        level: 50,
        code: 'EL_ERR_UNHANDLED_REJECTION',
        errCode: 'EL_ERR_TIMEOUT',
        command: 'cloud',
        msg: 'unhandled rejection in edgeloop cloud: a background flush timed out; exiting',
      },
    ]);
  }, 60_000);

  it('a service (edgeloop cloud) logs it, keeps running, and still stops cleanly', async () => {
    const r = await run(['500', 'cloud', '--only', 'dlq', '--data-dir', tempCwd(), '--log-level', 'warn']);
    expect(r.stdout).toContain('edgeloop cloud running: dlq');
    expect(r.stdout).toContain('still running\n');
    expect(logLines(r.stderr)).toMatchObject([
      {
        code: 'EL_ERR_UNHANDLED_REJECTION',
        errCode: 'EL_ERR_TIMEOUT',
        msg: expect.stringMatching(/the service keeps running$/),
      },
    ]);
    expect(r.code).toBe(0);
  }, 60_000);
});
