/**
 * Run train-child.ts in a child process (node:child_process fork) and wait for it. From the sources the child
 * runs under tsx (as bin/edgeloop.js does); from dist/ it is plain JavaScript. Progress comes back over IPC; a
 * child that fails, is killed or exits without reporting `done` rejects with EL_ERR_RETRAIN_TRAIN. `signal`
 * kills the child (the job's owner closing).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../../lib/package-root.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { TrainMessage, TrainSpec } from './train-child.ts';

export function trainInChild(
  spec: TrainSpec,
  o: { onEpoch?: (epoch: number, epochs: number, loss: number) => void; signal?: AbortSignal } = {},
): Promise<{ windows: number; finalLoss: number }> {
  const specPath = join(spec.outDir, 'train-spec.json');
  writeFileSync(specPath, JSON.stringify(spec, null, 2));
  const entry = fileURLToPath(new URL('./train-child.ts', import.meta.url));
  const fromSource = entry.endsWith('.ts');
  return new Promise((resolve, reject) => {
    const child = fork(entry, [specPath], {
      cwd: PACKAGE_ROOT,
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      ...(o.signal ? { signal: o.signal } : {}),
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let done: { windows: number; finalLoss: number } | undefined;
    let failure: TrainMessage | undefined;
    child.on('message', (m: TrainMessage) => {
      if (m.type === 'epoch') o.onEpoch?.(m.epoch, m.epochs, m.loss);
      else if (m.type === 'done') done = { windows: m.windows, finalLoss: m.finalLoss };
      else failure = m;
    });
    child.on('error', (err) => {
      if ((err as { name?: string }).name === 'AbortError') return;
      reject(new EdgeloopError('EL_ERR_RETRAIN_TRAIN', `training process: ${err.message}`, { cause: err }));
    });
    child.on('exit', (code, sig) => {
      if (done && code === 0) return resolve(done);
      if (failure?.type === 'error')
        return reject(
          new EdgeloopError('EL_ERR_RETRAIN_TRAIN', `training failed: ${failure.message}`, {
            details: { code: failure.code },
          }),
        );
      reject(
        new EdgeloopError(
          'EL_ERR_RETRAIN_TRAIN',
          `training process exited (${sig ? `signal ${sig}` : `status ${code}`}) before it finished${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
        ),
      );
    });
  });
}
