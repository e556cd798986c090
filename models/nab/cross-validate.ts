/**
 * Cross-validated choice of a NAB detector's parameters and threshold. Pure: the caller supplies each candidate's
 * scores per file (computed once and cached), this module only scores.
 *
 * For each fold the files are split into held-out and training files. On the training files alone, every candidate
 * is scored NAB's way (threshold optimised over the training files together, per profile) and the best
 * (candidate, threshold) is kept; the held-out files are then scored with that pair. Every file is held out exactly
 * once, so the cross-validated corpus score is the sum of file scores each obtained with parameters chosen without
 * that file, normalised like NAB (null = −fnWeight, perfect = tpWeight per scorable window of all files).
 *
 * Speed: candidate thresholds are limited to scores ≥ `minThreshold` (default 0.05), so rows below it never fire
 * and are left out of the sweep. Below that a detector whose scores are in [0, 1] fires on most rows, which is never
 * the best threshold for a useful detector; NAB's optimizer considers every score. The sweep scores of a file do not
 * depend on the detector and are computed once per profile.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { CostMatrix, ThresholdScore } from './scorer.ts';
import { calcScoreByThreshold, calcSweepScore, normalizeScore, scoreAtThreshold } from './scorer.ts';
import type { AnomalyPoint } from './scorer.ts';

export interface CvFile {
  /** relative data path, `<category>/<file>.csv` */
  name: string;
  timestamps: ArrayLike<number>;
  windows: ReadonlyArray<readonly [number, number]>;
}

export interface CvFold {
  /** names of the files scored in this fold; all other files choose the parameters */
  heldOut: string[];
}

export interface CrossValidateOptions {
  files: readonly CvFile[];
  /** number of candidates (parameter settings) */
  candidates: number;
  /** anomaly scores of candidate c on file f (same length as its timestamps); called at most once per pair */
  scoresOf: (candidate: number, file: number) => ArrayLike<number>;
  folds: readonly CvFold[];
  profiles: ReadonlyMap<string, CostMatrix>;
  minThreshold?: number;
  /** told which files choose the parameters of each fold (for progress logs and for tests) */
  onSelect?: (fold: number, trainingFiles: readonly string[]) => void;
}

export interface FoldChoice {
  heldOut: string[];
  candidate: number;
  threshold: number;
  /** normalised score of the choice on the fold's training files */
  trainNormalized: number;
}

export interface CvProfileResult {
  profile: string;
  /** cross-validated normalised score */
  normalized: number;
  score: number;
  nullScore: number;
  perfectScore: number;
  windows: number;
  folds: FoldChoice[];
  /** each file's score, from the fold that held it out */
  files: Array<{ name: string; score: number; candidate: number; threshold: number }>;
}

/** One fold per category (the directory part of the name): the category is scored with parameters of the others. */
export function leaveOneCategoryOut(names: readonly string[]): CvFold[] {
  const by = new Map<string, string[]>();
  for (const n of names) {
    const cat = categoryOf(n);
    if (!by.has(cat)) by.set(cat, []);
    by.get(cat)!.push(n);
  }
  if (by.size < 2)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `leave-one-category-out needs 2+ categories, got ${by.size}`);
  return [...by.keys()].sort().map((c) => ({ heldOut: by.get(c)! }));
}

/** k folds by file: names sorted, file i goes to fold i mod k (deterministic, never rows of one file). */
export function kFoldByFile(names: readonly string[], k: number): CvFold[] {
  if (!Number.isInteger(k) || k < 2 || k > names.length)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `k-fold needs 2 <= k <= ${names.length} files, got ${k}`);
  const sorted = [...names].sort();
  const folds: CvFold[] = Array.from({ length: k }, () => ({ heldOut: [] }));
  sorted.forEach((n, i) => folds[i % k]!.heldOut.push(n));
  return folds;
}

export function categoryOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}

interface FileSweep {
  sweep: AnomalyPoint[];
  /** scorable windows of the file */
  windows: number;
}

/** Score of a set of files at the best threshold ≥ minThreshold, from their filtered points. */
interface SetScore {
  best: ThresholdScore;
  /** every threshold row, for scoring at a given threshold */
  rows: ThresholdScore[];
}

export function crossValidate(o: CrossValidateOptions): CvProfileResult[] {
  return run(o, false);
}

