/**
 * Failed MQTT logins are rate-limited per client address and per username: the pure LoginRateLimiter on a manual
 * clock, then the embedded broker refusing a locked-out username even with the right password, counting and logging it.
 */
import { describe, expect, it } from 'vitest';
import { LoginRateLimiter } from '../../../cloud/broker/login-rate-limiter.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { connect, connectFrom, memoryLogger, startBroker } from './broker-helpers.ts';

describe('LoginRateLimiter', () => {
  const opts = {
    windowMs: 60_000,
    maxFailuresPerUsername: 3,
    maxFailuresPerAddress: 5,
    lockoutMs: 1_000,
    maxLockoutMs: 4_000,
  };

  it('locks a username after maxFailuresPerUsername failures in the window, then doubles the lockout up to the cap', () => {
    const clock = new ManualClock(0);
    const l = new LoginRateLimiter(opts, clock);
    expect(l.recordFailure('10.0.0.1', 'pump-1')).toEqual([]);
    clock.advance(10);
    expect(l.recordFailure('10.0.0.2', 'pump-1')).toEqual([]);
    expect(l.check('10.0.0.3', 'pump-1')).toEqual({ allowed: true });
    expect(l.recordFailure('10.0.0.3', 'pump-1')).toEqual([
      { key: 'username', value: 'pump-1', failures: 3, lockoutMs: 1_000 },
    ]);
    expect(l.check('10.0.0.9', 'pump-1')).toEqual({
      allowed: false,
      key: 'username',
      value: 'pump-1',
      retryAfterMs: 1_000,
    });
    expect(l.check('10.0.0.9', 'pump-2')).toEqual({ allowed: true }); // other users from elsewhere are not affected
    clock.advance(1_000);
    expect(l.check('10.0.0.9', 'pump-1')).toEqual({ allowed: true });
    // one more failure right after a lockout locks again, twice as long; then the cap
    expect(l.recordFailure('10.0.0.9', 'pump-1')).toMatchObject([{ key: 'username', lockoutMs: 2_000 }]);
    clock.advance(2_000);
    expect(l.recordFailure('10.0.0.9', 'pump-1')).toMatchObject([{ lockoutMs: 4_000 }]);
    clock.advance(4_000);
    expect(l.recordFailure('10.0.0.9', 'pump-1')).toMatchObject([{ lockoutMs: 4_000 }]);
  });

  it('locks an address after maxFailuresPerAddress failures over any usernames', () => {
    const clock = new ManualClock(0);
    const l = new LoginRateLimiter(opts, clock);
    for (let i = 0; i < 4; i++) expect(l.recordFailure('10.0.0.1', `user-${i}`)).toEqual([]);
    expect(l.recordFailure('10.0.0.1', 'user-4')).toEqual([
      { key: 'address', value: '10.0.0.1', failures: 5, lockoutMs: 1_000 },
    ]);
    expect(l.check('10.0.0.1', 'someone')).toMatchObject({ allowed: false, key: 'address' });
    expect(l.check('10.0.0.2', 'someone')).toEqual({ allowed: true });
  });

  it('counts only failures inside the sliding window, forgets a quiet key, and a success clears the username', () => {
    const clock = new ManualClock(0);
    const l = new LoginRateLimiter(opts, clock);
    l.recordFailure('a', 'u');
    l.recordFailure('a', 'u');
    clock.advance(60_000); // both fall out of the window
    expect(l.recordFailure('a', 'u')).toEqual([]);
    expect(l.recordFailure('a', 'u')).toEqual([]);
    l.recordSuccess('u');
    expect(l.recordFailure('a', 'u')).toEqual([]); // the username starts again at 1
    expect(l.trackedKeys).toBe(2);
    clock.advance(60_000);
    l.recordFailure('b', 'v');
    expect(l.trackedKeys).toBe(4); // a and u are quiet but only dropped when touched or evicted
  });

  it('tracks at most maxTrackedKeys keys, dropping the least recently failed', () => {
    const l = new LoginRateLimiter({ maxTrackedKeys: 3, maxFailuresPerUsername: 2 }, new ManualClock(0));
    l.recordFailure(undefined, 'u1');
    l.recordFailure(undefined, 'u2');
    l.recordFailure(undefined, 'u3');
    l.recordFailure(undefined, 'u4');
    expect(l.trackedKeys).toBe(3);
    expect(l.recordFailure(undefined, 'u1')).toEqual([]); // u1 was forgotten: this is its first failure again
    expect(l.recordFailure(undefined, 'u4')).toMatchObject([{ value: 'u4', failures: 2 }]);
  });

  it('rejects bad options', () => {
    expect(() => new LoginRateLimiter({ windowMS: 1 } as never)).toThrow(/unknown option "windowMS"/);
    expect(() => new LoginRateLimiter({ lockoutMs: 0 })).toThrow(/lockoutMs: Too small: expected number to be >=1/);
    expect(() => new LoginRateLimiter({ lockoutMs: 10, maxLockoutMs: 5 })).toThrow(/maxLockoutMs/);
  });
});

