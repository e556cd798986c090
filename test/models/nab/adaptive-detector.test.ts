import { describe, expect, it } from 'vitest';
import {
  AdaptiveDetector,
  AlarmGate,
  AnomalyLikelihood,
  FEATURES,
  RawSurprise,
  SpatialNovelty,
  logLikelihood,
  rawSurprises,
  resolveAdaptiveOptions,
  scoresFromRaw,
  upperTailProbability,
  weeklyLag,
} from '../../../models/nab/adaptive-detector.ts';
import { adaptiveNabDetector, runDetector } from '../../../models/nab/detectors.ts';
import { autocorrelation, dominantPeriod } from '../../../models/nab/robust-window.ts';
import { nabGrid } from '../../../models/nab/tune-nab.ts';

/** A seeded stream: daily-like sine, noise from a small LCG, and a level shift at `shiftAt`. */
function stream(n: number, seed: number, shiftAt = -1): number[] {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from(
    { length: n },
    (_, i) => 10 + 3 * Math.sin((2 * Math.PI * i) / 50) + (rnd() - 0.5) + (shiftAt >= 0 && i >= shiftAt ? 8 : 0),
  );
}

function run(values: readonly number[], learnRows = 150): number[] {
  const d = new AdaptiveDetector({ learnRows });
  return values.map((v, i) => d.update(v, i * 60_000));
}

describe('the anomaly likelihood', () => {
  it('upper tail and log form, hand-computed', () => {
    // Q(1) = 0.158655253931457, Q(2) = 0.0227501319481792
    expect(upperTailProbability(3, 2, 1)).toBeCloseTo(0.158655253931457, 13);
    expect(upperTailProbability(6, 2, 2)).toBeCloseTo(0.0227501319481792, 13);
    expect(upperTailProbability(1, 2, 1)).toBe(0.5); // below the mean: no tail, not anomalous
    expect(upperTailProbability(2, 2, 1)).toBe(0.5);
    // ln(1 + 1e-10 - L) / ln(1e-10)
    expect(logLikelihood(1 - 1e-5)).toBeCloseTo(Math.log(1e-5 + 1e-10) / Math.log(1e-10), 11);
    expect(logLikelihood(1 - 1e-5)).toBeCloseTo(0.5, 5);
    expect(logLikelihood(0.5)).toBeCloseTo(Math.log(0.5000000001) / Math.log(1e-10), 14); // 0.0301
    expect(logLikelihood(1)).toBeCloseTo(1, 8);
  });

  it('scores a short mean against the distribution of earlier short means', () => {
    // shortRows 2, longRows 3, minStd 0.01: scored once 3 short means are known (MIN_HISTORY caps at longRows)
    const l = new AnomalyLikelihood(2, 3, 0.01);
    expect(l.update(0.2)).toBe(0); // short mean 0.2
    expect(l.update(0.4)).toBe(0); // short mean 0.3
    expect(l.update(0.2)).toBe(0); // short mean 0.3; two earlier means only
    // earlier means [0.2, 0.3, 0.3]: mean 0.26667, std 0.047140 (population). Raw 0.8 → short mean 0.5, z = 4.9497,
    // Q(z) = 3.7154918617070877e-7 (Python: 0.5 * math.erfc(z / sqrt(2))), log form 0.6429866813829912.
    expect(l.update(0.8)).toBeCloseTo(0.6429866813829912, 9);
    // the long window rolls: [0.3, 0.3, 0.5], mean 0.36667, std 0.094281. Raw 0 → short mean 0.4, z = 0.35355,
    // Q = 0.3618368049158813, log form 0.044148726002363047.
    expect(l.update(0)).toBeCloseTo(0.044148726002363047, 12);
    // a NaN raw score (feature not defined yet) scores 0 and is not learned
    expect(l.update(Number.NaN)).toBe(0);
    // std floor: a constant history has std 0, so minStd is used
    const c = new AnomalyLikelihood(1, 10, 0.1);
    for (let i = 0; i < 10; i++) c.update(0.3);
    expect(c.likelihoodOf(0.5)).toBeCloseTo(1 - 0.0227501319481792, 12); // z = (0.5 - 0.3) / 0.1 = 2
  });

  it('spatial novelty and the alarm gate', () => {
    const s = new SpatialNovelty(0.1);
    expect([0, 10, 5, 11, 12.2, -1.3].map((v) => s.update(v))).toEqual([0, 0, 0, 0, 1, 1]);
    // range after 0, 10, 5, 11: [0, 11], 10 % of 11 = 1.1: 12.2 > 12.1 is novel; then [0, 12.2]: -1.3 < -1.22
    const g = new AlarmGate(2, 0.5, 3);
    expect([0.9, 0.9, 0.2, 0.7, 0.9, 0.9, 0.9, 0.4].map((x) => g.update(x))).toEqual([0, 0, 0.2, 0.7, 0, 0, 0, 0.4]);
  });
});

