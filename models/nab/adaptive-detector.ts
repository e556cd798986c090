/**
 * The streaming anomaly detector behind `edgeloop models eval nab` (detector `edgeloop`): one value at a time,
 * `update(value, timestamp) → score` in [0, 1], learning from past values only, bounded state per stream. Pure: no
 * I/O, no clock, no randomness (so two runs over one stream give the same scores).
 *
 * Stages, each adapting to the stream it sees (stage 2 is anomaly-likelihood.ts, stages 3 and 4 alarm-gate.ts):
 * 1. Raw surprise: robust z-scores |x − median| / (1.4826 × MAD) over a sliding history of up to five features (the
 *    value, its first difference, a short moving average, — when the learning rows show a strong period — the
 *    seasonal difference, and — when the learning rows span two calendar weeks by their timestamps — the weekly
 *    difference x(t) − x(t − week)), each bounded to raw = z / (z + zHalf) in [0, 1).
 * 2. Anomaly likelihood per feature (after Numenta HTM's post-processing of its raw scores): the mean of the last
 *    `shortRows` raw scores of a feature is compared with the distribution (mean, std) of that feature's short means
 *    over the last `longRows` rows. The likelihood is 1 − Q((m − μ) / σ) (upper tail only: a calmer-than-usual
 *    stretch is not an anomaly), and the score is its log form ln(1 + 1e-10 − L) / ln(1e-10), so 0.5 means a tail
 *    probability near 1e-5; the largest over the features is kept. Because each distribution is the stream's own, a
 *    feature that is always surprising (the value of a square wave, the difference of a noisy series) does not
 *    drown the others, and one threshold transfers between streams whose raw surprise differs in scale.
 * 3. Spatial novelty (also after HTM's NAB detector): a value outside the range seen so far, widened by
 *    `spatialTolerance` × the range, scores 1.
 * 4. Alarm gate, on the larger of 2 and 3: when it reaches `alarmLevel` the detector raises an alarm and emits
 *    `alarmScore` (default 1), then 0 for `suppressRows` rows, so a lasting anomaly raises one alarm; any other row
 *    emits half its score (below alarmLevel / 2). The alarm decision is the detector's own, made per stream on its
 *    own likelihood scale, so every threshold in (alarmLevel / 2, alarmScore] picks exactly the alarms: a threshold
 *    chosen on other streams does not depend on where between alarmLevel and 1 it falls. With `alarmScore` 0 every
 *    row emits its score as it is (alarms still start the silence). During the first `learnRows` rows (NAB's
 *    probationary period) it only learns and emits 0.
 *
 * Cost per stream: per feature in use (3 always, the seasonal and weekly ones when found) a sliding window of
 * `historyRows` doubles (ring + sorted copy) and a ring of `longRows` and one of `shortRows` doubles; up to
 * max(period, week, smoothRows) + 1025 past values (all `learnRows`, and their timestamps, until the lags are
 * decided); per value O(historyRows) (a memmove and a median/MAD walk per feature), once O(learnRows²) for the
 * period. See bench/models/nab-detector.bench.ts.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { AlarmGate, SpatialNovelty } from './alarm-gate.ts';
import { AnomalyLikelihood } from './anomaly-likelihood.ts';
import { SlidingRobust, autocorrelation, dominantPeriod } from './robust-window.ts';

export { AlarmGate, SpatialNovelty } from './alarm-gate.ts';
export { AnomalyLikelihood, logLikelihood, upperTailProbability } from './anomaly-likelihood.ts';

export interface AdaptiveDetectorOptions {
  /** rows that only teach the detector (NAB: the probationary length); it emits 0 for them. Required. */
  learnRows: number;
  /** history of the rolling robust statistics, rows; default max(64, learnRows) */
  historyRows?: number;
  /** points of the short moving average feature; default 4 */
  smoothRows?: number;
  /** z at which the raw surprise is 0.5; default 12 */
  zHalf?: number;
  /** least autocorrelation of the learning rows to add the seasonal difference (> 1 = never); default 0.5 */
  minSeasonalCorrelation?: number;
  /**
   * least rise of that autocorrelation above its lowest value at a shorter lag (a slowly decaying correlation with
   * small wiggles is not a period); default 0.2
   */
  minSeasonalRise?: number;
  /**
   * least autocorrelation of the learning rows at a lag of one week (from the median spacing of their timestamps) to
   * add the weekly difference; only when the learning rows span two weeks (> 1 = never); default 0
   */
  minWeeklyCorrelation?: number;
  /** raw scores averaged into the likelihood's short mean; default 5 */
  shortRows?: number;
  /** short means in the likelihood's distribution; default 2000 */
  longRows?: number;
  /** least std of the likelihood's distribution (raw scores are in [0, 1)); default 0.01 */
  minStd?: number;
  /** widening of the seen range before a value is spatially novel, fraction of the range (0 = off); default 0 */
  spatialTolerance?: number;
  /** score at or above which the detector alarms and then stays quiet; default 0.5 */
  alarmLevel?: number;
  /** rows of silence after an alarm; default round(suppressFactor × learnRows), at least 1 */
  suppressRows?: number;
  /** default 0.2 */
  suppressFactor?: number;
  /**
   * score emitted on an alarm row, in [alarmLevel, 1], other rows then emit half their score; 0 = every row emits
   * its score unchanged. Default 1
   */
  alarmScore?: number;
}

