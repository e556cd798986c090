import { describe, expect, it } from 'vitest';
import { DriftMonitorState, monitorPolicy } from '../../../cloud/drift/monitor.ts';

describe('DriftMonitorState', () => {
  const policy = monitorPolicy({ minSamples: 50, detectK: 2, window: 3, clearK: 0, cooldownMs: 1000 });
  const run = (m: DriftMonitorState, checks: [number, boolean, number][]) =>
    checks.map(([n, fired, at]) => m.observe({ n, fired, at })?.to ?? '-');

  it('needs k of m fired checks to detect, a clean window to clear; a single false alarm changes nothing', () => {
    const m = new DriftMonitorState(policy);
    expect(
      run(m, [
        [100, true, 0],
        [100, false, 10],
        [100, false, 20],
        [100, true, 30],
        [100, false, 40],
      ]),
    ).toEqual(['-', '-', '-', '-', '-']);
    expect(m.state).toBe('ok');
    // the window is now [true, false, true]: two of three
    expect(run(m, [[100, true, 50]])).toEqual(['drift']);
    expect(m.state).toBe('drift');
  });

  it('does not flap: cooldown holds a detection, and checks below minSamples count for nothing', () => {
    const m = new DriftMonitorState(policy);
    expect(
      run(m, [
        [100, true, 0],
        [100, true, 10],
      ]),
    ).toEqual(['-', 'drift']);
    // clean checks inside the cooldown do not clear it, and short checks are ignored entirely
    expect(
      run(m, [
        [100, false, 20],
        [100, false, 30],
        [100, false, 40],
        [10, true, 50],
        [10, true, 60],
      ]),
    ).toEqual(['-', '-', '-', '-', '-']);
    expect(m.state).toBe('drift');
    // after the cooldown a full clean window clears it
    expect(run(m, [[100, false, 1100]])).toEqual(['ok']);
    expect(m.changedAt).toBe(1100);
    // one fired check after clearing does not re-detect
    expect(
      run(m, [
        [100, true, 2200],
        [100, false, 2300],
      ]),
    ).toEqual(['-', '-']);
  });

  it('starts from a stored state', () => {
    const m = new DriftMonitorState(policy, { state: 'drift', changedAt: 0 });
    expect(
      run(m, [
        [100, false, 5000],
        [100, false, 5001],
      ]),
    ).toEqual(['-', '-']);
    expect(run(m, [[100, false, 5002]])).toEqual(['ok']);
  });

  it('refuses a policy that cannot work, naming the field', () => {
    expect(() => monitorPolicy({ detectK: 4, window: 3 })).toThrow(/detectK must be an integer in \[1, window=3\]/);
    expect(() => monitorPolicy({ clearK: 2, detectK: 2 })).toThrow(/clearK/);
    expect(() => monitorPolicy({ minSample: 3 } as never)).toThrow(/unknown option "minSample"/);
  });
});
