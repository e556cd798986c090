import { describe, expect, it } from 'vitest';
import {
  calcScoreByThreshold,
  calcSweepScore,
  normalizeScore,
  optimizeThreshold,
  probationaryLength,
  scaledSigmoid,
  scoreAtThreshold,
  scoreProfile,
} from '../../../models/nab/scorer.ts';
import type { CostMatrix, ScoredFile } from '../../../models/nab/scorer.ts';

const STANDARD: CostMatrix = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 };
const LOW_FN: CostMatrix = { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 };
const MIN = 60_000;

/** 20 rows one minute apart, one window over rows 10..14; probation = floor(0.15 * 20) = 3 rows. */
function file(
  scores: Record<number, number>,
  name = 'cat/f.csv',
  rows = 20,
  windowRows: Array<[number, number]> = [[10, 14]],
): ScoredFile {
  const timestamps = Array.from({ length: rows }, (_, i) => i * MIN);
  const anomalyScores = Array.from({ length: rows }, (_, i) => scores[i] ?? 0);
  return { name, timestamps, anomalyScores, windows: windowRows.map(([a, b]) => [a * MIN, b * MIN] as const) };
}

function scoreAt(f: ScoredFile, cost: CostMatrix, threshold: number): number {
  return scoreAtThreshold(
    calcScoreByThreshold(calcSweepScore(f.timestamps, f.anomalyScores, f.windows, f.name, cost), cost),
    threshold,
  ).score;
}

describe('NAB scaled sigmoid and probation', () => {
  it.each([
    [-1, 0.9866142981514305],
    [-0.5, 0.8482836399575129],
    [0, 0],
    [0.5, -0.8482836399575129],
    [1, -0.9866142981514305],
    [3, 2 / (1 + Math.exp(15)) - 1],
    [3.0001, -1],
  ])('scaledSigmoid(%d) = %d', (x, y) => {
    expect(scaledSigmoid(x)).toBeCloseTo(y, 12);
  });

  it.each([
    [20, 3],
    [1000, 150],
    [4032, 604],
    [5000, 750],
    [22695, 750],
  ])('probationary length of %i rows is %i', (rows, p) => {
    expect(probationaryLength(rows)).toBe(p);
  });
});

