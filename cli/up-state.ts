/**
 * What a running `edgeloop up` tells other commands in the same working directory: `<dataDir>/up.json` (its
 * URLs, written once everything listens, removed on a clean stop) next to `<dataDir>/secrets.json` (generated
 * passwords, mode 600). `edgeloop sim --up` reads both to load-test up's broker with up's `sim` service account.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeloopError } from '../protocol/errors.ts';

export const DEFAULT_UP_DIR = '.edgeloop';

export interface UpState {
  pid: number;
  mqtt: string;
  dashboard: string;
  /** other HTTP endpoints by name (metrics, recommend, registry, rollout) */
  urls: Record<string, string>;
}

/** The service account `up` creates for `edgeloop sim --up` (services may publish for any device). */
export const SIM_SERVICE = 'sim';

export function writeUpState(dataDir: string, s: UpState): void {
  writeFileSync(join(dataDir, 'up.json'), JSON.stringify(s, null, 2) + '\n');
}

export function removeUpState(dataDir: string): void {
  rmSync(join(dataDir, 'up.json'), { force: true });
}

/** The running up's broker URL and the `sim` service credential; a clear error when there is none. */
export function readUpBroker(dataDir: string): { url: string; username: string; password: string } {
  const read = (f: string): Record<string, unknown> => {
    try {
      return JSON.parse(readFileSync(join(dataDir, f), 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--up: no running \`edgeloop up\` found in ${dataDir} (${f}: ${(cause as Error).message}); start it with \`npm start\` in this directory`, { cause });
    }
  };
  const state = read('up.json') as Partial<UpState>;
  const password = read('secrets.json')[SIM_SERVICE];
  if (typeof state.mqtt !== 'string' || typeof password !== 'string') {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--up: ${dataDir}/up.json or secrets.json has no broker URL or "${SIM_SERVICE}" password; restart \`edgeloop up\``);
  }
  return { url: state.mqtt, username: SIM_SERVICE, password };
}
