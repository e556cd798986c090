import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, it, onTestFinished } from 'vitest';
import { Retrainer } from '../../../cloud/retrain/retrainer.ts';
import { silentLogger } from '../../../lib/logger.ts';
import { registryWithChampion, TINY, writeArchive } from './fixture.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/job-child.ts', import.meta.url));

/** PIDs of processes whose command line names a train spec of this data directory. */
function trainingChildren(dataDir: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('train-child') && cmd.includes(dataDir)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

function child(dataDir: string, mode: string) {
  const c = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dataDir, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: c.stdout! }).on('line', (l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, sig) => r(sig)));
  const line = () => new Promise<void>((r) => (lines.length ? r() : waiters.push(r))).then(() => lines[0]!);
  return { c, exit, line };
}

it('a job killed in training resumes there; a second job is refused while one holds the lock; a dead holder is taken over and the job finishes without redoing finished steps', {
  timeout: 180_000,
}, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'el-retrain-crash-'));
  onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  await writeArchive(dataDir, {
    devices: [
      { id: 'd1', site: 'north' },
      { id: 'd2', site: 'north' },
    ],
    steps: 2400,
    shift: () => [3, 0],
  });
  const registry = await registryWithChampion(dataDir);
  onTestFinished(() => registry.close());
  const takeovers: unknown[] = [];
  const logger = { ...silentLogger, warn: (o: unknown) => takeovers.push(o), child: () => logger } as never;
  const retrainer = new Retrainer({
    dir: join(dataDir, 'retrain'),
    archiveDir: join(dataDir, 'archive'),
    registry,
    training: TINY,
    criteria: { maxP99Ms: 1000 },
    logger,
  });
  retrainer.start();
  onTestFinished(() => retrainer.close());

  // 1. killed after the second epoch of training
  const a = child(dataDir, 'kill-epoch:2');
  expect(await a.exit).toBe('SIGKILL');
  // its training child saw the parent go and stopped
  for (let i = 0; i < 100 && trainingChildren(dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(trainingChildren(dataDir)).toEqual([]);
  let job = retrainer.store.running()!;
  expect(job.step).toBe('train');
  expect(job.progress).toMatchObject({ epoch: 2, epochs: TINY.epochs });
  expect(job.steps.map((s) => [s.step, s.state, s.runs])).toEqual([
    ['select', 'done', 1],
    ['train', 'running', 1],
  ]);

  // 2. resumed in another process, which holds the lock at the reference step: a second job is refused
  const b = child(dataDir, 'hold:reference');
  const held = await b.line();
  expect(held).toMatchObject({ holding: 'reference' });
  await expect(retrainer.run({ trigger: { kind: 'manual' } })).rejects.toMatchObject({
    code: 'EL_ERR_RETRAIN_LOCKED',
    message: expect.stringContaining(`PID ${String(held.pid)}`),
  });
  b.c.kill('SIGKILL');
  await b.exit;

  // 3. the dead holder's lock is taken over; the job resumes at the reference step and finishes
  job = await retrainer.run({ trigger: { kind: 'manual' } });
  expect(takeovers).toContainEqual(expect.objectContaining({ previousPid: held.pid }));
  expect(job.state).toBe('finished');
  expect(job.outcome, job.reason).toBe('candidate');
  expect(job.steps.map((s) => [s.step, s.runs])).toEqual([
    ['select', 1],
    ['train', 2],
    ['export', 1],
    ['reference', 2],
    ['sign', 1],
    ['evaluate', 1],
    ['record', 1],
  ]);
  expect(retrainer.store.list()).toHaveLength(1);
});
