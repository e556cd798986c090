import { describe, expect, it } from 'vitest';
import type { InjectedFault } from '../../../simulator/faults/data-faults.ts';
import { scoreDetection } from '../../../simulator/report/detection-score.ts';
import { LatencyHistogram } from '../../../simulator/report/latency-histogram.ts';
import { TimeSeries } from '../../../simulator/report/time-series.ts';

const fault = (
  id: string,
  deviceId: string,
  start: number,
  end: number,
  kind: InjectedFault['kind'] = 'spike',
): InjectedFault => ({
  id,
  deviceId,
  kind,
  sensors: ['x'],
  start,
  end,
  magnitude: 1,
  action: null,
  failureMode: null,
});

describe('scoreDetection', () => {
  it('scores events against injected faults (device, window + tolerance)', () => {
    const faults = [fault('a', 'd1', 1000, 2000), fault('b', 'd2', 5000, 6000), fault('c', 'd3', 0, 100, 'dropout')];
    const events = [
      { deviceId: 'd1', ts: 1500 }, // TP
      { deviceId: 'd1', ts: 2400 }, // TP within 500 ms tolerance
      { deviceId: 'd2', ts: 1500 }, // FP: wrong device window
      { deviceId: 'd9', ts: 5500 }, // FP
    ];
    const s = scoreDetection(faults, events, 500);
    expect(s.truePositiveEvents).toBe(2);
    expect(s.falsePositiveEvents).toBe(2);
    expect(s.precision).toBe(0.5);
    expect(s.scoredFaults).toBe(2); // the dropout is not scored
    expect(s.detectedFaults).toBe(1);
    expect(s.recall).toBe(0.5);
    expect(s.meanTimeToDetectMs).toBe(500);
    expect(s.perKind.spike).toEqual({ faults: 2, detected: 1 });
  });

  it('is NaN, not zero, when there is nothing to score', () => {
    const s = scoreDetection([], []);
    expect(s.precision).toBeNaN();
    expect(s.recall).toBeNaN();
  });
});

describe('LatencyHistogram', () => {
  it('gives percentiles within one bucket (5 %)', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBe(1);
    expect(s.max).toBe(1000);
    expect(s.p50).toBeGreaterThanOrEqual(500);
    expect(s.p50).toBeLessThan(500 * 1.06);
    expect(s.p99).toBeGreaterThanOrEqual(990);
    expect(s.p99).toBeLessThanOrEqual(1000);
    expect(h.buckets().reduce((a, b) => a + b[1], 0)).toBe(1000);
    const o = new LatencyHistogram();
    o.record(5000);
    h.merge(o);
    expect(h.summary().max).toBe(5000);
  });
});

describe('LatencyHistogram percentiles are measured values', () => {
  it('reports the sample at the rank (nearest-rank), not a bucket edge, while it is in the exact tail', () => {
    const h = new LatencyHistogram();
    // 1000 samples; the 99th percentile by nearest rank is the 990th smallest: 7_000.5 + 989 * 0.4
    for (let i = 0; i < 1000; i++) h.record(7000.5 + i * 0.4);
    expect(h.percentile(99)).toBe(7000.5 + 989 * 0.4);
    expect(h.percentile(50)).toBe(7000.5 + 499 * 0.4);
    expect(h.isExact(50)).toBe(true);
    expect(h.summary().p99).toBe(Math.round((7000.5 + 989 * 0.4) * 100) / 100);
  });

  it('keeps p99 exact with a small tail over many samples and interpolates inside a bucket below it', () => {
    const h = new LatencyHistogram({ exactTail: 200 });
    const xs: number[] = [];
    for (let i = 0; i < 10_000; i++) xs.push(((i * 7919) % 10_000) / 3 + 1); // a permutation of 1 .. 3334
    for (const x of xs) h.record(x);
    const sorted = [...xs].sort((a, b) => a - b);
    expect(h.isExact(99)).toBe(true);
    expect(h.percentile(99)).toBe(sorted[9899]);
    expect(h.percentile(99.9)).toBe(sorted[9989]);
    expect(h.isExact(50)).toBe(false);
    const p50 = h.percentile(50);
    expect(Math.abs(p50 - sorted[4999]!) / sorted[4999]!).toBeLessThan(0.05);
    // merging keeps the exact tail of the union
    const o = new LatencyHistogram({ exactTail: 200 });
    o.record(99_999.25);
    h.merge(o);
    expect(h.percentile(100)).toBe(99_999.25);
  });
});

describe('TimeSeries', () => {
  it('bins per second and pads series to one length', () => {
    const t = new TimeSeries(10_000);
    t.add('a', 10_100);
    t.add('a', 10_900, 2);
    t.add('b', 12_500);
    expect(t.toJSON()).toEqual({ seconds: 3, series: { a: [3, 0, 0], b: [0, 0, 1] } });
    t.rebase(11_500);
    expect(t.startMs).toBe(11_000);
    expect(t.toJSON()).toEqual({ seconds: 2, series: { a: [0, 0], b: [0, 1] } });
  });
});
