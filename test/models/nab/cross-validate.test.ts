import { describe, expect, it } from 'vitest';
import type { CvFile } from '../../../models/nab/cross-validate.ts';
import { crossValidate, fitAll, kFoldByFile, leaveOneCategoryOut } from '../../../models/nab/cross-validate.ts';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { adaptiveNabDetector, runDetector } from '../../../models/nab/detectors.ts';
import { parseLabels, readSeries } from '../../../models/nab/nab-corpus.ts';
import { calcScoreByThreshold, calcSweepScore, scoreAtThreshold, scoreProfile } from '../../../models/nab/scorer.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'nab');

const standard = new Map([['standard', { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 }]]);

/** A file of `rows` rows, one minute apart, with windows of 10 rows starting at the given rows. */
function file(name: string, rows: number, windowStarts: number[]): CvFile & { starts: number[] } {
  const timestamps = Array.from({ length: rows }, (_, i) => i * 60_000);
  return {
    name,
    timestamps,
    windows: windowStarts.map((s) => [timestamps[s]!, timestamps[s + 9]!] as const),
    starts: windowStarts,
  };
}

/** Scores that fire (0.9) at the first row of every window of `f`, 0 elsewhere. */
function perfectOn(f: ReturnType<typeof file>): Float64Array {
  const s = new Float64Array(f.timestamps.length);
  for (const w of f.starts) s[w] = 0.9;
  return s;
}

describe('cross-validation of NAB parameters', () => {
  // F1 has 3 windows, F2 and F3 one each. Candidate 0 is perfect on F1 only, candidate 1 on F2 and F3 only.
  const f1 = file('a/f1.csv', 400, [100, 200, 300]);
  const f2 = file('b/f2.csv', 400, [200]);
  const f3 = file('c/f3.csv', 400, [250]);
  const files = [f1, f2, f3];
  const scoresOf = (c: number, f: number): Float64Array => {
    const fl = files[f]!;
    if (c === 0) return fl === f1 ? perfectOn(fl) : new Float64Array(400);
    return fl === f1 ? new Float64Array(400) : perfectOn(fl);
  };

  it('never scores a file with parameters chosen on it', () => {
    const chosenOn: string[][] = [];
    const folds = files.map((f) => ({ heldOut: [f.name] }));
    const [r] = crossValidate({
      files,
      candidates: 2,
      scoresOf,
      folds,
      profiles: standard,
      onSelect: (k, train) => chosenOn.push([...train]),
    });
    // the held-out file is never among the files that chose the fold's parameters
    folds.forEach((fold, k) => expect(chosenOn[k]).not.toContain(fold.heldOut[0]));
    // F1 held out: F2 + F3 choose candidate 1, which misses F1's 3 windows. Had F1 taken part in the choice,
    // candidate 0 (3 windows) would have won and F1 would score +3.
    const s1 = r!.files.find((f) => f.name === 'a/f1.csv')!;
    expect(s1.candidate).toBe(1);
    expect(s1.score).toBe(-3);
    // F2 held out: on F1 + F3 candidate 0 scores 3 - 1, candidate 1 -3 + 1 → candidate 0 → F2 missed.
    expect(r!.files.find((f) => f.name === 'b/f2.csv')!.score).toBe(-1);
    expect(r!.normalized).toBe(0); // every file missed: the null detector's score
    // In-sample (chosen on all three files) candidate 0 wins (3 - 1 - 1 against -3 + 1 + 1) and scores 60: the gap
    // between the two figures is what choosing on the scored file buys.
    const [fit] = fitAll({ files, candidates: 2, scoresOf, profiles: standard });
    expect(fit!.folds[0]!.candidate).toBe(0);
    expect(fit!.normalized).toBeCloseTo(((3 - 2 - -5) / 10) * 100, 12);
  });

  it('agrees with NAB scoring when one candidate is chosen on the other files', () => {
    const [r] = crossValidate({
      files,
      candidates: 1,
      scoresOf: (_c, f) => perfectOn(files[f]!),
      folds: leaveOneCategoryOut(files.map((f) => f.name)),
      profiles: standard,
    });
    const nab = scoreProfile(
      files.map((f) => ({ ...f, anomalyScores: perfectOn(f) })),
      'standard',
      standard.get('standard')!,
    );
    expect(r!.normalized).toBeCloseTo(nab.normalized, 12);
    expect(r!.normalized).toBeCloseTo(100, 12);
  });

  it('builds folds by category and by file, and rejects folds that miss or repeat a file', () => {
    const names = ['x/1.csv', 'x/2.csv', 'y/3.csv', 'z/4.csv', 'z/5.csv'];
    expect(leaveOneCategoryOut(names).map((f) => f.heldOut)).toEqual([
      ['x/1.csv', 'x/2.csv'],
      ['y/3.csv'],
      ['z/4.csv', 'z/5.csv'],
    ]);
    expect(kFoldByFile(names, 2).map((f) => f.heldOut)).toEqual([
      ['x/1.csv', 'y/3.csv', 'z/5.csv'],
      ['x/2.csv', 'z/4.csv'],
    ]);
    expect(() => kFoldByFile(names, 1)).toThrow(/k-fold needs 2 <= k <= 5/);
    expect(() => leaveOneCategoryOut(['x/1.csv'])).toThrow(/needs 2\+ categories/);
    const base = { files, candidates: 2, scoresOf, profiles: standard };
    expect(() => crossValidate({ ...base, folds: [{ heldOut: ['a/f1.csv', 'b/f2.csv'] }] })).toThrow(
      /held out by no fold: c\/f3\.csv/,
    );
    expect(() =>
      crossValidate({ ...base, folds: [{ heldOut: ['a/f1.csv', 'b/f2.csv'] }, { heldOut: ['b/f2.csv', 'c/f3.csv'] }] }),
    ).toThrow(/"b\/f2\.csv" is held out by two folds/);
  });

  it('on real NAB rows, each held-out file scores exactly what NAB scores at the chosen setting and threshold', () => {
    const labels = parseLabels(readFileSync(join(FIXTURE, 'labels', 'combined_windows.json'), 'utf8'));
    const names = [...labels.keys()].sort();
    const series = names.map((n) => readSeries(join(FIXTURE, 'data'), n));
    const grid = [{ alarmLevel: 0.5 }, { alarmLevel: 0.6, zHalf: 24 }];
    const scoresOf = (c: number, f: number): Float64Array =>
      runDetector(adaptiveNabDetector(grid[c]), series[f]!.timestamps, series[f]!.values);
    const cvFiles = series.map((s) => ({ name: s.name, timestamps: s.timestamps, windows: labels.get(s.name)! }));
    const [r] = crossValidate({
      files: cvFiles,
      candidates: grid.length,
      scoresOf,
      folds: leaveOneCategoryOut(names),
      profiles: standard,
      minThreshold: 0.25,
    });
    const cost = standard.get('standard')!;
    for (const [f, s] of series.entries()) {
      const got = r!.files[f]!;
      const rows = calcScoreByThreshold(
        calcSweepScore(s.timestamps, scoresOf(got.candidate, f), labels.get(s.name)!, s.name, cost),
        cost,
      );
      expect(got.score).toBeCloseTo(scoreAtThreshold(rows, got.threshold).score, 12);
    }
  });
});
