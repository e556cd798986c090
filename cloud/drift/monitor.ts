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
import { z } from 'zod';
import { optionRuleError, parseOptions } from '../../lib/options.ts';

const W = 'drift monitor policy';
const CODE = 'EL_ERR_INVALID_ARGUMENT';

/** The monitor policy with its defaults (also the drift config's `policy` section). */
export const MonitorPolicySchema = z.strictObject({
  /** values a check needs to count */
  minSamples: z.number().int().min(1).default(50),
  /** fired checks among the last `window` that raise drift */
  detectK: z.number().int().min(1).default(2),
  /** at most this many fired checks among the last `window` clear it */
  clearK: z.number().int().min(0).default(0),
  /** checks remembered */
  window: z.number().int().min(1).default(3),
  /** no state change for this long after one, ms (10 minutes) */
  cooldownMs: z
    .number()
    .min(0)
    .default(10 * 60_000),
});

export type MonitorPolicy = z.output<typeof MonitorPolicySchema>;

export const DEFAULT_MONITOR_POLICY: Readonly<MonitorPolicy> = Object.freeze(MonitorPolicySchema.parse({}));

export type MonitorStateName = 'ok' | 'drift';

export interface MonitorTransition {
  from: MonitorStateName;
  to: MonitorStateName;
  at: number;
  /** fired checks in the window when it changed */
  fired: number;
  window: number;
}

/** Merge a partial policy over the defaults and check it (lib/options.ts); the error names the field. */
export function monitorPolicy(p: Partial<MonitorPolicy> = {}): MonitorPolicy {
  const o = parseOptions(MonitorPolicySchema, p, { where: W, code: CODE });
  if (o.detectK > o.window)
    throw optionRuleError(
      W,
      'detectK',
      `detectK must be an integer in [1, window=${o.window}], got ${o.detectK}`,
      CODE,
    );
  if (o.clearK >= o.detectK)
    throw optionRuleError(W, 'clearK', `clearK must be an integer in [0, detectK=${o.detectK}), got ${o.clearK}`, CODE);
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
