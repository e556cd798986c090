/**
 * ModelUpdater: the device side of model rollout.
 *
 * Subscribes to the fleet and the per-device desired-model topics (retained; the per-device message overrides the
 * fleet one, and an empty retained message clears the override). For the effective desired manifest of each model
 * it: reports `received`; checks the signature against the trusted keys; downloads the artifact into a staging file
 * with resume (HTTP Range: a broken download continues where it stopped) reporting `downloading`/`downloaded`;
 * writes the model directory and verifies sha256 + signature there (models/manifest verifyModelDir) → `verified`;
 * asks the ModelHost to activate it (fresh session, test vector, atomic swap) → `active`, or `failed` + reason.
 * The previous model stays on disk; when the new one exceeds its latency budget (manifest.latencyBudgetMs against
 * the host's p95 after `latencyMinWindows` windows) the updater re-activates the previous model and reports
 * `rolled-back`. A version that failed is not retried until a newer desired message arrives.
 *
 * Stale messages: each topic's last seq is kept in `<modelsDir>/updater-state.json`; a message with a lower seq
 * is ignored (an old retained message replayed after a newer one). A device that was offline gets the retained
 * messages when it reconnects (persistent session + retained), so it picks up its assignment.
 *
 * Layout of modelsDir: `versions/<name>/<version>-<sha12>/{manifest.json, <artifact.file>}`, `staging/<sha256>.part`,
 * `updater-state.json`. At most `keepVersions` (default 2: active + previous) versions per model are kept.
 */
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { DEFAULT_RETRY, type RetryPolicy } from '../../lib/backoff.ts';
import { retry } from '../../lib/retry.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, withBindings, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest, type Manifest } from '../../protocol/manifest.ts';
import {
  SCHEMA_VERSION,
  encodeMessage,
  validateModelDesired,
  type ModelDesiredMessage,
  type ModelReportMessage,
  type ModelReportState,
} from '../../protocol/messages.ts';
import { Topics, assertValidId } from '../../protocol/topics.ts';
import { MANIFEST_FILE, TrustedKeyRing, trustedKeySet, verifyManifest, verifyModelDir } from '../../models/manifest/index.ts';
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
}

const OPTION_KEYS = new Set([
  'deviceId', 'transport', 'host', 'modelsDir', 'dir', 'trustedKeys', 'requireSignature', 'topics', 'fetch', 'clock', 'logger', 'nextSeq',
  'downloadRetry', 'downloadTimeoutMs', 'latencyMinWindows', 'latencyCheckMs', 'latencyWatchMs', 'keepVersions', 'restoreOnStart',
]);

interface InstalledVersion {
  version: string;
  sha256: string;
  dir: string;
  modelPath: string;
}

interface PersistedState {
  v: 1;
  /** last seq seen per desired topic */
  seqs: Record<string, number>;
  /** last report seq (when no nextSeq is injected) */
  reportSeq: number;
  /** per model: the active and previous installed versions */
  models: Record<string, { active?: InstalledVersion; previous?: InstalledVersion }>;
  /** per model: `${version}:${sha256}:${seq}` of a desired state that failed (not retried) */
  refused: Record<string, string>;
}

export interface UpdaterEvents {
  report: ModelReportMessage;
}

export interface UpdaterStatus {
  desired: Record<string, { source: 'device' | 'fleet'; version: string; seq: number } | undefined>;
  installed: PersistedState['models'];
  busy: string[];
}

