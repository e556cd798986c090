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
 *
 * Shadow assignments arrive on the device's shadow topic (`{deviceId}/models/{name}/shadow`, role "shadow"): the
 * candidate is verified, downloaded and installed exactly like an update (reports carry `role: "shadow"`), then
 * handed to ModelHost.activateShadow(): it runs beside the active model, which stays the one acted upon. An empty
 * retained message on that topic stops the shadow. A shadow is not persisted as a slot: after a restart the retained
 * assignment is delivered again and the installed version is loaded without a download.
 *
 * The parts: ArtifactFetcher (artifact-fetcher.ts: download with range/resume and retry), ModelVerifier
 * (model-verifier.ts: manifest signature, sha256 + signature on disk), ModelSwapper (model-swapper.ts: install,
 * activate keeping the previous model, revert, prune), ModelReporter (model-reporter.ts: reports on MQTT), and
 * updater-state.ts (the persisted state file), ShadowReconciler (shadow-reconciler.ts: the shadow path) and
 * updater-options.ts (options and their validation). This file keeps the desired state (topics, stale seqs, one
 * reconcile at a time per model) and the latency watch, and composes the parts.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TimerHandle } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import {
  validateModelDesired,
  type ModelDesiredMessage,
  type ModelReportMessage,
  type ModelReportState,
} from '../../protocol/messages.ts';
import { TrustedKeyRing } from '../../models/manifest/index.ts';
import { ArtifactFetcher } from './artifact-fetcher.ts';
import { ModelVerifier } from './model-verifier.ts';
import { ModelSwapper, type ModelSlots } from './model-swapper.ts';
import { ModelReporter } from './model-reporter.ts';
import { SHADOW_PREFIX, ShadowReconciler, shadowKey } from './shadow-reconciler.ts';
import { resolveUpdaterOptions, type ModelUpdaterOptions, type ResolvedUpdaterOptions } from './updater-options.ts';
import { emptyUpdaterState, loadUpdaterState, saveUpdaterState, type UpdaterState } from './updater-state.ts';

export type { ModelUpdaterOptions } from './updater-options.ts';

export interface UpdaterEvents {
  report: ModelReportMessage;
}

export interface UpdaterStatus {
  desired: Record<string, { source: 'device' | 'fleet'; version: string; seq: number } | undefined>;
  installed: ModelSlots;
  busy: string[];
}

