/**
 * The Numenta Anomaly Benchmark's scoring, reimplemented from numenta/NAB (nab/sweeper.py, nab/scorer.py,
 * nab/runner.py: optimize and normalize). Pure: no files, no clock.
 *
 * Per data file (`calcSweepScore`): the first min(floor(0.15 * rows), 0.15 * 5000) rows are the probationary period
 * and are not scored. Each row gets a "sweep score", the NAB reward it would earn if it were a detection:
 * - inside a label window: scaledSigmoid(-(right - i + 1) / width) * tpWeight / scaledSigmoid(-1), so the first
 *   row of a window is worth tpWeight and the reward falls towards the window's right edge;
 * - outside: a false positive, scaledSigmoid(|prevRight - i| / (prevWidth - 1)) * fpWeight after a window
 *   (small just after it, -fpWeight far after), -fpWeight before any window.
 * For a threshold (`calcScoreByThreshold`), rows with anomaly_score >= threshold are detections: each window
 * scores the best (earliest) detection in it, or -fnWeight when it has none; false positives add up.
 * Thresholds are swept over every distinct anomaly score of the whole corpus (starting at 1.1: no detection),
 * and the best one per profile is kept (`optimizeThreshold`). Normalised score (`normalizeScore`):
 * 100 * (raw - null) / (perfect - null), null = the score of a detector that never fires (-fnWeight per window),
 * perfect = tpWeight per window.
 */
export interface CostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
  tnWeight?: number;
}

export const DEFAULT_PROBATION_PERCENT = 0.15;

/** A window's name in the sweep; 'probationary' rows are not scored, null rows are outside any window. */
export interface AnomalyPoint {
  /** row index in its file */
  index: number;
  anomalyScore: number;
  sweepScore: number;
  windowName: string | null;
  probationary: boolean;
}

export interface ThresholdScore {
  threshold: number;
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
  total: number;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * NAB's scaled sigmoid: 2 * sigmoid(-5 x) - 1, and -1 beyond x > 3. x = -1 (left edge of a window) gives 0.98661,
 * x = 0 (right edge) gives 0, x = 1 gives -0.98661.
 */
export function scaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3.0) return -1.0;
  return 2 * sigmoid(-5 * relativePosition) - 1.0;
}

/** Rows at the start of a file that are not scored: min(floor(p * rows), p * 5000). */
export function probationaryLength(rows: number, probationPercent = DEFAULT_PROBATION_PERCENT): number {
  return Math.min(Math.floor(probationPercent * rows), probationPercent * 5000);
}

/**
 * Sweep scores of one file. `timestamps` are epoch ms in file order; `windows` are [start, end] epoch ms, in
 * order. As in NAB, a window is entered at the row whose timestamp equals its start and left after the row equal
 * to its end; for files whose rows do not hit the limits exactly, the first row at or after the start and the last
 * row at or before the end are used (identical for NAB's own labels, which are aligned to the rows).
 */
export function calcSweepScore(
  timestamps: ArrayLike<number>,
  anomalyScores: ArrayLike<number>,
  windows: ReadonlyArray<readonly [number, number]>,
  dataSetName: string,
  cost: CostMatrix,
  probationPercent = DEFAULT_PROBATION_PERCENT,
): AnomalyPoint[] {
  if (timestamps.length !== anomalyScores.length) {
    throw new RangeError(`calcSweepScore: ${timestamps.length} timestamps but ${anomalyScores.length} anomaly scores`);
  }
  const n = timestamps.length;
  const maxTP = scaledSigmoid(-1.0);
  const probation = probationaryLength(n, probationPercent);
  // Row ranges of the windows.
  const ranges: Array<{ left: number; right: number; name: string }> = [];
  for (const [start, end] of windows) {
    // NAB: timestamps.index(start) and timestamps.index(end) (first exact match).
    let left = -1;
    let right = -1;
    for (let i = 0; i < n && (left < 0 || right < 0); i++) {
      if (left < 0 && timestamps[i] === start) left = i;
      if (right < 0 && timestamps[i] === end) right = i;
    }
    if (left < 0) for (let i = 0; i < n && left < 0; i++) if (timestamps[i]! >= start) left = i;
    if (right < 0) for (let i = 0; i < n; i++) if (timestamps[i]! <= end) right = i;
    if (left >= 0 && right >= left) ranges.push({ left, right, name: `${dataSetName}|${start}` });
  }
  const out: AnomalyPoint[] = new Array(n);
  let w = 0;
  let cur: (typeof ranges)[number] | undefined;
  let prevRight: number | undefined;
  let prevWidth: number | undefined;
  for (let i = 0; i < n; i++) {
    if (!cur && w < ranges.length && i === ranges[w]!.left) cur = ranges[w++];
    let weighted: number;
    if (cur) {
      const width = cur.right - cur.left + 1;
      const position = -(cur.right - i + 1) / width;
      weighted = (scaledSigmoid(position) * cost.tpWeight) / maxTP;
    } else if (prevRight === undefined || prevWidth === undefined) {
      weighted = -1.0 * cost.fpWeight;
    } else {
      weighted = scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1)) * cost.fpWeight;
    }
    const probationary = i < probation;
    out[i] = {
      index: i,
      anomalyScore: anomalyScores[i]!,
      sweepScore: weighted,
      windowName: probationary ? null : (cur?.name ?? null),
      probationary,
    };
    if (cur && i === cur.right) {
      prevRight = i;
      prevWidth = cur.right - cur.left + 1;
      cur = undefined;
    }
  }
  return out;
}

/**
 * Score for every threshold present in `points` (which may come from many files), highest threshold first. The
 * first entry is threshold 1.1 (no detection). Entry (T, s) is the score when rows with anomaly_score >= T fire.
 */
