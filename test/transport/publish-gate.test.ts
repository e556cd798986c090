import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.ts';
import { isEdgeloopError } from '../../protocol/errors.ts';
import { PublishGate } from '../../transport/publish-gate.ts';

function gate(opts: { maxInFlight?: number; ratePerSecond?: number; burst?: number; maxWaiting?: number } = {}) {
  const clock = new ManualClock(0);
  const granted: number[] = [];
  const g = new PublishGate<number>({
    maxInFlight: opts.maxInFlight ?? 10,
    ratePerSecond: opts.ratePerSecond ?? 0,
    burst: opts.burst ?? 1,
    maxWaiting: opts.maxWaiting ?? 100,
    clock,
    onGrant: (n) => granted.push(n),
  });
  /** what a transport does: go now if possible, else wait */
  const submit = (n: number): void => g.submit(n);
  return { g, clock, granted, submit };
}

describe('PublishGate', () => {
  it('bounds in-flight items and grants waiters in FIFO order as slots free', () => {
    const { g, granted, submit } = gate({ maxInFlight: 2 });
    for (let i = 0; i < 5; i++) submit(i);
    expect(granted).toEqual([0, 1]);
    expect(g.inFlight).toBe(2);
    expect(g.waiting).toBe(3);
    g.release();
    expect(granted).toEqual([0, 1, 2]);
    g.release();
    g.release();
    expect(granted).toEqual([0, 1, 2, 3, 4]);
    expect(g.waiting).toBe(0);
    expect(g.inFlight).toBe(2);
  });

  it('does not let a newcomer overtake items that already wait', () => {
    const { g, granted, submit } = gate({ maxInFlight: 1 });
    submit(0);
    submit(1);
    g.release(); // 1 is granted
    submit(2); // must wait: slot taken by 1
    expect(granted).toEqual([0, 1]);
    g.release();
    expect(granted).toEqual([0, 1, 2]);
  });

  it('caps the rate exactly with a token bucket on the injected clock', () => {
    const { g, clock, granted, submit } = gate({ maxInFlight: 1000, ratePerSecond: 10, burst: 3 });
    for (let i = 0; i < 30; i++) submit(i);
    expect(granted.length).toBe(3); // the burst
    clock.advance(99);
    expect(granted.length).toBe(3);
    clock.advance(1);
    expect(granted.length).toBe(4); // one token per 100 ms
    clock.advance(1000);
    expect(granted.length).toBe(14);
    clock.advance(5000);
    expect(granted.length).toBe(30);
    expect(granted).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(clock.pendingTimers).toBe(0); // no refill timer once nothing waits
    expect(g.waiting).toBe(0);
  });

  it('refills at most `burst` tokens after an idle period', () => {
    const { clock, granted, submit } = gate({ maxInFlight: 1000, ratePerSecond: 100, burst: 5 });
    clock.advance(60_000);
    for (let i = 0; i < 20; i++) submit(i);
    expect(granted.length).toBe(5);
  });

  it('refuses beyond maxWaiting with EL_ERR_TRANSPORT_QUEUE_FULL', () => {
    const { submit } = gate({ maxInFlight: 1, maxWaiting: 2 });
    submit(0);
    submit(1);
    submit(2);
    let err: unknown;
    try {
      submit(3);
    } catch (e) {
      err = e;
    }
    expect(isEdgeloopError(err, 'EL_ERR_TRANSPORT_QUEUE_FULL')).toBe(true);
  });

  it('drain() hands back the waiting items and cancels the refill timer', () => {
    const { g, clock, submit } = gate({ maxInFlight: 100, ratePerSecond: 1, burst: 1 });
    for (let i = 0; i < 4; i++) submit(i);
    expect(clock.pendingTimers).toBe(1);
    expect(g.drain()).toEqual([1, 2, 3]);
    expect(clock.pendingTimers).toBe(0);
    expect(g.waiting).toBe(0);
  });

  it('survives a grant that releases synchronously (re-entrant release)', () => {
    const clock = new ManualClock(0);
    const order: number[] = [];
    const g: PublishGate<number> = new PublishGate<number>({
      maxInFlight: 1,
      ratePerSecond: 0,
      burst: 1,
      maxWaiting: 100,
      clock,
      onGrant: (n) => {
        order.push(n);
        g.release(); // e.g. a send that fails at once
      },
    });
    expect(g.tryAcquire()).toBe(true);
    for (let i = 0; i < 50; i++) g.enqueue(i);
    g.release();
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(g.inFlight).toBe(0);
  });

  it('rejects invalid limits', () => {
    const clock = new ManualClock(0);
    const base = { maxInFlight: 1, ratePerSecond: 0, burst: 1, maxWaiting: 1, clock, onGrant: () => {} };
    expect(() => new PublishGate({ ...base, maxInFlight: 0 })).toThrow(/maxInFlight/);
    expect(() => new PublishGate({ ...base, ratePerSecond: -1 })).toThrow(/ratePerSecond/);
    expect(() => new PublishGate({ ...base, burst: 0 })).toThrow(/burst/);
  });
});