export type ResolvedAdaptiveOptions = Required<AdaptiveDetectorOptions>;

const INTEGER_KEYS = ['learnRows', 'historyRows', 'smoothRows', 'shortRows', 'longRows', 'suppressRows'] as const;
const NUMBER_KEYS = [
  'zHalf',
  'minSeasonalCorrelation',
  'minSeasonalRise',
  'minWeeklyCorrelation',
  'minStd',
  'spatialTolerance',
  'alarmLevel',
  'suppressFactor',
  'alarmScore',
] as const;
/** options that may be 0 */
const ZERO_OK = new Set<string>([
  'spatialTolerance',
  'minSeasonalCorrelation',
  'minSeasonalRise',
  'minWeeklyCorrelation',
  'minStd',
  'alarmScore',
]);
export const ADAPTIVE_OPTION_KEYS: readonly string[] = [...INTEGER_KEYS, ...NUMBER_KEYS];

/** Check the options (unknown key, wrong type or range → EL_ERR_INVALID_ARGUMENT) and fill in the defaults. */
export function resolveAdaptiveOptions(opts: AdaptiveDetectorOptions): ResolvedAdaptiveOptions {
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (!ADAPTIVE_OPTION_KEYS.includes(k)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `unknown edgeloop detector option "${k}" (known: ${ADAPTIVE_OPTION_KEYS.join(', ')})`,
      );
    }
    const integer = (INTEGER_KEYS as readonly string[]).includes(k);
    const min = ZERO_OK.has(k) || k === 'learnRows' ? 0 : Number.MIN_VALUE;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `edgeloop detector option ${k} must be a ${min === 0 ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}, got ${String(v)}`,
      );
    }
  }
  if (opts.learnRows === undefined)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'edgeloop detector option learnRows is required');
  const learnRows = opts.learnRows;
  const suppressFactor = opts.suppressFactor ?? 0.2;
  const alarmLevel = opts.alarmLevel ?? 0.5;
  const alarmScore = opts.alarmScore ?? 1;
  if (alarmScore !== 0 && (alarmScore < alarmLevel || alarmScore > 1))
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `edgeloop detector option alarmScore must be 0 or in [alarmLevel, 1] = [${alarmLevel}, 1], got ${alarmScore}`,
    );
  return {
    learnRows,
    historyRows: opts.historyRows ?? Math.max(64, learnRows),
    smoothRows: opts.smoothRows ?? 4,
    zHalf: opts.zHalf ?? 12,
    minSeasonalCorrelation: opts.minSeasonalCorrelation ?? 0.5,
    minSeasonalRise: opts.minSeasonalRise ?? 0.2,
    minWeeklyCorrelation: opts.minWeeklyCorrelation ?? 0,
    shortRows: opts.shortRows ?? 5,
    longRows: opts.longRows ?? 2000,
    minStd: opts.minStd ?? 0.01,
    spatialTolerance: opts.spatialTolerance ?? 0,
    alarmLevel,
    suppressFactor,
    suppressRows: opts.suppressRows ?? Math.max(1, Math.round(suppressFactor * learnRows)),
    alarmScore,
  };
}

/** features of the raw stage: value, first difference, moving average, seasonal difference, weekly difference */
export const FEATURES = 5;