describe('the adaptive detector', () => {
  it('is online: the scores of a prefix do not change when later points are appended or changed', () => {
    const values = stream(1200, 7, 900);
    const full = run(values);
    const prefix = run(values.slice(0, 700));
    expect(full.slice(0, 700)).toEqual(prefix);
    const changed = values.map((v, i) => (i >= 700 ? v * 5 - 40 : v));
    expect(run(changed).slice(0, 700)).toEqual(prefix);
  });

  it('is deterministic: the same seeded stream gives the same scores, another seed different ones', () => {
    expect(run(stream(800, 42, 600))).toEqual(run(stream(800, 42, 600)));
    expect(run(stream(800, 43, 600))).not.toEqual(run(stream(800, 42, 600)));
  });

  it('learns silently, then alarms once on a level shift and stays quiet for suppressRows', () => {
    const values = stream(1000, 3, 700);
    const d = new AdaptiveDetector({ learnRows: 150, suppressRows: 120 });
    const s = values.map((v) => d.update(v));
    expect(s.slice(0, 150).every((x) => x === 0)).toBe(true);
    expect(s.every((x) => x >= 0 && x <= 1)).toBe(true);
    const alarms = s.map((x, i) => [x, i] as const).filter(([x]) => x >= d.options.alarmLevel);
    expect(alarms.length).toBeGreaterThan(0);
    expect(alarms[0]![1]).toBe(700);
    expect(s.slice(701, 821).every((x) => x === 0)).toBe(true);
    // before the shift it does not alarm on the seasonal signal and its noise
    expect(s.slice(150, 700).every((x) => x < d.options.alarmLevel)).toBe(true);
  });

  it('the staged functions used by the parameter search give the streaming scores exactly', () => {
    const values = stream(900, 11, 650);
    const opts = { learnRows: 120, zHalf: 12, shortRows: 5, spatialTolerance: 0.05 };
    const d = new AdaptiveDetector(opts);
    const streamed = Float64Array.from(values, (v) => d.update(v));
    expect(Array.from(scoresFromRaw(values, rawSurprises(values, opts), opts))).toEqual(Array.from(streamed));
    // and the NAB wrapper learns for NAB's probationary period (0.15 x 900 = 135 rows)
    const ts = values.map((_, i) => i);
    const viaNab = runDetector(adaptiveNabDetector(opts), ts, values);
    const direct = new AdaptiveDetector({ ...opts, learnRows: 135 });
    expect(Array.from(viaNab)).toEqual(values.map((v) => direct.update(v)));
  });

  it('rejects bad options and values with clear errors', () => {
    expect(() => new AdaptiveDetector({} as never)).toThrow(/learnRows is required/);
    expect(() => new AdaptiveDetector({ learnRows: 10, shortRow: 3 } as never)).toThrow(
      /unknown edgeloop detector option "shortRow"/,
    );
    expect(() => new AdaptiveDetector({ learnRows: 10, longRows: 2.5 })).toThrow(
      /longRows must be a positive integer, got 2.5/,
    );
    expect(() => new AdaptiveDetector({ learnRows: 10, alarmLevel: -1 })).toThrow(/alarmLevel must be a positive/);
    expect(() => new AdaptiveDetector({ learnRows: 10 }).update(Number.NaN)).toThrow(
      expect.objectContaining({ code: 'EL_ERR_INVALID_ARGUMENT' }),
    );
  });
});

