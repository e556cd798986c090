/** An unhandled rejection is logged with a code; one-shot commands exit 1, services keep running. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'reject.ts');

function run(kind: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, kind], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += String(b)));
    child.stderr.on('data', (b: Buffer) => (stderr += String(b)));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('unhandled rejections', () => {
  it('a one-shot command logs the rejection with its code and exits 1', async () => {
    const r = await run('one-shot');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = JSON.parse(r.stderr.trim().split('\n')[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 50, code: 'EL_ERR_UNHANDLED_REJECTION', errCode: 'EL_ERR_TIMEOUT', command: 'dlq', msg: 'unhandled rejection in edgeloop dlq: a background flush timed out; exiting' });
  }, 30_000);

  it('a service logs it and keeps running', async () => {
    const r = await run('service');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('still running\n');
    expect(JSON.parse(r.stderr.trim())).toMatchObject({ code: 'EL_ERR_UNHANDLED_REJECTION', errCode: 'EL_ERR_TIMEOUT', msg: expect.stringMatching(/keeps running$/) });
  }, 30_000);
});