const WEEK_MS = 7 * 24 * 3600 * 1000;

/** One week in rows, from the median spacing of the timestamps (0 when they do not advance). */
export function weeklyLag(timestamps: readonly number[]): number {
  const d: number[] = [];
  for (let j = 1; j < timestamps.length; j++) d.push(timestamps[j]! - timestamps[j - 1]!);
  if (d.length === 0) return 0;
  d.sort((a, b) => a - b);
  const step = d[(d.length - 1) >> 1]!;
  return step > 0 ? Math.round(WEEK_MS / step) : 0;
}

/**
 * Stage 1: the raw surprise of each value in [0, 1), learned online. `update` returns the raw score of the value
 * from the history before it, then adds it.
 */
export class RawSurprise {
  readonly #o: ResolvedAdaptiveOptions;
  /** per feature; the seasonal and weekly ones exist only once their lag is found */
  readonly #stats: Array<SlidingRobust | null>;
  #past: number[] = [];
  #base = 0;
  #smoothSum = 0;
  #period = 0;
  #week = 0;
  #periodChecked = false;
  /** timestamps of the learning rows (for the weekly lag), null once one is missing */
  #learnTimes: number[] | null = [];
  #t = 0;
  /** raw surprise of each feature for the last value (NaN where the feature is not defined or not scored yet) */
  readonly features = new Float64Array(FEATURES);

  constructor(o: ResolvedAdaptiveOptions) {
    this.#o = o;
    this.#stats = Array.from({ length: FEATURES }, (_, k) => (k < 3 ? new SlidingRobust(o.historyRows) : null));
  }

  /** seasonal period found in the learning rows (0 = none, or not decided yet) */
  get period(): number {
    return this.#period;
  }

  /** lag of the weekly difference in rows (0 = none, or not decided yet) */
  get week(): number {
    return this.#week;
  }