describe('NAB sweep scoring (hand-computed cases, standard profile)', () => {
  it.each([
    ['no detection: one missed window', {}, -1],
    ['detection at the first row of the window earns tpWeight', { 10: 1 }, 1],
    ['detection in the middle (row 12 of 10..14): S(-0.6)/S(-1)', { 12: 1 }, 0.9174286804284079],
    ['detection at the last row: S(-1/5)/S(-1)', { 14: 1 }, 0.46838684390227814],
    [
      'only the earliest detection in a window counts',
      { 12: 1, 11: 1, 14: 1 },
      scaledSigmoid(-0.8) / scaledSigmoid(-1),
    ],
    ['false positive before any window costs fpWeight', { 5: 1 }, -1 - 0.11],
    ['false positive after a window: S(|14-16| / (5-1)) * fpWeight', { 16: 1 }, -1 - 0.09331120039532642],
    ['false positive further after: S(0.75) * fpWeight', { 17: 1 }, -1 - 0.10494497861979436],
    ['probationary rows are ignored', { 0: 1, 1: 1, 2: 1 }, -1],
    ['TP, an FP before and an FP after', { 12: 1, 5: 1, 16: 1 }, 0.7141174800330814],
  ])('%s', (_name, scores, expected) => {
    expect(scoreAt(file(scores as Record<number, number>), STANDARD, 0.5)).toBeCloseTo(expected, 10);
  });

  it('an FP more than 3 window widths after a window costs the full fpWeight', () => {
    // window rows 10..11 (width 2): row 15 is |11-15|/(2-1) = 4 > 3 widths away
    const f = file({ 15: 1 }, 'cat/g.csv', 20, [[10, 11]]);
    expect(scoreAt(f, STANDARD, 0.5)).toBeCloseTo(-1 - 0.11, 12);
  });

  it('a perfect detector scores 100 and the null detector 0 on every profile', () => {
    // 200-row files: firing on every row costs far more than missing the windows, as on real NAB data
    const windowsB: Array<[number, number]> = [
      [40, 48],
      [120, 130],
    ];
    const nullFiles = [file({}, 'a/1.csv', 200, [[100, 104]]), file({}, 'a/2.csv', 200, windowsB)];
    const perfectFiles = [
      file({ 100: 1 }, 'a/1.csv', 200, [[100, 104]]),
      file({ 40: 1, 120: 1 }, 'a/2.csv', 200, windowsB),
    ];
    for (const cost of [STANDARD, LOW_FN, { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 }]) {
      const perfect = scoreProfile(perfectFiles, 'p', cost);
      expect(perfect.windows).toBe(3);
      expect(perfect.threshold).toBe(1);
      expect(perfect.normalized).toBeCloseTo(100, 10);
      const nul = scoreProfile(nullFiles, 'p', cost);
      expect(nul.threshold).toBe(1.1);
      expect(nul.score).toBe(-3 * cost.fnWeight);
      expect(nul.normalized).toBe(0);
    }
  });

  it('sweeps every threshold from 1.1 down, rows >= threshold firing', () => {
    const f = file({ 12: 0.9, 16: 0.8, 5: 0.7, 10: 0.6 });
    const rows = calcScoreByThreshold(
      calcSweepScore(f.timestamps, f.anomalyScores, f.windows, f.name, STANDARD),
      STANDARD,
    );
    const s12 = 0.9174286804284079;
    const fp16 = -0.09331120039532642;
    expect(rows.slice(0, 5).map((r) => r.threshold)).toEqual([1.1, 0.9, 0.8, 0.7, 0.6]);
    const expected = [-1, s12, s12 + fp16, s12 + fp16 - 0.11, 1 + fp16 - 0.11];
    rows.slice(0, 5).forEach((r, i) => expect(r.score).toBeCloseTo(expected[i]!, 10));
    expect(rows[1]).toMatchObject({ tp: 1, fp: 0, fn: 4, tn: 12, total: 17 });
    // last: threshold 0, every scorable row fires
    expect(rows[rows.length - 1]).toMatchObject({ threshold: 0, tp: 5, fp: 12, tn: 0, fn: 0 });
    // NAB's scoreDataSet: exact threshold, else the last row above it
    expect(scoreAtThreshold(rows, 0.85).threshold).toBe(0.9);
    expect(scoreAtThreshold(rows, 0.8).threshold).toBe(0.8);
    expect(scoreAtThreshold(rows, 2).threshold).toBe(1.1);
    expect(scoreAtThreshold(rows, -1).threshold).toBe(0);
    expect(optimizeThreshold([f], STANDARD)).toMatchObject({ threshold: 0.9 });
    expect(optimizeThreshold([f], STANDARD).score).toBeCloseTo(s12, 12);
  });

  it('optimises one threshold over all files and the file scores add up to the corpus score', () => {
    const a = file({ 12: 0.9, 3: 0.95 }, 'x/a.csv');
    const b = file({ 10: 0.5, 18: 0.7 }, 'x/b.csv');
    const r = scoreProfile([a, b], 'standard', STANDARD);
    // candidates: 0.95 (FP in a) < 0.9 (+TP a) ; 0.7 adds an FP in b; 0.5 adds TP in b (1.0)
    const fpA = -0.11;
    const fpB = scaledSigmoid(4 / 4) * 0.11;
    const at05 = 0.9174286804284079 + fpA + fpB + 1;
    expect(r.threshold).toBe(0.5);
    expect(r.score).toBeCloseTo(at05, 10);
    expect(r.files.map((f) => f.score).reduce((x, y) => x + y, 0)).toBeCloseTo(r.score, 12);
    expect(r.normalized).toBeCloseTo(normalizeScore(at05, -2, 2), 10);
    expect(r.totals.tp).toBe(2);
  });

  it('reward_low_FN_rate doubles the cost of a missed window', () => {
    const r = scoreProfile(
      [file({ 102: 1 }, 'c/one.csv', 200, [[100, 104]]), file({}, 'c/other.csv', 200, [[100, 104]])],
      'reward_low_FN_rate',
      LOW_FN,
    );
    expect(r.nullScore).toBe(-4);
    expect(r.perfectScore).toBe(2);
    expect(r.score).toBeCloseTo(0.9174286804284079 - 2, 10);
    expect(r.normalized).toBeCloseTo((100 * (0.9174286804284079 - 2 + 4)) / 6, 10);
  });

  it('matches window limits to rows exactly, or to the nearest rows inside the limits', () => {
    const f = file({ 10: 1 });
    // limits between rows: 9.5 → first row at/after is 10; 14.5 → last row at/before is 14
    const shifted = { ...f, windows: [[9.5 * MIN, 14.5 * MIN] as const] };
    expect(scoreAt(shifted, STANDARD, 0.5)).toBeCloseTo(1, 12);
  });
});
