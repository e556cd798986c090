/**
 * Failed-login rate limiting for the embedded broker: pure logic, no I/O, time from an injected clock.
 *
 * Failures are counted per client address and per username in a sliding window. When a key reaches its limit it
 * is locked out; while locked, logins for it are refused without checking the password (which also saves the
 * scrypt work an attacker would make the broker do). Once a lockout ends, a single further failure within one
 * window locks the key again for twice as long, up to `maxLockoutMs`. A key forgets its history once a whole
 * window has passed without failures since its last lockout ended. A successful login clears its username's failures (not its address's: one valid account
 * must not reset the counter of an address that guesses other accounts' passwords).
 *
 * Memory is bounded: at most `maxTrackedKeys` keys are tracked; beyond that the least recently failed key is
 * dropped (so a flood of distinct usernames cannot grow the table; the address key still limits such a flood).
 */
import { z } from 'zod';
import { optionRuleError, parseOptions } from '../../lib/options.ts';
import { backoffDelay, type RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';

const positiveInt = z.number().int().min(1);

export const LoginRateLimitOptionsSchema = z.strictObject({
  /** sliding window over which failures are counted, ms */
  windowMs: positiveInt.default(60_000),
  /** failures from one client address within the window before it is locked out */
  maxFailuresPerAddress: positiveInt.default(20),
  /** failures for one username within the window before it is locked out */
  maxFailuresPerUsername: positiveInt.default(5),
  /** first lockout, ms; doubles with each further lockout of the same key */
  lockoutMs: positiveInt.default(5_000),
  /** longest lockout, ms */
  maxLockoutMs: positiveInt.default(300_000),
  /** bound on the keys (addresses + usernames) tracked at once */
  maxTrackedKeys: positiveInt.default(10_000),
});

export type LoginRateLimitOptions = z.input<typeof LoginRateLimitOptionsSchema>;
export type ResolvedLoginRateLimitOptions = Readonly<z.output<typeof LoginRateLimitOptionsSchema>>;

const W = 'LoginRateLimiter';
const CODE = 'EL_ERR_INVALID_ARGUMENT';

/** Check `opts` (EL_ERR_INVALID_ARGUMENT naming the option) and fill in the defaults; frozen. */
export function resolveLoginRateLimitOptions(opts: LoginRateLimitOptions): ResolvedLoginRateLimitOptions {
  const o = parseOptions(LoginRateLimitOptionsSchema, opts, { where: W, code: CODE });
  if (o.maxLockoutMs < o.lockoutMs) {
    throw optionRuleError(
      W,
      'maxLockoutMs',
      `maxLockoutMs (${o.maxLockoutMs}) is less than lockoutMs (${o.lockoutMs})`,
      CODE,
    );
  }
  return Object.freeze(o);
}

export type LoginDecision =
  | { allowed: true }
  | { allowed: false; key: 'address' | 'username'; value: string; retryAfterMs: number };

/** A key that has just been locked out (for the log line and the counter). */
export interface Lockout {
  key: 'address' | 'username';
  value: string;
  failures: number;
  lockoutMs: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
  lockouts: number;
}

export class LoginRateLimiter {
  readonly options: ResolvedLoginRateLimitOptions;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #backoff: RetryPolicy;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: LoginRateLimitOptions = {}, clock: Pick<Clock, 'now'> = systemClock) {
    const o = resolveLoginRateLimitOptions(opts);
    this.options = o;
    this.#clock = clock;
    this.#backoff = { minMs: o.lockoutMs, maxMs: o.maxLockoutMs, factor: 2, jitter: 'none', maxAttempts: Infinity };
  }

  /** May this address / username try to log in now? */
  check(address: string | undefined, username: string | undefined): LoginDecision {
    const now = this.#clock.now();
    for (const [key, value] of this.#keys(address, username)) {
      const e = this.#entries.get(`${key}:${value}`);
      if (e && e.lockedUntil > now) return { allowed: false, key, value, retryAfterMs: e.lockedUntil - now };
    }
    return { allowed: true };
  }

  /** Record a failed login; returns the keys this failure locked out (empty when none). */
  recordFailure(address: string | undefined, username: string | undefined): Lockout[] {
    const now = this.#clock.now();
    const locked: Lockout[] = [];
    for (const [key, value] of this.#keys(address, username)) {
      const id = `${key}:${value}`;
      const e = this.#live(id, now) ?? { failures: [], lockedUntil: 0, lockouts: 0 };
      e.failures.push(now);
      this.#entries.delete(id); // re-insert: Map order is then least recently failed first
      this.#entries.set(id, e);
      const max = key === 'address' ? this.options.maxFailuresPerAddress : this.options.maxFailuresPerUsername;
      const recentlyLocked = e.lockouts > 0 && now < e.lockedUntil + this.options.windowMs;
      if (e.lockedUntil <= now && (e.failures.length >= max || recentlyLocked)) {
        const lockoutMs = backoffDelay(this.#backoff, e.lockouts);
        e.lockouts++;
        e.lockedUntil = now + lockoutMs;
        locked.push({ key, value, failures: e.failures.length, lockoutMs });
      }
    }
    while (this.#entries.size > this.options.maxTrackedKeys) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return locked;
  }

  /** A successful login clears the failures of its username. */
  recordSuccess(username: string | undefined): void {
    if (username !== undefined) this.#entries.delete(`username:${username}`);
  }

  /** keys currently tracked (for stats and the memory bound's test) */
  get trackedKeys(): number {
    return this.#entries.size;
  }

  *#keys(address: string | undefined, username: string | undefined): Generator<['address' | 'username', string]> {
    if (address) yield ['address', address];
    if (username !== undefined) yield ['username', username];
  }

  /** The entry with failures older than the window dropped; undefined (and forgotten) once quiet for a window. */
  #live(id: string, now: number): Entry | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    const from = now - this.options.windowMs;
    while (e.failures.length > 0 && e.failures[0]! <= from) e.failures.shift();
    if (e.failures.length === 0 && now >= e.lockedUntil + this.options.windowMs) {
      this.#entries.delete(id);
      return undefined;
    }
    return e;
  }
}