describe('EmbeddedBroker login rate limiting', () => {
  it('refuses a locked-out username without checking its password, counts and logs it, and lets it in after the lockout', async () => {
    const clock = new ManualClock(1_000_000);
    const { logger, lines } = memoryLogger();
    const { broker } = await startBroker({
      logger,
      clock,
      loginRateLimit: { maxFailuresPerUsername: 3, lockoutMs: 30_000 },
    });
    const dev1 = { clientId: 'dev-1', username: 'dev-1' };
    for (let i = 0; i < 3; i++)
      await expect(connect(broker.url!, { ...dev1, password: `guess-${i}` })).rejects.toMatchObject({ code: 4 });
    expect(broker.stats()).toMatchObject({ authFailures: 3, loginLockouts: 1, loginsRateLimited: 0 });
    const locked = lines.find((l) => l.username === 'dev-1' && /locked out/.test(l.msg));
    expect(locked).toMatchObject({ level: 40, failures: 3, lockoutMs: 30_000 });

    // the right password does not help while locked out; another device is not affected
    await expect(connect(broker.url!, { ...dev1, password: 'pw-1' })).rejects.toMatchObject({ code: 5 });
    expect(broker.stats()).toMatchObject({ loginsRateLimited: 1, authFailures: 4 });
    expect(lines.at(-1)).toMatchObject({ username: 'dev-1', address: '127.0.0.1' });
    expect(lines.at(-1)!.reason).toMatch(/too many failed logins for username dev-1; retry in 30 s/);
    expect((await connect(broker.url!, { clientId: 'dev-2', username: 'dev-2', password: 'pw-2' })).connected).toBe(
      true,
    );

    clock.advance(30_000);
    expect((await connect(broker.url!, { ...dev1, password: 'pw-1' })).connected).toBe(true);
  });

  it('locks out a network address after maxFailuresPerAddress failures over any usernames', async () => {
    const { logger, lines } = memoryLogger();
    // two client addresses on this machine: 127.0.0.2 fails, 127.0.0.1 is another address (limitLoopback: count them)
    const { broker } = await startBroker({
      logger,
      clock: new ManualClock(0),
      loginRateLimit: { maxFailuresPerAddress: 3, limitLoopback: true },
    });
    const port = broker.port!;
    for (let i = 0; i < 3; i++)
      await expect(
        connectFrom('127.0.0.2', port, { clientId: `x-${i}`, username: `x-${i}`, password: 'x' }),
      ).rejects.toMatchObject({ code: 4 });
    expect(lines.find((l) => /locked out/.test(l.msg))).toMatchObject({ address: '127.0.0.2', failures: 3 });
    await expect(
      connectFrom('127.0.0.2', port, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' }),
    ).rejects.toMatchObject({ code: 5 });
    expect(broker.stats()).toMatchObject({ loginLockouts: 1, loginsRateLimited: 1 });
    // the same device from another address is not behind that lock
    expect(
      (await connectFrom('127.0.0.1', port, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' })).connected,
    ).toBe(true);
  });

  it("does not limit loopback addresses (this machine's own services), only their usernames", async () => {
    const { broker } = await startBroker({ clock: new ManualClock(0), loginRateLimit: { maxFailuresPerAddress: 3 } });
    for (let i = 0; i < 5; i++)
      await expect(
        connect(broker.url!, { clientId: `x-${i}`, username: `x-${i}`, password: 'x' }),
      ).rejects.toMatchObject({ code: 4 });
    expect(broker.stats().loginLockouts).toBe(0);
    expect((await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' })).connected).toBe(
      true,
    );
  });

  it('loginRateLimit: false turns it off', async () => {
    const { broker } = await startBroker({ loginRateLimit: false, clock: new ManualClock(0) });
    for (let i = 0; i < 6; i++)
      await expect(connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'x' })).rejects.toMatchObject(
        { code: 4 },
      );
    expect((await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' })).connected).toBe(
      true,
    );
    expect(broker.stats()).toMatchObject({ loginLockouts: 0, loginsRateLimited: 0 });
  });
});