describe('the alarm score', () => {
  it('an alarm row emits alarmScore, any other row half its score, silence and learning rows 0', () => {
    const g = new AlarmGate(2, 0.5, 3, 1);
    expect([0.9, 0.9, 0.2, 0.7, 0.9, 0.9, 0.9, 0.4, 0.5].map((x) => g.update(x))).toEqual([
      0, 0, 0.1, 1, 0, 0, 0, 0.2, 1,
    ]);
    const flags: boolean[] = [];
    const h = new AlarmGate(0, 0.5, 1, 0.8);
    for (const x of [0.6, 0.6, 0.3, 0.7]) {
      h.update(x);
      flags.push(h.alarmed);
    }
    expect(flags).toEqual([true, false, false, true]);
  });

  it('the detector alarms at 1 by default; alarmScore 0 gives the scores as they are', () => {
    const values = stream(1000, 3, 700);
    const d = new AdaptiveDetector({ learnRows: 150, suppressRows: 120 });
    const raw = new AdaptiveDetector({ learnRows: 150, suppressRows: 120, alarmScore: 0 });
    for (const v of values) {
      const s = d.update(v);
      const r = raw.update(v);
      if (d.alarmed) {
        expect(s).toBe(1);
        expect(r).toBeGreaterThanOrEqual(0.5);
      } else {
        expect(s).toBe(r / 2);
        expect(s).toBeLessThan(0.25);
      }
      expect(raw.alarmed).toBe(d.alarmed);
    }
  });

  it('rejects an alarmScore below alarmLevel or above 1', () => {
    expect(() => resolveAdaptiveOptions({ learnRows: 10, alarmScore: 0.4 })).toThrow(
      /alarmScore must be 0 or in \[alarmLevel, 1\] = \[0.5, 1\], got 0.4/,
    );
    expect(() => resolveAdaptiveOptions({ learnRows: 10, alarmScore: 1.5 })).toThrow(/alarmScore/);
    expect(resolveAdaptiveOptions({ learnRows: 10, alarmLevel: 0.6, alarmScore: 0.6 }).alarmScore).toBe(0.6);
  });
});