export class ModelUpdater {
  readonly #o: Readonly<{
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
  }>;
  readonly #keys: Map<string, KeyObject>;
  readonly #requireSignature: boolean;
  #state: PersistedState = { v: 1, seqs: {}, reportSeq: 0, models: {}, refused: {} };
  readonly #fleet = new Map<string, ModelDesiredMessage>();
  readonly #device = new Map<string, ModelDesiredMessage>();
  /** per model: the chain of reconcile runs (one at a time per model) */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #dirty = new Set<string>();
  readonly #busy = new Set<string>();
  readonly #watches = new Map<string, TimerHandle>();
  readonly #pendingReports: ModelReportMessage[] = [];
  readonly #reportListeners = new Set<(r: ModelReportMessage) => void>();
  #abort = new AbortController();
  #started = false;
  #flushing = false;
  #closed = false;
  #onMessage = (topic: string, payload: Buffer): void => this.#handle(topic, payload);
  #onConnect = (): void => {
    void this.#subscribe().catch((err: unknown) => this.#o.logger.warn({ err }, 'resubscribe failed'));
    void this.#flushReports();
  };

  constructor(opts: ModelUpdaterOptions) {
    for (const k of Object.keys(opts ?? {})) {
      if (!OPTION_KEYS.has(k)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `ModelUpdater: unknown option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
    }
    assertValidId('deviceId', opts.deviceId);
    if (!opts.transport) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "transport" is required');
    if (!opts.host) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "host" (a ModelHost) is required');
    const modelsDir = opts.modelsDir ?? opts.dir;
    if (typeof modelsDir !== 'string' || !modelsDir) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "modelsDir" is required');
    const requireSignature = opts.requireSignature ?? true;
    const keys = opts.trustedKeys instanceof Map ? opts.trustedKeys : trustedKeySet((opts.trustedKeys ?? []) as ReadonlyArray<string | KeyObject>);
    if (keys.size === 0 && requireSignature) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'ModelUpdater: option "trustedKeys" needs at least one public key (devices only run signed models unless requireSignature is false)');
    }
    const keep = opts.keepVersions ?? 2;
    if (!Number.isInteger(keep) || keep < 2) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `ModelUpdater: keepVersions must be an integer >= 2, got ${keep}`);
    const pos = (name: string, v: number | undefined, d: number): number => {
      const x = v ?? d;
      if (!(typeof x === 'number' && x >= 0 && Number.isFinite(x))) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `ModelUpdater: ${name} must be a non-negative number, got ${x}`);
      return x;
    };
    // a TrustedKeyRing is kept as it is: it re-reads its key directories when a manifest names an unknown key
    this.#keys = keys instanceof TrustedKeyRing ? keys : new Map(keys);
    this.#requireSignature = requireSignature;
    this.#o = Object.freeze({
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
    });
  }

  /** Load the store's state, restore the last active models, subscribe. Idempotent. */
  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'model updater is closed');
    if (this.#started) return;
    this.#started = true;
    await mkdir(join(this.#o.modelsDir, 'staging'), { recursive: true });
    await mkdir(join(this.#o.modelsDir, 'versions'), { recursive: true });
    try {
      const raw = JSON.parse(await readFile(this.#statePath(), 'utf8')) as PersistedState;
      if (raw && raw.v === 1) this.#state = { ...this.#state, ...raw };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#o.logger.warn({ err }, 'updater state unreadable; starting fresh');
    }
    if (this.#o.restoreOnStart) {
      for (const [name, m] of Object.entries(this.#state.models)) {
        // the agent may have loaded its configured model first; the last model the updater activated wins
        if (!m.active || this.#o.host.active(name)?.manifest.artifact.sha256 === m.active.sha256) continue;
        try {
          const v = verifyModelDir(m.active.dir, this.#verifyOpts());
          await this.#o.host.activate(v.manifest, v.modelPath);
          this.#o.logger.info({ model: name, version: m.active.version }, 'restored the last active model');
        } catch (err) {
          this.#o.logger.error({ err, model: name }, 'cannot restore the last active model');
        }
      }
    }
    this.#o.transport.on('message', this.#onMessage);
    this.#o.transport.on('connect', this.#onConnect);
    if (this.#o.transport.connected) await this.#subscribe();
  }

  /** Stop intake, cancel downloads and watches, wait for running updates. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.transport.off('message', this.#onMessage);
    this.#o.transport.off('connect', this.#onConnect);
    this.#abort.abort();
    for (const h of this.#watches.values()) this.#o.clock.clearTimeout(h);
    this.#watches.clear();
    await Promise.allSettled([...this.#chains.values()]);
    await this.#saveState().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Listen to every report the updater publishes (also when the publish could not be sent yet). */
  onReport(listener: (r: ModelReportMessage) => void): () => void {
    this.#reportListeners.add(listener);
    return () => this.#reportListeners.delete(listener);
  }

  /** Resolves when no update is running or queued. */
  async idle(): Promise<void> {
    while (this.#chains.size) await Promise.allSettled([...this.#chains.values()]);
  }

  status(): UpdaterStatus {
    const names = new Set([...this.#fleet.keys(), ...this.#device.keys()]);
    const desired: UpdaterStatus['desired'] = {};
    for (const n of names) {
      const d = this.#device.get(n);
      const f = this.#fleet.get(n);
      desired[n] = d ? { source: 'device', version: d.version, seq: d.seq } : f ? { source: 'fleet', version: f.version, seq: f.seq } : undefined;
    }
    return { desired, installed: structuredClone(this.#state.models), busy: [...this.#busy] };
  }

  async #subscribe(): Promise<void> {
    await this.#o.transport.subscribe(this.#o.topics.agentModelSubscriptions(this.#o.deviceId), 1);
  }

  #verifyOpts(): { trustedKeys: Map<string, KeyObject>; requireSignature: boolean } {
    return { trustedKeys: this.#keys, requireSignature: this.#requireSignature };
  }

  #statePath(): string {
    return join(this.#o.modelsDir, 'updater-state.json');
  }

  async #saveState(): Promise<void> {
    const tmp = `${this.#statePath()}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#state));
    await rename(tmp, this.#statePath());
  }

  #handle(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    const t = this.#o.topics.parse(topic);
    if (!t || t.kind !== 'model-desired' || !t.modelName) return;
    if (t.deviceId !== undefined && t.deviceId !== this.#o.deviceId) return;
    const name = t.modelName;
    const map = t.deviceId === undefined ? this.#fleet : this.#device;
    if (payload.byteLength === 0) {
      // retained message cleared: the per-device override is gone (fall back to the fleet manifest)
      if (map.delete(name)) this.#o.logger.info({ model: name, topic }, 'desired manifest cleared');
      this.#schedule(name);
      return;
    }
    let msg: ModelDesiredMessage;
    try {
      msg = validateModelDesired(JSON.parse(payload.toString('utf8')));
      if (msg.name !== name) throw new EdgeloopError('EL_ERR_UPDATE_REJECTED', `message names model "${msg.name}" on the topic of "${name}"`);
    } catch (err) {
      this.#o.logger.warn({ err, topic }, 'desired-model message refused');
      return;
    }
    const last = this.#state.seqs[topic];
    if (last !== undefined && msg.seq < last) {
      this.#o.logger.info({ model: name, seq: msg.seq, last }, 'stale desired-model message ignored');
      return;
    }
    this.#state.seqs[topic] = msg.seq;
    map.set(name, msg);
    this.#schedule(name);
  }

  /** Queue a reconcile of `name`; runs coalesce (the last desired state wins). */
  #schedule(name: string): void {
    if (this.#dirty.has(name)) return;
    this.#dirty.add(name);
    const prev = this.#chains.get(name) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        this.#dirty.delete(name);
        if (this.#closed) return;
        await this.#reconcile(name);
      })
      .catch((err: unknown) => this.#o.logger.error({ err, model: name }, 'model update crashed'))
      .finally(() => {
        if (this.#chains.get(name) === next) this.#chains.delete(name);
      });
    this.#chains.set(name, next);
  }

  async #reconcile(name: string): Promise<void> {
    const desired = this.#device.get(name) ?? this.#fleet.get(name);
    if (!desired) return;
    const active = this.#o.host.active(name);
    const sha = (desired.manifest as { artifact?: { sha256?: unknown } }).artifact?.sha256;
    if (active && active.manifest.version === desired.version && active.manifest.artifact.sha256 === sha) {
      await this.#report(name, desired, 'active');
      return;
    }
    const key = `${desired.version}:${String(sha)}:${desired.seq}`;
    if (this.#state.refused[name] === key) return;
    this.#busy.add(name);
    try {
      await this.#update(name, desired);
    } catch (err) {
      if (this.#closed && this.#abort.signal.aborted) return;
      const e = err as EdgeloopError;
      this.#state.refused[name] = key;
      await this.#saveState().catch(() => undefined);
      this.#o.logger.warn({ err, model: name, version: desired.version }, 'model update failed');
      await this.#report(name, desired, 'failed', `${e.code ?? 'Error'}: ${e.message}`);
    } finally {
      this.#busy.delete(name);
    }
  }

  async #update(name: string, desired: ModelDesiredMessage): Promise<void> {
    await this.#report(name, desired, 'received');
    // signature first: nothing untrusted is downloaded
    const source = `desired manifest of ${name}@${desired.version}`;
    const unsignedOk = !this.#requireSignature && (desired.manifest as { signature?: unknown }).signature === undefined;
    const manifest = unsignedOk ? parseManifest(desired.manifest, source) : verifyManifest(desired.manifest, this.#keys, source).manifest;
    if (manifest.name !== name || manifest.version !== desired.version) {
      throw new EdgeloopError('EL_ERR_UPDATE_REJECTED', `desired ${name}@${desired.version} carries the manifest of ${manifest.name}@${manifest.version}`);
    }
    const dir = join(this.#o.modelsDir, 'versions', name, `${safe(manifest.version)}-${manifest.artifact.sha256.slice(0, 12)}`);
    let installed = false;
    try {
      verifyModelDir(dir, this.#verifyOpts());
      installed = true; // kept on disk from before (a rollback to the previous version needs no download)
    } catch {
      /* not installed yet */
    }
    if (!installed) {
      await this.#report(name, desired, 'downloading');
      const part = await this.#download(desired.artifactUrl, manifest);
      await this.#report(name, desired, 'downloaded');
      const tmpDir = `${dir}.tmp`;
      await rm(tmpDir, { recursive: true, force: true });
      await mkdir(tmpDir, { recursive: true });
      await rename(part, join(tmpDir, manifest.artifact.file));
      await writeFile(join(tmpDir, MANIFEST_FILE), JSON.stringify(desired.manifest, null, 2) + '\n');
      verifyModelDir(tmpDir, this.#verifyOpts()); // sha256 + signature of what is on disk
      await rm(dir, { recursive: true, force: true });
      await rename(tmpDir, dir);
    }
    await this.#report(name, desired, 'verified');
    const modelPath = join(dir, manifest.artifact.file);
    const before = this.#o.host.active(name);
    await this.#o.host.activate(manifest, modelPath); // fresh session + test vector; rejects keeping the old model
    const slot = (this.#state.models[name] ??= {});
    const beforeInstalled =
      before && slot.active?.sha256 === before.manifest.artifact.sha256 && slot.active.version === before.manifest.version ? slot.active : before ? fromActive(before) : slot.active;
    if (beforeInstalled && beforeInstalled.dir !== dir) slot.previous = beforeInstalled;
    slot.active = { version: manifest.version, sha256: manifest.artifact.sha256, dir, modelPath };
    await this.#saveState();
    await this.#prune(name);
    await this.#report(name, desired, 'active');
    this.#watchLatency(name, desired, manifest);
  }

  /** Download to staging/<sha256>.part, resuming a partial file with Range; returns the path of the full file. */
  async #download(url: string, manifest: Manifest): Promise<string> {
    const part = join(this.#o.modelsDir, 'staging', `${manifest.artifact.sha256}.part`);
    // downloadRetry.maxAttempts counts retries (the first download is not one); lib/retry.ts counts calls
    const policy = { ...DEFAULT_RETRY, ...this.#o.downloadRetry };
    let attempts = 0;
    try {
      await retry(() => this.#downloadOnce(url, part, manifest.artifact.bytes), {
        policy: { ...policy, maxAttempts: policy.maxAttempts + 1 },
        retryable: (err) => !(err as EdgeloopError).details?.permanent,
        clock: this.#o.clock,
        signal: this.#abort.signal,
        onFailedAttempt: ({ error, attempt, delayMs }) => {
          attempts = attempt;
          if (delayMs !== undefined) this.#o.logger.warn({ err: error, url, delay: delayMs }, 'download failed; retrying');
        },
      });
      return part;
    } catch (err) {
      if (this.#abort.signal.aborted) throw err;
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `download of ${url} failed after ${attempts} attempts: ${(err as Error).message}`, { cause: err });
    }
  }

  async #downloadOnce(url: string, part: string, size: number): Promise<void> {
    let have = 0;
    try {
      have = (await stat(part)).size;
    } catch {
      have = 0;
    }
    if (have > size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have === size) return;
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.downloadTimeoutMs)]);
    const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
    const res = await this.#o.fetch(url, { headers, signal });
    if (res.status === 416) {
      await res.body?.cancel();
      await rm(part, { force: true });
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `server refused the range from byte ${have} (416); restarting the download`);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `GET ${url} answered HTTP ${res.status}`, {
        details: { status: res.status, permanent: res.status === 404 || res.status === 410 || res.status === 403 || res.status === 401 },
      });
    }
    let append = false;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!cr || Number(cr[1]) !== have) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `unexpected Content-Range ${res.headers.get('content-range')} for a resume from ${have}`);
      }
      append = true;
    }
    if (!res.body) throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `GET ${url} has no body`);
    // chunks are written as they arrive, so what came before a broken connection stays for the resume
    const fh = await open(part, append ? 'a' : 'w');
    try {
      let written = append ? have : 0;
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        written += chunk.byteLength;
        if (written > size) break; // longer than the manifest says: checked (and discarded) below
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const got = (await stat(part)).size;
    if (got !== size) {
      if (got > size) await rm(part, { force: true });
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `download ended at ${got} of ${size} bytes`);
    }
  }

  async #prune(name: string): Promise<void> {
    const base = join(this.#o.modelsDir, 'versions', name);
    const slot = this.#state.models[name];
    const keep = new Set([slot?.active?.dir, slot?.previous?.dir].filter(Boolean) as string[]);
    let entries: string[];
    try {
      entries = await readdir(base);
    } catch {
      return;
    }
    const others = [];
    for (const e of entries) {
      const p = join(base, e);
      if (keep.has(p) || e.endsWith('.tmp')) continue;
      others.push({ p, t: (await stat(p)).mtimeMs });
    }
    others.sort((a, b) => b.t - a.t);
    for (const o of others.slice(Math.max(0, this.#o.keepVersions - keep.size))) await rm(o.p, { recursive: true, force: true });
  }

  /** After activation: revert to the previous model when p95 exceeds manifest.latencyBudgetMs. */
  #watchLatency(name: string, desired: ModelDesiredMessage, manifest: Manifest): void {
    const budget = manifest.latencyBudgetMs;
    const old = this.#watches.get(name);
    if (old) this.#o.clock.clearTimeout(old);
    this.#watches.delete(name);
    if (budget === undefined) return;
    const until = this.#o.clock.now() + this.#o.latencyWatchMs;
    const check = (): void => {
      this.#watches.delete(name);
      if (this.#closed) return;
      const active = this.#o.host.active(name);
      if (!active || active.manifest.artifact.sha256 !== manifest.artifact.sha256 || active.manifest.version !== manifest.version) return; // replaced meanwhile
      const s = this.#o.host.stats(name);
      if (s && s.windows >= this.#o.latencyMinWindows && s.p95Ms > budget) {
        const reason = `EL_ERR_UPDATE_LATENCY: p95 ${s.p95Ms.toFixed(3)} ms over ${s.windows} windows exceeds the budget of ${budget} ms`;
        const prev = this.#chains.get(name) ?? Promise.resolve();
        const run: Promise<void> = prev
          .then(() => this.#revert(name, desired, manifest, reason))
          .catch((err: unknown) => this.#o.logger.error({ err, model: name }, 'revert crashed'))
          .finally(() => {
            if (this.#chains.get(name) === run) this.#chains.delete(name);
          });
        this.#chains.set(name, run);
        return;
      }
      if (s && s.windows >= this.#o.latencyMinWindows) return; // judged: within budget
      if (this.#o.clock.now() >= until) return;
      const h = this.#o.clock.setTimeout(check, this.#o.latencyCheckMs);
      h.unref?.();
      this.#watches.set(name, h);
    };
    const h = this.#o.clock.setTimeout(check, this.#o.latencyCheckMs);
    h.unref?.();
    this.#watches.set(name, h);
  }

  async #revert(name: string, desired: ModelDesiredMessage, manifest: Manifest, reason: string): Promise<void> {
    const slot = this.#state.models[name];
    const prev = slot?.previous;
    this.#state.refused[name] = `${desired.version}:${manifest.artifact.sha256}:${desired.seq}`;
    if (!prev) {
      this.#o.logger.error({ model: name }, `${reason}; no previous model to revert to`);
      await this.#saveState();
      await this.#report(name, desired, 'failed', `${reason}; no previous model on disk`);
      return;
    }
    try {
      const v = verifyModelDir(prev.dir, this.#verifyOpts());
      await this.#o.host.activate(v.manifest, v.modelPath);
      slot.previous = slot.active;
      slot.active = prev;
      await this.#saveState();
      this.#o.logger.warn({ model: name, from: manifest.version, to: prev.version }, reason);
      await this.#report(name, desired, 'rolled-back', `${reason}; reverted to ${prev.version}`);
    } catch (err) {
      await this.#saveState();
      await this.#report(name, desired, 'failed', `${reason}; revert to ${prev.version} failed: ${(err as Error).message}`);
    }
  }

  #seq(): number {
    if (this.#o.nextSeq) return this.#o.nextSeq();
    // own counter: monotonic, and never behind the clock so it survives a lost state file
    this.#state.reportSeq = Math.max(this.#state.reportSeq + 1, this.#o.clock.now());
    return this.#state.reportSeq;
  }

  async #report(name: string, desired: ModelDesiredMessage, state: ModelReportState, reason?: string): Promise<void> {
    const msg: ModelReportMessage = {
      v: SCHEMA_VERSION,
      type: 'model-report',
      deviceId: this.#o.deviceId,
      seq: this.#seq(),
      ts: this.#o.clock.now(),
      model: name,
      version: desired.version,
      state,
      ...(reason !== undefined ? { reason: reason.slice(0, 1000) } : {}),
      ...(desired.rolloutId !== undefined ? { rolloutId: desired.rolloutId } : {}),
    };
    for (const l of this.#reportListeners) l(msg);
    this.#pendingReports.push(msg);
    if (this.#pendingReports.length > 100) this.#pendingReports.splice(0, this.#pendingReports.length - 100);
    await this.#flushReports();
  }

  /** Publish queued reports in order; the ones that fail stay queued (bounded: 100, oldest dropped) for 'connect'. */
  async #flushReports(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      await this.#flushLoop();
    } finally {
      this.#flushing = false;
    }
  }

  async #flushLoop(): Promise<void> {
    while (this.#pendingReports.length && this.#o.transport.connected) {
      const m = this.#pendingReports[0]!;
      try {
        await this.#o.transport.publish({ topic: this.#o.topics.modelReport(this.#o.deviceId), payload: encodeMessage(m), qos: 1 });
        if (this.#pendingReports[0] === m) this.#pendingReports.shift();
      } catch (err) {
        this.#o.logger.debug({ err }, 'report not sent; kept for the next connection');
        return;
      }
    }
  }
}

function safe(v: string): string {
  return v.replace(/[^A-Za-z0-9._-]/g, '_');
}

function fromActive(a: { manifest: Manifest; modelPath: string }): InstalledVersion {
  return { version: a.manifest.version, sha256: a.manifest.artifact.sha256, dir: join(a.modelPath, '..'), modelPath: a.modelPath };
}