export function calcScoreByThreshold(points: readonly AnomalyPoint[], cost: CostMatrix): ThresholdScore[] {
  const scorable = points.filter((p) => !p.probationary).sort((a, b) => b.anomalyScore - a.anomalyScore);
  const windowScore = new Map<string, number>();
  for (const p of scorable) if (p.windowName !== null) windowScore.set(p.windowName, -cost.fnWeight);
  let fpScore = 0;
  let windowsTotal = -cost.fnWeight * windowScore.size;
  let tn = 0;
  let fn = 0;
  for (const p of scorable) p.windowName === null ? tn++ : fn++;
  let tp = 0;
  let fp = 0;
  const result: ThresholdScore[] = [];
  let threshold = 1.1;
  for (const p of scorable) {
    if (p.anomalyScore !== threshold) {
      result.push({ threshold, score: windowsTotal + fpScore, tp, tn, fp, fn, total: tp + tn + fp + fn });
      threshold = p.anomalyScore;
    }
    if (p.windowName !== null) {
      tp++;
      fn--;
      const before = windowScore.get(p.windowName)!;
      if (p.sweepScore > before) {
        windowScore.set(p.windowName, p.sweepScore);
        windowsTotal += p.sweepScore - before;
      }
    } else {
      fp++;
      tn--;
      fpScore += p.sweepScore;
    }
  }
  result.push({ threshold, score: windowsTotal + fpScore, tp, tn, fp, fn, total: tp + tn + fp + fn });
  return result;
}

/**
 * The row of `byThreshold` that applies to `threshold` (NAB's Sweeper.scoreDataSet): the exact threshold, else the
 * last one above it. A threshold below every score gives the last row (all rows fire).
 */
export function scoreAtThreshold(byThreshold: readonly ThresholdScore[], threshold: number): ThresholdScore {
  let prev: ThresholdScore | undefined;
  for (const row of byThreshold) {
    if (row.threshold === threshold) return row;
    if (row.threshold < threshold) return prev ?? row;
    prev = row;
  }
  return prev!;
}

export interface ScoredFile {
  /** relative data path, e.g. realKnownCause/nyc_taxi.csv */
  name: string;
  timestamps: ArrayLike<number>;
  anomalyScores: ArrayLike<number>;
  windows: ReadonlyArray<readonly [number, number]>;
}

export interface FileScore extends ThresholdScore {
  name: string;
}

export interface ProfileResult {
  profile: string;
  cost: CostMatrix;
  threshold: number;
  /** raw corpus score at the threshold (sum of file scores) */
  score: number;
  nullScore: number;
  perfectScore: number;
  /** 100 * (score - null) / (perfect - null) */
  normalized: number;
  windows: number;
  files: FileScore[];
  totals: Omit<ThresholdScore, 'threshold' | 'score'>;
}

/** Best threshold over the whole corpus (NAB's optimizer over the sweeper). Ties keep the higher threshold. */
export function optimizeThreshold(
  files: readonly ScoredFile[],
  cost: CostMatrix,
  probationPercent = DEFAULT_PROBATION_PERCENT,
): ThresholdScore {
  const all: AnomalyPoint[] = [];
  for (const f of files) {
    for (const p of calcSweepScore(f.timestamps, f.anomalyScores, f.windows, f.name, cost, probationPercent))
      all.push(p);
  }
  const rows = calcScoreByThreshold(all, cost);
  let best = rows[0]!;
  for (const r of rows) if (r.score > best.score) best = r;
  return best;
}

/** Number of windows that the sweep can score (windows that have rows after the probationary period). */
export function countScorableWindows(
  files: readonly ScoredFile[],
  probationPercent = DEFAULT_PROBATION_PERCENT,
): number {
  const names = new Set<string>();
  const unit: CostMatrix = { tpWeight: 1, fpWeight: 1, fnWeight: 1 };
  for (const f of files) {
    for (const p of calcSweepScore(f.timestamps, f.anomalyScores, f.windows, f.name, unit, probationPercent))
      if (p.windowName) names.add(p.windowName);
  }
  return names.size;
}

export function normalizeScore(score: number, nullScore: number, perfectScore: number): number {
  return (100 * (score - nullScore)) / (perfectScore - nullScore);
}

/**
 * Optimise the threshold for one profile, score every file at it, and normalise: the whole of NAB's
 * optimize → score → normalize for one detector.
 */
export function scoreProfile(
  files: readonly ScoredFile[],
  profile: string,
  cost: CostMatrix,
  probationPercent = DEFAULT_PROBATION_PERCENT,
): ProfileResult {
  const best = optimizeThreshold(files, cost, probationPercent);
  const perFile: FileScore[] = files.map((f) => {
    const rows = calcScoreByThreshold(
      calcSweepScore(f.timestamps, f.anomalyScores, f.windows, f.name, cost, probationPercent),
      cost,
    );
    return { name: f.name, ...scoreAtThreshold(rows, best.threshold), threshold: best.threshold };
  });
  const score = perFile.reduce((a, r) => a + r.score, 0);
  const windows = countScorableWindows(files, probationPercent);
  const nullScore = -cost.fnWeight * windows;
  const perfectScore = cost.tpWeight * windows;
  const totals = { tp: 0, tn: 0, fp: 0, fn: 0, total: 0 };
  for (const r of perFile) {
    totals.tp += r.tp;
    totals.tn += r.tn;
    totals.fp += r.fp;
    totals.fn += r.fn;
    totals.total += r.total;
  }
  return {
    profile,
    cost,
    threshold: best.threshold,
    score,
    nullScore,
    perfectScore,
    normalized: windows > 0 ? normalizeScore(score, nullScore, perfectScore) : 0,
    windows,
    files: perFile,
    totals,
  };
}
