/**
 * ShadowReconciler: the shadow path of the model updater. It keeps the shadow assignments (by model name, from the
 * device's shadow topic) and brings the host's shadow candidate of a model in line with its assignment: none stops
 * it; one already running is reported `active`; otherwise the candidate is installed exactly like an update
 * (reports carry `role: "shadow"`) and handed to ModelHost.activateShadow(). A device that declines shadows
 * (`shadow: false`) answers each assignment with a `failed` report. A refused assignment is not retried until a newer
 * one arrives. The updater runs it on the model's own reconcile chain, keyed apart with `shadowKey()`.
 */
import type { Logger } from '../../lib/logger.ts';
import type { EdgeloopError } from '../../protocol/errors.ts';
import type { ModelDesiredMessage, ModelReportState } from '../../protocol/messages.ts';
import type { ModelHost } from './model-host.ts';
import type { ModelVerifier } from './model-verifier.ts';
import type { UpdaterState } from './updater-state.ts';

/** reconcile chains and refused entries of shadow assignments are keyed apart from the model's own ("/" is in no model name) */
export const SHADOW_PREFIX = 'shadow/';
export function shadowKey(name: string): string {
  return SHADOW_PREFIX + name;
}

/** What the shadow path uses of the updater. */
export interface ShadowContext {
  host: ModelHost;
  /** run shadow assignments (the updater's `shadow` option) */
  enabled: boolean;
  logger: Logger;
  verifier: ModelVerifier;
  /** the updater's persisted state (refused entries), and saving it */
  state: () => UpdaterState;
  saveState: () => Promise<void>;
  report: (name: string, desired: ModelDesiredMessage, state: ModelReportState, reason?: string) => Promise<void>;
  /** report `received`, download and install when not on disk yet, report `verified`; resolves with the version dir */
  install: (name: string, desired: ModelDesiredMessage) => Promise<{ dir: string }>;
  /** keys of the reconciles running now (status) */
  busy: Set<string>;
  /** the updater was closed while this ran: a failure is then no refusal */
  cancelled: () => boolean;
}

export class ShadowReconciler {
  /** shadow assignments by model name */
  readonly assignments = new Map<string, ModelDesiredMessage>();
  readonly #c: ShadowContext;

  constructor(context: ShadowContext) {
    this.#c = context;
  }

  /** Bring the shadow candidate of `name` in line with its assignment (none: stop it). */
  async reconcile(name: string): Promise<void> {
    const c = this.#c;
    const host = c.host;
    const desired = this.assignments.get(name);
    if (!desired) {
      await host.clearShadow?.(name);
      return;
    }
    const sha = (desired.manifest as { artifact?: { sha256?: unknown } }).artifact?.sha256;
    const running = host.shadow?.(name);
    if (running && running.manifest.version === desired.version && running.manifest.artifact.sha256 === sha) {
      await c.report(name, desired, 'active');
      return;
    }
    const key = `${desired.version}:${String(sha)}:${desired.seq}`;
    const refusedKey = shadowKey(name);
    if (c.state().refused[refusedKey] === key) return;
    if (!c.enabled) {
      c.state().refused[refusedKey] = key;
      await c.saveState().catch(() => undefined);
      await c.report(
        name,
        desired,
        'failed',
        'EL_ERR_UPDATE_REJECTED: this device does not run shadow models (models.shadow: false)',
      );
      return;
    }
    c.busy.add(refusedKey);
    try {
      const { dir } = await c.install(name, desired);
      const v = c.verifier.modelDir(dir);
      await host.activateShadow!(v.manifest, v.modelPath);
      await c.report(name, desired, 'active');
    } catch (err) {
      if (c.cancelled()) return;
      const e = err as EdgeloopError;
      c.state().refused[refusedKey] = key;
      await c.saveState().catch(() => undefined);
      c.logger.warn({ err, model: name, version: desired.version }, 'shadow model refused');
      await c.report(name, desired, 'failed', `${e.code ?? 'Error'}: ${e.message}`);
    } finally {
      c.busy.delete(refusedKey);
    }
  }
}