export class ModelUpdater {
  readonly #o: ResolvedUpdaterOptions;
  readonly #verifier: ModelVerifier;
  readonly #fetcher: ArtifactFetcher;
  readonly #swapper: ModelSwapper;
  readonly #reporter: ModelReporter;
  #state: UpdaterState = emptyUpdaterState();
  readonly #fleet = new Map<string, ModelDesiredMessage>();
  readonly #device = new Map<string, ModelDesiredMessage>();
  readonly #shadow: ShadowReconciler;
  /** per model: the chain of reconcile runs (one at a time per model) */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #dirty = new Set<string>();
  readonly #busy = new Set<string>();
  readonly #watches = new Map<string, TimerHandle>();
  readonly #abort = new AbortController();
  #started = false;
  #closed = false;
  #onMessage = (topic: string, payload: Buffer): void => this.#handle(topic, payload);
  #onConnect = (): void => {
    void this.#subscribe().catch((err: unknown) => this.#o.logger.warn({ err }, 'resubscribe failed'));
    void this.#reporter.flush();
  };

  constructor(opts: ModelUpdaterOptions) {
    const { options, keys, requireSignature } = resolveUpdaterOptions(opts);
    this.#o = options;
    const o = this.#o;
    // a TrustedKeyRing is kept as it is: it re-reads its key directories when a manifest names an unknown key
    const verifier = (this.#verifier = new ModelVerifier({
      trustedKeys: keys instanceof TrustedKeyRing ? keys : new Map(keys),
      requireSignature,
    }));
    this.#fetcher = new ArtifactFetcher({
      stagingDir: join(o.modelsDir, 'staging'),
      fetch: o.fetch,
      clock: o.clock,
      logger: o.logger,
      retry: o.downloadRetry,
      timeoutMs: o.downloadTimeoutMs,
      signal: this.#abort.signal,
    });
    this.#swapper = new ModelSwapper({
      modelsDir: o.modelsDir,
      host: o.host,
      verifier,
      keepVersions: o.keepVersions,
      slots: () => this.#state.models,
    });
    this.#reporter = new ModelReporter({
      deviceId: o.deviceId,
      transport: o.transport,
      topics: o.topics,
      clock: o.clock,
      logger: o.logger,
      nextSeq: () => this.#seq(),
    });
    this.#shadow = new ShadowReconciler({
      host: o.host,
      enabled: o.shadow,
      logger: o.logger,
      verifier,
      state: () => this.#state,
      saveState: () => this.#saveState(),
      report: (name, desired, state, reason) => this.#report(name, desired, state, reason),
      install: (name, desired) => this.#install(name, desired),
      busy: this.#busy,
      cancelled: () => this.#closed && this.#abort.signal.aborted,
    });
  }

  /** Load the store's state, restore the last active models, subscribe. Idempotent. */
  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'model updater is closed');
    if (this.#started) return;
    this.#started = true;
    await mkdir(join(this.#o.modelsDir, 'staging'), { recursive: true });
    await mkdir(join(this.#o.modelsDir, 'versions'), { recursive: true });
    this.#state = await loadUpdaterState(this.#statePath(), this.#state, this.#o.logger);
    if (this.#o.restoreOnStart) {
      for (const [name, m] of Object.entries(this.#state.models)) {
        // the agent may have loaded its configured model first; the last model the updater activated wins
        if (!m.active || this.#o.host.active(name)?.manifest.artifact.sha256 === m.active.sha256) continue;
        try {
          await this.#swapper.reactivate(m.active);
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
    return this.#reporter.onReport(listener);
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
      desired[n] = d
        ? { source: 'device', version: d.version, seq: d.seq }
        : f
          ? { source: 'fleet', version: f.version, seq: f.seq }
          : undefined;
    }
    return { desired, installed: structuredClone(this.#state.models), busy: [...this.#busy] };
  }

  async #subscribe(): Promise<void> {
    await this.#o.transport.subscribe(this.#o.topics.agentModelSubscriptions(this.#o.deviceId), 1);
    if (!this.#o.host.activateShadow) return;
    // its own SUBSCRIBE: a broker whose policy predates shadow topics refuses only this one
    await this.#o.transport
      .subscribe(this.#o.topics.agentShadowSubscriptions(this.#o.deviceId), 1)
      .catch((err: unknown) => this.#o.logger.warn({ err }, 'shadow topic subscription refused'));
  }

  #statePath(): string {
    return join(this.#o.modelsDir, 'updater-state.json');
  }

  #saveState(): Promise<void> {
    return saveUpdaterState(this.#statePath(), this.#state);
  }

  #handle(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    const t = this.#o.topics.parse(topic);
    if (!t || t.kind !== 'model-desired' || !t.modelName) return;
    if (t.deviceId !== undefined && t.deviceId !== this.#o.deviceId) return;
    const name = t.modelName;
    // a host without shadow support never subscribed; one that declines them answers (see ShadowReconciler)
    if (t.shadow && !this.#o.host.activateShadow) return;
    const map = t.shadow ? this.#shadow.assignments : t.deviceId === undefined ? this.#fleet : this.#device;
    const key = t.shadow ? shadowKey(name) : name;
    if (payload.byteLength === 0) {
      // retained message cleared: the per-device override is gone (fall back to the fleet manifest)
      if (map.delete(name)) this.#o.logger.info({ model: name, topic }, 'desired manifest cleared');
      this.#schedule(key);
      return;
    }
    let msg: ModelDesiredMessage;
    try {
      msg = validateModelDesired(JSON.parse(payload.toString('utf8')));
      if (msg.name !== name)
        throw new EdgeloopError(
          'EL_ERR_UPDATE_REJECTED',
          `message names model "${msg.name}" on the topic of "${name}"`,
        );
      if ((msg.role === 'shadow') !== Boolean(t.shadow))
        throw new EdgeloopError(
          'EL_ERR_UPDATE_REJECTED',
          t.shadow
            ? 'a shadow topic carries a message without role "shadow"'
            : 'a shadow assignment (role "shadow") on a desired-model topic',
        );
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
    this.#schedule(key);
  }

  /** Queue a reconcile of a model (or of its shadow: SHADOW_PREFIX + name); runs coalesce (the last desired state wins). */
  #schedule(key: string): void {
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    // a model's update and its shadow run on one chain: both install into the same store and staging files
    const chain = key.startsWith(SHADOW_PREFIX) ? key.slice(SHADOW_PREFIX.length) : key;
    const prev = this.#chains.get(chain) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        this.#dirty.delete(key);
        if (this.#closed) return;
        await this.#reconcile(key);
      })
      .catch((err: unknown) => this.#o.logger.error({ err, model: chain }, 'model update crashed'))
      .finally(() => {
        if (this.#chains.get(chain) === next) this.#chains.delete(chain);
      });
    this.#chains.set(chain, next);
  }

  async #reconcile(name: string): Promise<void> {
    if (name.startsWith(SHADOW_PREFIX)) return this.#shadow.reconcile(name.slice(SHADOW_PREFIX.length));
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
    const { manifest, dir } = await this.#install(name, desired);
    await this.#swapper.activate(name, manifest, dir);
    await this.#saveState();
    await this.#swapper.prune(name);
    await this.#report(name, desired, 'active');
    this.#watchLatency(name, desired, manifest);
  }

  /**
   * Report `received`, check the desired manifest's signature (nothing untrusted is downloaded), download and
   * install it unless that version is on disk already, report `verified`. Resolves with the checked manifest and the
   * version's directory.
   */
  async #install(name: string, desired: ModelDesiredMessage): Promise<{ manifest: Manifest; dir: string }> {
    await this.#report(name, desired, 'received');
    const manifest = this.#verifier.desiredManifest(name, desired);
    const dir = this.#swapper.versionDir(name, manifest);
    if (!this.#swapper.installed(dir)) {
      await this.#report(name, desired, 'downloading');
      const part = await this.#fetcher.download(desired.artifactUrl, manifest);
      await this.#report(name, desired, 'downloaded');
      await this.#swapper.install(dir, part, manifest, desired.manifest);
    }
    await this.#report(name, desired, 'verified');
    return { manifest, dir };
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
      if (
        !active ||
        active.manifest.artifact.sha256 !== manifest.artifact.sha256 ||
        active.manifest.version !== manifest.version
      )
        return; // replaced meanwhile
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
      await this.#swapper.revert(name, prev);
      await this.#saveState();
      this.#o.logger.warn({ model: name, from: manifest.version, to: prev.version }, reason);
      await this.#report(name, desired, 'rolled-back', `${reason}; reverted to ${prev.version}`);
    } catch (err) {
      await this.#saveState();
      await this.#report(
        name,
        desired,
        'failed',
        `${reason}; revert to ${prev.version} failed: ${(err as Error).message}`,
      );
    }
  }

  #seq(): number {
    if (this.#o.nextSeq) return this.#o.nextSeq();
    // own counter: monotonic, and never behind the clock so it survives a lost state file
    this.#state.reportSeq = Math.max(this.#state.reportSeq + 1, this.#o.clock.now());
    return this.#state.reportSeq;
  }

  #report(name: string, desired: ModelDesiredMessage, state: ModelReportState, reason?: string): Promise<void> {
    return this.#reporter.report(name, desired, state, reason);
  }
}
