/**
 * The one retry loop: call `fn` until it succeeds, waiting between attempts per a policy that is data
 * (lib/backoff.ts: min, max, factor, jitter, max attempts) and stopping early on an error the `retryable`
 * predicate refuses or on `signal`. Every failed attempt goes through `onFailedAttempt` (logging, metrics), with the
 * delay before the next attempt or `undefined` when this was the last one.
 *
 *   const rows = await retry(() => stream.put(records), {
 *     policy: { minMs: 50, maxMs: 2000, maxAttempts: 5 },
 *     retryable: (err) => !closed,
 *     onFailedAttempt: ({ error, attempt, delayMs }) => log.warn({ err: error, attempt, delayMs }, 'put failed'),
 *   });
 *
 * Here `maxAttempts` counts calls of `fn` (3 = one call and at most two retries). When the attempts run out, the
 * predicate refuses, or `signal` aborts, the promise rejects with the last error `fn` threw, unchanged: callers
 * match on its code or wrap it.
 *
 * The wait between attempts is a timer on the injected clock that stays referenced: the caller awaits the retry,
 * and a process (or the Lambda runtime, whose event loop draining means "the handler returned") must not take an
 * unreferenced wait for "nothing left to do" while an operation is still failing. An owner that closes aborts
 * `signal`, which ends the wait at once.
 */
import { backoffDelay, DEFAULT_RETRY, type RetryPolicy } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';

export interface FailedAttempt {
  error: unknown;
  /** 1-based number of the call that failed */
  attempt: number;
  /** wait before the next attempt, ms; undefined when there is none (attempts exhausted, not retryable, aborted) */
  delayMs: number | undefined;
}

export interface RetryOptions {
  /** delays and the attempt limit; missing fields from DEFAULT_RETRY (maxAttempts Infinity) */
  policy?: Partial<RetryPolicy>;
  /** whether an error is worth another attempt (default: every error); called once per failed attempt */
  retryable?: (error: unknown, attempt: number) => boolean;
  /** called once per failed attempt, before the wait */
  onFailedAttempt?: (f: FailedAttempt) => void;
  clock?: Clock;
  /** source of jitter in [0, 1) */
  random?: () => number;
  /** stops retrying: a pending wait ends at once and the last error is thrown */
  signal?: AbortSignal;
}

/** Runs `fn(attempt)` (attempt counts from 1) until it resolves; see the file comment for when it gives up. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...o.policy };
  const clock = o.clock ?? systemClock;
  const random = o.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const again = attempt < policy.maxAttempts && !o.signal?.aborted && (o.retryable?.(error, attempt) ?? true);
      const delayMs = again ? backoffDelay(policy, attempt - 1, random) : undefined;
      o.onFailedAttempt?.({ error, attempt, delayMs });
      if (delayMs === undefined) throw error;
      await wait(clock, delayMs, o.signal);
      if (o.signal?.aborted) throw error;
    }
  }
}

/** A referenced timer on `clock` that `signal` cuts short. */
function wait(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
