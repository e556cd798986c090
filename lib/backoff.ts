/**
 * Retry policy as data, and exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
 * and Jitter"): delay = random(0, min(max, base * factor^attempt)). Full jitter spreads a fleet's reconnects
 * after a broker restart instead of synchronising them into a storm.
 */
export interface RetryPolicy {
  /** first delay cap, ms */
  minMs: number;
  /** largest delay cap, ms */
  maxMs: number;
  factor: number;
  /** 'full' = uniform in [0, cap]; 'none' = exactly cap */
  jitter: 'full' | 'none';
  /** give up after this many attempts (Infinity = never) */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  minMs: 100,
  maxMs: 30_000,
  factor: 2,
  jitter: 'full',
  maxAttempts: Infinity,
});

/** Delay before retry number `attempt` (0-based). `random` is injectable for tests. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.minMs * policy.factor ** Math.max(0, attempt));
  return policy.jitter === 'full' ? Math.floor(random() * cap) : cap;
}

export class Backoff {
  readonly policy: RetryPolicy;
  #attempt = 0;
  readonly #random: () => number;

  constructor(policy: Partial<RetryPolicy> = {}, random: () => number = Math.random) {
    this.policy = Object.freeze({ ...DEFAULT_RETRY, ...policy });
    this.#random = random;
  }
  get attempt(): number {
    return this.#attempt;
  }
  /** Next delay, or undefined when attempts are exhausted. */
  next(): number | undefined {
    if (this.#attempt >= this.policy.maxAttempts) return undefined;
    return backoffDelay(this.policy, this.#attempt++, this.#random);
  }
  reset(): void {
    this.#attempt = 0;
  }
}