function run(o: CrossValidateOptions, inSample: boolean): CvProfileResult[] {
  const minThreshold = o.minThreshold ?? 0.05;
  const names = o.files.map((f) => f.name);
  const index = new Map(names.map((n, i) => [n, i]));
  const seen = new Set<string>();
  for (const fold of o.folds) {
    for (const n of fold.heldOut) {
      if (!index.has(n)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `fold holds out unknown file "${n}"`);
      if (seen.has(n)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `file "${n}" is held out by two folds`);
      seen.add(n);
    }
  }
  if (seen.size !== names.length) {
    const missing = names.filter((n) => !seen.has(n));
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `files held out by no fold: ${missing.join(', ')}`);
  }
  if (o.candidates < 1) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'crossValidate needs 1+ candidates');
  const scoreCache = new Map<number, ArrayLike<number>>();
  const scores = (c: number, f: number): ArrayLike<number> => {
    const key = c * names.length + f;
    let s = scoreCache.get(key);
    if (!s) {
      s = o.scoresOf(c, f);
      if (s.length !== o.files[f]!.timestamps.length)
        throw new EdgeloopError(
          'EL_ERR_INVALID_ARGUMENT',
          `candidate ${c} gave ${s.length} scores for ${names[f]} (${o.files[f]!.timestamps.length} rows)`,
        );
      scoreCache.set(key, s);
    }
    return s;
  };

  const results: CvProfileResult[] = [];
  for (const [profile, cost] of o.profiles) {
    const sweeps: FileSweep[] = o.files.map((f) => {
      const sweep = calcSweepScore(f.timestamps, new Float64Array(f.timestamps.length), f.windows, f.name, cost);
      const w = new Set<string>();
      for (const p of sweep) if (p.windowName !== null) w.add(p.windowName);
      return { sweep, windows: w.size };
    });
    // Points of candidate c on file f that can fire at a threshold >= minThreshold.
    const pointCache = new Map<number, AnomalyPoint[]>();
    const points = (c: number, f: number): AnomalyPoint[] => {
      const key = c * names.length + f;
      let p = pointCache.get(key);
      if (!p) {
        const s = scores(c, f);
        p = [];
        for (const q of sweeps[f]!.sweep) {
          const a = s[q.index]!;
          if (!q.probationary && a >= minThreshold) p.push({ ...q, anomalyScore: a });
        }
        pointCache.set(key, p);
      }
      return p;
    };
    // NAB's sweep over the filtered points, with windows that no point reaches counted as missed.
    const scoreSet = (c: number, files: readonly number[]): SetScore => {
      const all: AnomalyPoint[] = [];
      let windows = 0;
      for (const f of files) {
        for (const p of points(c, f)) all.push(p);
        windows += sweeps[f]!.windows;
      }
      const reached = new Set<string>();
      for (const p of all) if (p.windowName !== null) reached.add(p.windowName);
      const missed = -cost.fnWeight * (windows - reached.size);
      const rows = calcScoreByThreshold(all, cost).map((r) => ({ ...r, score: r.score + missed }));
      let best = rows[0]!;
      for (const r of rows) if (r.score > best.score) best = r;
      return { best, rows };
    };

    const folds: FoldChoice[] = [];
    const fileScores = new Array<CvProfileResult['files'][number]>(names.length);
    o.folds.forEach((fold, k) => {
      const held = new Set(fold.heldOut);
      const train = names.map((_, i) => i).filter((i) => inSample || !held.has(names[i]!));
      o.onSelect?.(
        k,
        train.map((i) => names[i]!),
      );
      const trainWindows = train.reduce((a, i) => a + sweeps[i]!.windows, 0);
      let choice = { candidate: 0, threshold: 1.1, score: -Infinity };
      for (let c = 0; c < o.candidates; c++) {
        const b = scoreSet(c, train).best;
        if (b.score > choice.score) choice = { candidate: c, threshold: b.threshold, score: b.score };
      }
      folds.push({
        heldOut: [...fold.heldOut],
        candidate: choice.candidate,
        threshold: choice.threshold,
        trainNormalized:
          trainWindows > 0
            ? normalizeScore(choice.score, -cost.fnWeight * trainWindows, cost.tpWeight * trainWindows)
            : 0,
      });
      for (const n of fold.heldOut) {
        const f = index.get(n)!;
        const r = scoreAtThreshold(scoreSet(choice.candidate, [f]).rows, choice.threshold);
        fileScores[f] = { name: n, score: r.score, candidate: choice.candidate, threshold: choice.threshold };
      }
    });
    const windows = sweeps.reduce((a, s) => a + s.windows, 0);
    const score = fileScores.reduce((a, r) => a + r.score, 0);
    const nullScore = -cost.fnWeight * windows;
    const perfectScore = cost.tpWeight * windows;
    results.push({
      profile,
      normalized: windows > 0 ? normalizeScore(score, nullScore, perfectScore) : 0,
      score,
      nullScore,
      perfectScore,
      windows,
      folds,
      files: fileScores,
    });
  }
  return results;
}

/**
 * The best (candidate, threshold) on all files together, per profile, each file then scored with it: the in-sample
 * figure (parameters chosen on the files they score), reported beside the cross-validated one.
 */
export function fitAll(o: Omit<CrossValidateOptions, 'folds' | 'onSelect'>): CvProfileResult[] {
  return run({ ...o, folds: [{ heldOut: o.files.map((f) => f.name) }] }, true);
}
