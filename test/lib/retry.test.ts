import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.ts';
import { retry, type FailedAttempt } from '../../lib/retry.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

/** fn failing `failures` times with numbered errors, then resolving 'ok' */
function flaky(failures: number) {
  const calls: number[] = [];
  const fn = async (attempt: number): Promise<string> => {
    calls.push(attempt);
    if (calls.length <= failures) throw new Error(`fail ${calls.length}`);
    return 'ok';
  };
  return { fn, calls };
}

/** let the retry's awaits run, then move the manual clock */
async function tick(clock: ManualClock, ms: number): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  clock.advance(ms);
}

describe('retry', () => {
  it('waits per the policy between attempts on the injected clock and resolves with the first success', async () => {
    const clock = new ManualClock();
    const { fn, calls } = flaky(3);
    const seen: FailedAttempt[] = [];
    const p = retry(fn, {
      policy: { minMs: 100, maxMs: 250, factor: 2, jitter: 'none', maxAttempts: 5 },
      clock,
      onFailedAttempt: (f) => seen.push(f),
    });
    await tick(clock, 0);
    expect(calls).toEqual([1]);
    await tick(clock, 99);
    expect(calls).toEqual([1]);
    await tick(clock, 1);
    expect(calls).toEqual([1, 2]);
    await tick(clock, 200);
    expect(calls).toEqual([1, 2, 3]);
    await tick(clock, 250); // capped at maxMs
    await expect(p).resolves.toBe('ok');
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(seen.map((f) => [f.attempt, f.delayMs, (f.error as Error).message])).toEqual([
      [1, 100, 'fail 1'],
      [2, 200, 'fail 2'],
      [3, 250, 'fail 3'],
    ]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('maxAttempts counts calls; the last error is thrown unchanged and reported with no delay', async () => {
    const clock = new ManualClock();
    const { fn, calls } = flaky(10);
    const seen: FailedAttempt[] = [];
    const p = retry(fn, {
      policy: { minMs: 10, jitter: 'none', maxAttempts: 3 },
      clock,
      onFailedAttempt: (f) => seen.push(f),
    });
    const settled = p.catch((e: unknown) => e);
    for (let i = 0; i < 5; i++) await tick(clock, 1000);
    expect(((await settled) as Error).message).toBe('fail 3');
    expect(calls).toEqual([1, 2, 3]);
    expect(seen.map((f) => f.delayMs)).toEqual([10, 20, undefined]);
  });

  it('full jitter draws each delay in [0, cap] from the injected random', async () => {
    const clock = new ManualClock();
    const { fn } = flaky(2);
    const delays: Array<number | undefined> = [];
    const p = retry(fn, {
      policy: { minMs: 1000, maxMs: 10_000, jitter: 'full' },
      clock,
      random: () => 0.5,
      onFailedAttempt: (f) => delays.push(f.delayMs),
    });
    await tick(clock, 500);
    await tick(clock, 1000);
    await expect(p).resolves.toBe('ok');
    expect(delays).toEqual([500, 1000]);
  });

  it('stops at once on an error the predicate refuses', async () => {
    const permanent = new EdgeloopError('EL_ERR_CONFIG_INVALID', 'bad');
    let calls = 0;
    const seen: FailedAttempt[] = [];
    const err = await retry(
      async () => {
        calls++;
        throw permanent;
      },
      {
        retryable: (e) => !(e instanceof EdgeloopError && e.code === 'EL_ERR_CONFIG_INVALID'),
        onFailedAttempt: (f) => seen.push(f),
      },
    ).catch((e: unknown) => e);
    expect(err).toBe(permanent);
    expect(calls).toBe(1);
    expect(seen).toEqual([{ error: permanent, attempt: 1, delayMs: undefined }]);
  });

  it('an abort ends a pending wait at once and rejects with the last error; no timer is left', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const { fn, calls } = flaky(10);
    const p = retry(fn, { policy: { minMs: 60_000, jitter: 'none' }, clock, signal: ac.signal }).catch(
      (e: unknown) => e,
    );
    await tick(clock, 0);
    expect(clock.pendingTimers).toBe(1);
    ac.abort();
    expect(((await p) as Error).message).toBe('fail 1');
    expect(calls).toEqual([1]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an already aborted signal allows the first call and no retry', async () => {
    const { fn, calls } = flaky(1);
    const err = await retry(fn, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('fail 1');
    expect(calls).toEqual([1]);
  });

  it('keeps the process alive while it waits: its timer is referenced', () => {
    // a child with nothing else to do: an unreferenced wait would let it exit (code 13, unsettled top-level await)
    const script = `
      import { retry } from ${JSON.stringify(join(import.meta.dirname, '../../lib/retry.ts'))};
      let n = 0;
      const r = await retry(async () => { if (++n < 3) throw new Error('not yet'); return n; }, { policy: { minMs: 150, jitter: 'none' } });
      console.log('done after ' + r);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('done after 3');
    expect(r.status).toBe(0);
  });
});
