/**
 * The model updater's options: one schema with what each one means and its default, checked with lib/options.ts
 * (unknown or misspelled options are refused with a suggestion, missing parts and out-of-range numbers throw
 * EL_ERR_INVALID_ARGUMENT naming the option) into the one frozen object the updater and its parts read.
 */
import type { KeyObject } from 'node:crypto';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, withBindings, type Logger } from '../../lib/logger.ts';
import { z } from 'zod';
import { callback, clockAndLogger, dependency, optionRuleError, parseOptions } from '../../lib/options.ts';
import { Topics, isValidId } from '../../protocol/topics.ts';
import { trustedKeySet } from '../../models/manifest/index.ts';
import type { Transport } from '../../transport/transport.ts';
import type { ModelHost } from './model-host.ts';

/** download retry policy defaults, under what `downloadRetry` gives */
export const DOWNLOAD_RETRY_DEFAULTS: Partial<RetryPolicy> = Object.freeze({ minMs: 200, maxMs: 5000, maxAttempts: 5 });

const nonNegative = z.number().min(0);

export const ModelUpdaterOptionsSchema = z.strictObject({
  deviceId: z.string().refine(isValidId, '1-128 characters of [A-Za-z0-9._:-], not "fleet"'),
  transport: dependency<Transport>('a Transport'),
  host: dependency<ModelHost>('a ModelHost'),
  /** directory of the on-device model store (created); `dir` is accepted as an alias */
  modelsDir: z.string().min(1).optional(),
  dir: z.string().min(1).optional(),
  /** ed25519 public keys (PEM strings, KeyObjects, or a keyId → key map) whose signatures are accepted */
  trustedKeys: dependency<ReadonlyArray<string | KeyObject> | ReadonlyMap<string, KeyObject>>(
    'PEM strings, KeyObjects or a keyId → key map',
  ).optional(),
  /** refuse unsigned manifests (false is for development and still checks signed ones) */
  requireSignature: z.boolean().default(true),
  /** topic layout (default prefix edgeloop/v1) */
  topics: dependency<Topics>('a Topics').optional(),
  /** fetch implementation for downloads (default globalThis.fetch) */
  fetch: callback<typeof globalThis.fetch>().optional(),
  ...clockAndLogger,
  /** per-device sequence numbers for reports (the agent passes its outbox allocator); default: own persisted counter */
  nextSeq: callback<() => number>().optional(),
  /** download retry policy, over DOWNLOAD_RETRY_DEFAULTS (5 attempts, 200 ms → 5 s, full jitter) */
  downloadRetry: dependency<Partial<RetryPolicy>>(
    'a retry policy',
    (v) => typeof v === 'object' && v !== null,
  ).optional(),
  /** download stall/overall timeout per attempt, ms */
  downloadTimeoutMs: nonNegative.default(60_000),
  /** windows the new model must score before its latency budget is judged */
  latencyMinWindows: nonNegative.default(50),
  /** how often the latency budget is checked after activation, ms */
  latencyCheckMs: nonNegative.default(5000),
  /** stop watching the latency budget this long after activation, ms */
  latencyWatchMs: nonNegative.default(600_000),
  /** model versions kept on disk per model, ≥ 2 (active + previous) */
  keepVersions: z.number().int().min(2).default(2),
  /** re-activate the last active model from disk on start when the host has none */
  restoreOnStart: z.boolean().default(true),
  /**
   * run shadow assignments (when the host can); false answers each with a `failed` shadow report, so the controller
   * counts the device out of the shadow stage at once instead of after its timeout
   */
  shadow: z.boolean().default(true),
});

export type ModelUpdaterOptions = z.input<typeof ModelUpdaterOptionsSchema>;

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
  const W = 'ModelUpdater';
  const code = 'EL_ERR_INVALID_ARGUMENT';
  const o = parseOptions(ModelUpdaterOptionsSchema, opts, { where: W, code });
  const modelsDir = o.modelsDir ?? o.dir;
  if (modelsDir === undefined) throw optionRuleError(W, 'modelsDir', 'modelsDir: required (`dir` is an alias)', code);
  const keys =
    o.trustedKeys instanceof Map
      ? o.trustedKeys
      : trustedKeySet((o.trustedKeys ?? []) as ReadonlyArray<string | KeyObject>);
  if (keys.size === 0 && o.requireSignature) {
    throw optionRuleError(
      W,
      'trustedKeys',
      'option "trustedKeys" needs at least one public key (devices only run signed models unless requireSignature is false)',
      code,
    );
  }
  const options = Object.freeze({
    deviceId: o.deviceId,
    transport: o.transport,
    host: o.host,
    modelsDir,
    topics: o.topics ?? new Topics(),
    fetch: o.fetch ?? globalThis.fetch,
    clock: o.clock ?? systemClock,
    logger: withBindings(o.logger ?? silentLogger, { deviceId: o.deviceId, part: 'model-updater' }),
    nextSeq: o.nextSeq,
    downloadRetry: { ...DOWNLOAD_RETRY_DEFAULTS, ...o.downloadRetry },
    downloadTimeoutMs: o.downloadTimeoutMs,
    latencyMinWindows: o.latencyMinWindows,
    latencyCheckMs: o.latencyCheckMs,
    latencyWatchMs: o.latencyWatchMs,
    keepVersions: o.keepVersions,
    restoreOnStart: o.restoreOnStart,
    shadow: o.shadow,
  });
  return { options, keys, requireSignature: o.requireSignature };
}
