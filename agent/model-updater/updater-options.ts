/**
 * The model updater's options: what each one means and its default, and their validation (unknown or misspelled
 * options, missing parts and out-of-range numbers throw EL_ERR_INVALID_ARGUMENT naming the option) into the one
 * frozen object the updater and its parts read.
 */
import type { KeyObject } from 'node:crypto';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, withBindings, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Topics, assertValidId } from '../../protocol/topics.ts';
import { trustedKeySet } from '../../models/manifest/index.ts';
import type { Transport } from '../../transport/transport.ts';
import type { ModelHost } from './model-host.ts';

export interface ModelUpdaterOptions {
  deviceId: string;
  transport: Transport;
  host: ModelHost;
  /** directory of the on-device model store (created); `dir` is accepted as an alias */
  modelsDir?: string;
  dir?: string;
  /** ed25519 public keys (PEM strings, KeyObjects, or a keyId → key map) whose signatures are accepted */
  trustedKeys: ReadonlyArray<string | KeyObject> | ReadonlyMap<string, KeyObject>;
  /** refuse unsigned manifests (default true; false is for development and still checks signed ones) */
  requireSignature?: boolean;
  /** topic layout (default prefix edgeloop/v1) */
  topics?: Topics;
  /** fetch implementation for downloads (default globalThis.fetch) */
  fetch?: typeof globalThis.fetch;
  clock?: Clock;
  logger?: Logger;
  /** per-device sequence numbers for reports (the agent passes its outbox allocator); default: own persisted counter */
  nextSeq?: () => number;
  /** download retry policy (default 5 attempts, 200 ms → 5 s, full jitter) */
  downloadRetry?: Partial<RetryPolicy>;
  /** download stall/overall timeout per attempt, ms (default 60 000) */
  downloadTimeoutMs?: number;
  /** windows the new model must score before its latency budget is judged (default 50) */
  latencyMinWindows?: number;
  /** how often the latency budget is checked after activation, ms (default 5 000) */
  latencyCheckMs?: number;
  /** stop watching the latency budget this long after activation, ms (default 600 000) */
  latencyWatchMs?: number;
  /** model versions kept on disk per model, ≥ 2 (default 2: active + previous) */
  keepVersions?: number;
  /** re-activate the last active model from disk on start when the host has none (default true) */
  restoreOnStart?: boolean;
  /**
   * run shadow assignments (default true, when the host can); false answers each with a `failed` shadow report, so
   * the controller counts the device out of the shadow stage at once instead of after its timeout
   */
  shadow?: boolean;
}

const OPTION_KEYS = new Set([
  'deviceId',
  'transport',
  'host',
  'modelsDir',
  'dir',
  'trustedKeys',
  'requireSignature',
  'topics',
  'fetch',
  'clock',
  'logger',
  'nextSeq',
  'downloadRetry',
  'downloadTimeoutMs',
  'latencyMinWindows',
  'latencyCheckMs',
  'latencyWatchMs',
  'keepVersions',
  'restoreOnStart',
  'shadow',
]);

export type ResolvedUpdaterOptions = Readonly<{
  deviceId: string;
  transport: Transport;
  host: ModelHost;
  modelsDir: string;
  topics: Topics;
  fetch: typeof globalThis.fetch;
  clock: Clock;
  logger: Logger;
  nextSeq: (() => number) | undefined;
  downloadRetry: Partial<RetryPolicy>;
  downloadTimeoutMs: number;
  latencyMinWindows: number;
  latencyCheckMs: number;
  latencyWatchMs: number;
  keepVersions: number;
  restoreOnStart: boolean;
  shadow: boolean;
}>;

export interface UpdaterSetup {
  options: ResolvedUpdaterOptions;
  /** the trusted keys, keyId → key (a TrustedKeyRing when one was passed) */
  keys: ReadonlyMap<string, KeyObject>;
  requireSignature: boolean;
}

/** Validate `opts` (see the header) and fill in the defaults. */
export function resolveUpdaterOptions(opts: ModelUpdaterOptions): UpdaterSetup {
  for (const k of Object.keys(opts ?? {})) {
    if (!OPTION_KEYS.has(k))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `ModelUpdater: unknown option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`,
      );
  }
  assertValidId('deviceId', opts.deviceId);
  if (!opts.transport)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "transport" is required');
  if (!opts.host)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "host" (a ModelHost) is required');
  const modelsDir = opts.modelsDir ?? opts.dir;
  if (typeof modelsDir !== 'string' || !modelsDir)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "modelsDir" is required');
  const requireSignature = opts.requireSignature ?? true;
  const keys =
    opts.trustedKeys instanceof Map
      ? opts.trustedKeys
      : trustedKeySet((opts.trustedKeys ?? []) as ReadonlyArray<string | KeyObject>);
  if (keys.size === 0 && requireSignature) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      'ModelUpdater: option "trustedKeys" needs at least one public key (devices only run signed models unless requireSignature is false)',
    );
  }
  const keep = opts.keepVersions ?? 2;
  if (!Number.isInteger(keep) || keep < 2)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `ModelUpdater: keepVersions must be an integer >= 2, got ${keep}`,
    );
  const pos = (name: string, v: number | undefined, d: number): number => {
    const x = v ?? d;
    if (!(typeof x === 'number' && x >= 0 && Number.isFinite(x)))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `ModelUpdater: ${name} must be a non-negative number, got ${x}`,
      );
    return x;
  };
  const options = Object.freeze({
    deviceId: opts.deviceId,
    transport: opts.transport,
    host: opts.host,
    modelsDir,
    topics: opts.topics ?? new Topics(),
    fetch: opts.fetch ?? globalThis.fetch,
    clock: opts.clock ?? systemClock,
    logger: withBindings(opts.logger ?? silentLogger, { deviceId: opts.deviceId, part: 'model-updater' }),
    nextSeq: opts.nextSeq,
    downloadRetry: { minMs: 200, maxMs: 5000, maxAttempts: 5, ...opts.downloadRetry },
    downloadTimeoutMs: pos('downloadTimeoutMs', opts.downloadTimeoutMs, 60_000),
    latencyMinWindows: pos('latencyMinWindows', opts.latencyMinWindows, 50),
    latencyCheckMs: pos('latencyCheckMs', opts.latencyCheckMs, 5000),
    latencyWatchMs: pos('latencyWatchMs', opts.latencyWatchMs, 600_000),
    keepVersions: keep,
    restoreOnStart: opts.restoreOnStart ?? true,
    shadow: opts.shadow ?? true,
  });
  return { options, keys, requireSignature };
}
