/**
 * What a running `edgeloop up` tells other commands in the same working directory: `<dataDir>/up.json` (its
 * URLs, written once everything listens, removed on a clean stop) next to `<dataDir>/secrets.json` (generated
 * passwords, mode 600). `edgeloop sim --up` reads both to load-test up's broker with up's `sim` service account.
 * `<dataDir>/keys` is the key directory up's registry and agents trust, where `edgeloop models keygen` writes.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { EdgeloopError } from '../protocol/errors.ts';
import { packagePath } from '../lib/package-root.ts';

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
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `--up: no running \`edgeloop up\` found in ${dataDir} (${f}: ${(cause as Error).message}); start it with \`npm start\` in this directory`,
        { cause },
      );
    }
  };
  const state = read('up.json') as Partial<UpState>;
  const password = read('secrets.json')[SIM_SERVICE];
  if (typeof state.mqtt !== 'string' || typeof password !== 'string') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `--up: ${dataDir}/up.json or secrets.json has no broker URL or "${SIM_SERVICE}" password; restart \`edgeloop up\``,
    );
  }
  return { url: state.mqtt, username: SIM_SERVICE, password };
}

/** The keys `up`'s registry and agents trust: the shipped key and every *.pub in <dataDir>/keys (created here). */
export function trustedKeys(dataDir: string): string[] {
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true });
  const shipped = packagePath('models', 'default', 'keys', 'edgeloop-default.pub');
  return [...(existsSync(shipped) ? [shipped] : []), dir];
}

/** `preferred` when nothing listens on it on loopback, else 0 (any free port). */
export async function portOr(preferred: number): Promise<number> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once('error', () => resolvePort(0));
    srv.listen({ port: preferred, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolvePort(preferred)));
  });
}
