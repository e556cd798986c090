/**
 * The model updater's persisted state, `<modelsDir>/updater-state.json`: last seq per desired topic, the report
 * counter, the installed slots per model and the refused desired states. Written whole to a `.tmp` file and renamed
 * over the old one, so a crash leaves the old or the new file, never a torn one.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../../lib/logger.ts';
import type { ModelSlots } from './model-swapper.ts';

export interface UpdaterState {
  v: 1;
  /** last seq seen per desired topic */
  seqs: Record<string, number>;
  /** last report seq (when no nextSeq is injected) */
  reportSeq: number;
  /** per model: the active and previous installed versions */
  models: ModelSlots;
  /** per model: `${version}:${sha256}:${seq}` of a desired state that failed (not retried) */
  refused: Record<string, string>;
}

export function emptyUpdaterState(): UpdaterState {
  return { v: 1, seqs: {}, reportSeq: 0, models: {}, refused: {} };
}

/** `base` overlaid with the file's content; `base` itself when there is no file or it is unreadable (logged). */
export async function loadUpdaterState(file: string, base: UpdaterState, logger: Logger): Promise<UpdaterState> {
  try {
    const raw = JSON.parse(await readFile(file, 'utf8')) as UpdaterState;
    if (raw && raw.v === 1) return { ...base, ...raw };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      logger.warn({ err }, 'updater state unreadable; starting fresh');
  }
  return base;
}

export async function saveUpdaterState(file: string, state: UpdaterState): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, file);
}