  #at(j: number): number {
    return this.#past[j - this.#base]!;
  }

  /**
   * Raw surprise of the value from the history before it (the largest over the features); see `features`. The
   * timestamp (epoch ms) only serves to find the weekly lag from the learning rows.
   */
  update(value: number, timestamp?: number): number {
    const o = this.#o;
    const i = this.#t++;
    this.#past.push(value);
    if (this.#learnTimes && i < o.learnRows) {
      if (timestamp !== undefined && Number.isFinite(timestamp)) this.#learnTimes.push(timestamp);
      else this.#learnTimes = null;
    }
    this.#smoothSum += value;
    if (i >= o.smoothRows) this.#smoothSum -= this.#at(i - o.smoothRows);
    if (!this.#periodChecked && i >= o.learnRows && o.learnRows >= 8) {
      this.#periodChecked = true;
      const p = dominantPeriod(this.#past.slice(0, o.learnRows), Math.floor(o.learnRows / 2), o.minSeasonalRise);
      if (p.r >= o.minSeasonalCorrelation) {
        this.#period = p.lag;
        // The seasonal difference starts with the history of the learning rows, not empty.
        const s = new SlidingRobust(o.historyRows);
        this.#stats[3] = s;
        for (let j = p.lag; j < i; j++) s.push(this.#at(j) - this.#at(j - p.lag));
      }
      const week = this.#learnTimes ? weeklyLag(this.#learnTimes) : 0;
      this.#learnTimes = null;
      const learn = this.#past.slice(0, o.learnRows);
      if (week >= 2 && week <= Math.floor(o.learnRows / 2) && autocorrelation(learn, week) >= o.minWeeklyCorrelation) {
        this.#week = week;
        const s = new SlidingRobust(o.historyRows);
        this.#stats[4] = s;
        for (let j = week; j < i; j++) s.push(this.#at(j) - this.#at(j - week));
      }
    }
    const period = this.#period;
    const week = this.#week;
    let z = 0;
    this.features.fill(Number.NaN);
    for (let k = 0; k < FEATURES; k++) {
      let f: number;
      if (k === 0) f = value;
      else if (k === 1) {
        if (i === 0) continue;
        f = value - this.#at(i - 1);
      } else if (k === 2) {
        if (i + 1 < o.smoothRows) continue;
        f = this.#smoothSum / o.smoothRows;
      } else if (k === 3) {
        if (period === 0 || i < period) continue;
        f = value - this.#at(i - period);
      } else {
        if (week === 0 || i < week) continue;
        f = value - this.#at(i - week);
      }
      const s = this.#stats[k]!;
      if (s.size >= 16) {
        const med = s.median();
        const zk = Math.abs(f - med) / s.scale(med);
        this.features[k] = zk / (zk + o.zHalf);
        if (zk > z) z = zk;
      }
      s.push(f);
    }
    // Bounded memory once the periods are decided: the seasonal and weekly differences need that many values back.
    const keep = Math.max(period, week, o.smoothRows) + 1;
    if ((this.#periodChecked || o.learnRows < 8) && this.#past.length > 2 * keep + 1024) {
      const drop = this.#past.length - keep;
      this.#past = this.#past.slice(drop);
      this.#base += drop;
    }
    return z / (z + o.zHalf);
  }
}

/** The detector: one per stream. */
export class AdaptiveDetector {
  readonly options: ResolvedAdaptiveOptions;
  readonly #raw: RawSurprise;
  readonly #likelihoods: AnomalyLikelihood[];
  readonly #spatial: SpatialNovelty;
  readonly #gate: AlarmGate;

  constructor(opts: AdaptiveDetectorOptions) {
    const o = resolveAdaptiveOptions(opts);
    this.options = Object.freeze(o);
    this.#raw = new RawSurprise(o);
    this.#likelihoods = Array.from(
      { length: FEATURES },
      () => new AnomalyLikelihood(o.shortRows, o.longRows, o.minStd),
    );
    this.#spatial = new SpatialNovelty(o.spatialTolerance);
    this.#gate = new AlarmGate(o.learnRows, o.alarmLevel, o.suppressRows, o.alarmScore);
  }

  /** whether the last value raised an alarm (its score reached alarmLevel outside the learning rows and silence) */
  get alarmed(): boolean {
    return this.#gate.alarmed;
  }

  /**
   * Score of this value in [0, 1] from the values before it. The timestamp (epoch ms) of the learning rows gives the
   * weekly lag; without timestamps there is no weekly feature.
   */
  update(value: number, timestamp?: number): number {
    if (!Number.isFinite(value))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `edgeloop detector: value must be finite, got ${value}`);
    this.#raw.update(value, timestamp);
    let score = this.#spatial.update(value);
    const f = this.#raw.features;
    for (let k = 0; k < FEATURES; k++) {
      const l = this.#likelihoods[k]!.update(f[k]!);
      if (l > score) score = l;
    }
    return this.#gate.update(score);
  }
}

/**
 * Stage 1 over a whole series: the raw surprise of each feature of each value (what the staged search shares);
 * with the timestamps as `AdaptiveDetector.update` is given them.
 */
export function rawSurprises(
  values: ArrayLike<number>,
  opts: AdaptiveDetectorOptions,
  timestamps?: ArrayLike<number>,
): Float64Array[] {
  const r = new RawSurprise(resolveAdaptiveOptions(opts));
  const out = Array.from({ length: FEATURES }, () => new Float64Array(values.length));
  for (let i = 0; i < values.length; i++) {
    r.update(values[i]!, timestamps?.[i]);
    for (let k = 0; k < FEATURES; k++) out[k]![i] = r.features[k]!;
  }
  return out;
}

/**
 * Stages 2–4 over a whole series from its raw surprises: the same scores as `AdaptiveDetector.update` value by
 * value, for parameter searches that vary only the later stages (the raw surprises are computed once).
 */
export function scoresFromRaw(
  values: ArrayLike<number>,
  raw: readonly ArrayLike<number>[],
  opts: AdaptiveDetectorOptions,
): Float64Array {
  const o = resolveAdaptiveOptions(opts);
  const likelihoods = raw.map(() => new AnomalyLikelihood(o.shortRows, o.longRows, o.minStd));
  const spatial = new SpatialNovelty(o.spatialTolerance);
  const gate = new AlarmGate(o.learnRows, o.alarmLevel, o.suppressRows, o.alarmScore);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let score = spatial.update(values[i]!);
    for (let k = 0; k < raw.length; k++) {
      const l = likelihoods[k]!.update(raw[k]![i]!);
      if (l > score) score = l;
    }
    out[i] = gate.update(score);
  }
  return out;
}
