import { describe, expect, it } from 'vitest';
import { CLEAR_SCREEN, watchFrame } from '../../lib/progress.ts';

describe('watchFrame', () => {
  it('redraws from the top of the screen on a terminal', () => {
    expect(watchFrame('rollout r1: RUNNING', { tty: true, first: true })).toBe(`${CLEAR_SCREEN}rollout r1: RUNNING\n`);
    expect(watchFrame('rollout r1: COMPLETED\n', { tty: true, first: false })).toBe(
      '\x1b[H\x1b[2Jrollout r1: COMPLETED\n',
    );
  });
  it('appends frames separated by a blank line elsewhere (files and pipes keep the history)', () => {
    const out = watchFrame('a', { tty: false, first: true }) + watchFrame('b', { tty: false, first: false });
    expect(out).toBe('a\n\nb\n');
  });
});
