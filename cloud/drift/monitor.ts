/**
 * DriftMonitorState: the per-subject state machine that keeps a drift monitor from flapping. Pure; time comes in
 * with each observation (the caller's injected clock).
 *
 * - A check with fewer than `minSamples` values is 'insufficient': it neither fires nor clears anything.
 * - k-of-m hysteresis: the state becomes 'drift' when at least `detectK` of the last `window` sufficient checks
 *   fired, and returns to 'ok' when at most `clearK` of the last `window` fired (default 0: a whole clean window).
 * - `cooldownMs`: after a change, no other change for this long (a detection is not cleared a moment later).
 *
 * With a per-check false-alarm rate α the chance of a false detection per check is about C(m, k) α^k, far below
 * α for k ≥ 2; the per-check rate is the calibrated one, the hysteresis only makes events rarer.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface MonitorPolicy {
  /** values a check needs to count. Default 50. */
  minSamples: number;
  /** fired checks among the last `window` that raise drift. Default 2. */
  detectK: number;
  /** at most this many fired checks among the last `window` clear it. Default 0. */
  clearK: number;
  /** checks remembered. Default 3. */
  window: number;
  /** no state change for this long after one, ms. Default 10 minutes. */
  cooldownMs: number;
}

export const DEFAULT_MONITOR_POLICY: Readonly<MonitorPolicy> = Object.freeze({
  minSamples: 50,
  detectK: 2,
  clearK: 0,
  window: 3,
  cooldownMs: 10 * 60_000,
});

export type MonitorStateName = 'ok' | 'drift';

export interface MonitorTransition {
  from: MonitorStateName;
  to: MonitorStateName;
  at: number;
  /** fired checks in the window when it changed */
  fired: number;
  window: number;
}

/** Merge a partial policy over the defaults and check it; the error names the field. */
export function monitorPolicy(p: Partial<MonitorPolicy> = {}): MonitorPolicy {
  const known = Object.keys(DEFAULT_MONITOR_POLICY);
  for (const k of Object.keys(p))
    if (!known.includes(k))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `drift monitor policy: unknown option "${k}" (known: ${known.join(', ')})`,
      );
  const o = { ...DEFAULT_MONITOR_POLICY, ...p };
  const bad = (k: string, want: string): never => {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `drift monitor policy: ${k} must be ${want}, got ${JSON.stringify((o as Record<string, unknown>)[k])}`,
    );
  };
  if (!Number.isInteger(o.window) || o.window < 1) bad('window', 'an integer ≥ 1');
  if (!Number.isInteger(o.detectK) || o.detectK < 1 || o.detectK > o.window)
    bad('detectK', `an integer in [1, window=${o.window}]`);
  if (!Number.isInteger(o.clearK) || o.clearK < 0 || o.clearK >= o.detectK)
    bad('clearK', `an integer in [0, detectK=${o.detectK})`);
  if (!Number.isInteger(o.minSamples) || o.minSamples < 1) bad('minSamples', 'an integer ≥ 1');
  if (!Number.isFinite(o.cooldownMs) || o.cooldownMs < 0) bad('cooldownMs', 'a number of ms ≥ 0');
  return Object.freeze(o);
}

export class DriftMonitorState {
  readonly #p: MonitorPolicy;
  readonly #recent: boolean[] = [];
  #state: MonitorStateName;
  #changedAt: number;

  constructor(policy: MonitorPolicy, initial: { state?: MonitorStateName; changedAt?: number } = {}) {
    this.#p = policy;
    this.#state = initial.state ?? 'ok';
    this.#changedAt = initial.changedAt ?? Number.NEGATIVE_INFINITY;
  }

  get state(): MonitorStateName {
    return this.#state;
  }

  get changedAt(): number {
    return this.#changedAt;
  }

  /** fired checks among the remembered ones */
  get fired(): number {
    return this.#recent.filter(Boolean).length;
  }

  /** Record one check; returns the transition when the state changed. */
  observe(check: { n: number; fired: boolean; at: number }): MonitorTransition | undefined {
    if (check.n < this.#p.minSamples) return undefined;
    this.#recent.push(check.fired);
    if (this.#recent.length > this.#p.window) this.#recent.shift();
    if (check.at - this.#changedAt < this.#p.cooldownMs) return undefined;
    const fired = this.fired;
    let to: MonitorStateName | undefined;
    if (this.#state === 'ok' && fired >= this.#p.detectK) to = 'drift';
    else if (this.#state === 'drift' && this.#recent.length >= this.#p.window && fired <= this.#p.clearK) to = 'ok';
    if (!to) return undefined;
    const t: MonitorTransition = { from: this.#state, to, at: check.at, fired, window: this.#recent.length };
    this.#state = to;
    this.#changedAt = check.at;
    return t;
  }
}