describe('the weekly difference', () => {
  const HOUR = 3600_000;
  /** hourly values with a weekday/weekend pattern: 10 on weekdays, 4 on the two weekend days, small noise */
  function weekly(n: number, seed: number): { values: number[]; ts: number[] } {
    let s = seed >>> 0;
    const rnd = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    const ts = Array.from({ length: n }, (_, i) => i * HOUR);
    const values = ts.map((_, i) => (Math.floor(i / 24) % 7 >= 5 ? 4 : 10) + 0.2 * (rnd() - 0.5));
    return { values, ts };
  }

  it('one week in rows from the median spacing; autocorrelation at a lag', () => {
    expect(weeklyLag([0, 1, 2, 3].map((i) => i * HOUR))).toBe(168);
    expect(weeklyLag([0, HOUR, 2 * HOUR, 10 * HOUR, 11 * HOUR])).toBe(168); // a gap does not move the median
    expect(weeklyLag([5, 5, 5])).toBe(0);
    expect(weeklyLag([1])).toBe(0);
    expect(autocorrelation([1, 2, 1, 2, 1, 2], 2)).toBeCloseTo(1 / 1.5, 12); // 4 products of 0.25 over 6 × 0.25
    expect(autocorrelation([3, 3, 3], 1)).toBe(0);
    expect(autocorrelation([1, 2], 5)).toBe(0);
  });

  it('is a feature only when the learning rows span two weeks by their timestamps', () => {
    const { values, ts } = weekly(800, 5);
    const o = resolveAdaptiveOptions({ learnRows: 400 });
    const withTime = new RawSurprise(o);
    values.forEach((v, i) => withTime.update(v, ts[i]));
    expect(withTime.week).toBe(168);
    expect(Number.isNaN(withTime.features[FEATURES - 1]!)).toBe(false);
    const noTime = new RawSurprise(o);
    for (const v of values) noTime.update(v);
    expect(noTime.week).toBe(0);
    expect(Number.isNaN(noTime.features[FEATURES - 1]!)).toBe(true);
    // 300 learning rows are under two weeks (336 hours): no weekly feature
    const short = new RawSurprise(resolveAdaptiveOptions({ learnRows: 300 }));
    values.forEach((v, i) => short.update(v, ts[i]));
    expect(short.week).toBe(0);
    // a learning row without a timestamp turns it off
    const gap = new RawSurprise(o);
    values.forEach((v, i) => gap.update(v, i === 10 ? undefined : ts[i]));
    expect(gap.week).toBe(0);
    // minWeeklyCorrelation above the learning rows' correlation turns it off too
    const strict = new RawSurprise(resolveAdaptiveOptions({ learnRows: 400, minWeeklyCorrelation: 1.01 }));
    values.forEach((v, i) => strict.update(v, ts[i]));
    expect(strict.week).toBe(0);
  });

  it('surprises on a weekday at the weekend level, and the staged functions agree with the stream', () => {
    const { values, ts } = weekly(1000, 9);
    // day 36 (rows 864-887) is a Tuesday at the weekend level: a level that every week has, a step that every
    // weekend has, but not on that day of the week
    const changed = values.map((v, i) => (i >= 864 && i < 888 ? v - 6 : v));
    const r = new RawSurprise(resolveAdaptiveOptions({ learnRows: 400 }));
    const wk: number[] = [];
    changed.forEach((v, i) => {
      r.update(v, ts[i]);
      wk.push(r.features[FEATURES - 1]!);
    });
    const normal = wk.slice(500, 860).sort((x, y) => x - y);
    expect(normal[Math.floor(normal.length * 0.99)]!).toBeLessThan(0.3);
    expect(Math.min(...wk.slice(864, 888))).toBeGreaterThan(0.8);
    const opts = { learnRows: 400 };
    const d = new AdaptiveDetector(opts);
    const s = changed.map((v, i) => d.update(v, ts[i]));
    expect(Array.from(scoresFromRaw(changed, rawSurprises(changed, opts, ts), opts))).toEqual(s);
  });
});

describe('the seasonal period check', () => {
  it('a slowly decaying correlation with small wiggles has no period once minRise asks for a real peak', () => {
    // a random walk (correlation decays slowly) plus a 5-row ripple
    let s = 17;
    let w = 0;
    const walk = Array.from({ length: 600 }, (_, i) => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      w += s / 2 ** 32 - 0.5;
      return w + 0.5 * Math.sin((2 * Math.PI * i) / 5);
    });
    // the ripple's lag wins on the walk's high correlation, which barely rises above the lags before it
    expect(dominantPeriod(walk, 300)).toMatchObject({ lag: 5, r: expect.closeTo(0.946, 3) });
    expect(dominantPeriod(walk, 300, 0.2)).toEqual({ lag: 0, r: 0 });
    // a true period passes either way
    const sine = Array.from({ length: 600 }, (_, i) => Math.sin((2 * Math.PI * i) / 48));
    expect(dominantPeriod(sine, 300).lag).toBe(48);
    expect(dominantPeriod(sine, 300, 0.2).lag).toBe(48);
  });
});

describe('the tuning grids', () => {
  it('wide, neighbours and fixed', () => {
    expect(nabGrid().length).toBe(144);
    expect(nabGrid('wide')).toEqual(nabGrid());
    expect(nabGrid('neighbours').length).toBe(9);
    expect(nabGrid('neighbours')).toContainEqual({ zHalf: 12, suppressFactor: 0.2 });
    expect(nabGrid('fixed')).toEqual([{}]);
    expect(() => nabGrid('big' as never)).toThrow(/unknown grid "big"/);
  });
});
