/**
 * Online anomaly detectors for NAB streams. Each sees one row at a time (no look-ahead) and returns an anomaly
 * score in [0, 1]; like NAB's detectors it is told the file's length only to size its probationary period. Pure.
 *
 * - `edgeloop`: the streaming adaptive detector (adaptive-detector.ts: robust surprise → anomaly likelihood →
 *   spatial novelty → alarm gate), learning for the probationary period.
 * - `robustZ` (`edgeloopDetector`, the previous default): an ensemble of robust rolling z-scores (median / MAD over a sliding history) of the value, its
 *   first difference, a short moving average and, when the probationary rows show a strong period, the seasonal
 *   difference. The largest z is mapped to (0, 1) by z / (z + zHalf) and post-processed: once the score reaches
 *   `alarmLevel` the detector alarms and then emits 0 for `suppressRows` rows, so a lasting anomaly raises one
 *   alarm, not hundreds (NAB rewards the earliest detection in a window and charges every false positive). It
 *   emits 0 during the probationary period (it only learns there).
 * - `windowedGaussian`: NAB's baseline (nab/detectors/gaussian): Gaussian tail probability against the mean and
 *   std of a 6400-row window updated every 100 rows.
 * - `null`: always 0 (NAB's null baseline).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { erfc } from './erfc.ts';
import type { AdaptiveDetectorOptions } from './adaptive-detector.ts';
import { AdaptiveDetector, resolveAdaptiveOptions } from './adaptive-detector.ts';
import { SlidingRobust, dominantPeriod } from './robust-window.ts';
import { probationaryLength } from './scorer.ts';

export { dominantPeriod } from './robust-window.ts';

export interface OnlineDetector {
  /** score of this row, learned from the previous rows only */
  handleRecord(timestamp: number, value: number): number;
}

export interface DetectorContext {
  /** rows in the stream (to size the probationary period, as NAB does) */
  rows: number;
}

export type DetectorFactory = (ctx: DetectorContext) => OnlineDetector;

export interface EdgeloopDetectorOptions {
  /** history length of the rolling robust statistics, rows; default: the probationary length (>= 64) */
  historyRows?: number;
  /** points of the short moving average; default 4 */
  smoothRows?: number;
  /** raw score at or above which the detector alarms and then stays quiet for suppressRows; default 0.55 (z = 7.3) */
  alarmLevel?: number;
  /** rows after an alarm during which nothing is emitted; default suppressFactor x the probationary length */
  suppressRows?: number;
  /** default 0.5 */
  suppressFactor?: number;
  /** z at which the score is 0.5 (score = z / (z + zHalf)); default 6 */
  zHalf?: number;
  /** least autocorrelation of the probationary rows to use a seasonal difference; default 0.5 */
  minSeasonalCorrelation?: number;
}

const EDGELOOP_OPTION_KEYS = [
  'historyRows',
  'smoothRows',
  'alarmLevel',
  'suppressRows',
  'suppressFactor',
  'zHalf',
  'minSeasonalCorrelation',
];

export function edgeloopDetector(opts: EdgeloopDetectorOptions = {}): DetectorFactory {
  for (const [k, v] of Object.entries(opts)) {
    if (!EDGELOOP_OPTION_KEYS.includes(k)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `unknown edgeloop detector option "${k}" (known: ${EDGELOOP_OPTION_KEYS.join(', ')})`,
      );
    }
    const integer = k === 'historyRows' || k === 'smoothRows' || k === 'suppressRows';
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `edgeloop detector option ${k} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`,
      );
    }
  }
  return ({ rows }) => {
    const probation = Math.floor(probationaryLength(rows));
    const history = opts.historyRows ?? Math.max(64, probation);
    const smooth = opts.smoothRows ?? 4;
    const suppress = opts.suppressRows ?? Math.max(1, Math.round((opts.suppressFactor ?? 0.5) * probation));
    const alarmLevel = opts.alarmLevel ?? 0.55;
    const zHalf = opts.zHalf ?? 6;
    const minR = opts.minSeasonalCorrelation ?? 0.5;
    let past: number[] = [];
    let base = 0; // rows dropped from the front of `past`
    const at = (j: number): number => past[j - base]!;
    const stats = [
      new SlidingRobust(history),
      new SlidingRobust(history),
      new SlidingRobust(history),
      new SlidingRobust(history),
    ];
    let smoothSum = 0;
    let period = 0;
    let periodChecked = false;
    let quietUntil = -1;
    let t = 0;
    return {
      handleRecord(_ts: number, value: number): number {
        const i = t++;
        past.push(value);
        smoothSum += value;
        if (i >= smooth) smoothSum -= at(i - smooth);
        if (!periodChecked && i >= probation && probation >= 8) {
          periodChecked = true;
          const p = dominantPeriod(past.slice(0, probation), Math.floor(probation / 2));
          if (p.r >= minR) period = p.lag;
        }
        const feats: Array<number | undefined> = [
          value,
          i > 0 ? value - at(i - 1) : undefined,
          i + 1 >= smooth ? smoothSum / smooth : undefined,
          period > 0 && i >= period ? value - at(i - period) : undefined,
        ];
        let z = 0;
        for (let k = 0; k < feats.length; k++) {
          const f = feats[k];
          if (f === undefined) continue;
          const s = stats[k]!;
          if (s.size >= 16) {
            const med = s.median();
            const zk = Math.abs(f - med) / s.scale(med);
            if (zk > z) z = zk;
          }
          s.push(f);
        }
        // Keep memory bounded once the period is known: the seasonal difference needs `period` rows back.
        const keep = Math.max(period, smooth) + 1;
        if (periodChecked && past.length > 2 * keep + 1024) {
          const drop = past.length - keep;
          past = past.slice(drop);
          base += drop;
        }
        const raw = z / (z + zHalf);
        let emitted = 0;
        if (i >= probation && i > quietUntil) {
          emitted = raw;
          if (raw >= alarmLevel) quietUntil = i + suppress;
        }
        return emitted;
      },
    };
  };
}

/** NAB's windowed Gaussian baseline. */
export function windowedGaussianDetector(): DetectorFactory {
  return () => {
    const windowSize = 6400;
    const stepSize = 100;
    let windowData: number[] = [];
    let stepBuffer: number[] = [];
    let mean = 0;
    let std = 1;
    const update = (): void => {
      mean = windowData.reduce((a, b) => a + b, 0) / windowData.length;
      std = Math.sqrt(windowData.reduce((a, b) => a + (b - mean) ** 2, 0) / windowData.length);
      if (std === 0) std = 0.000001;
    };
    const normalProbability = (x: number): number => {
      const xp = x < mean ? 2 * mean - x : x;
      return 0.5 * erfc((xp - mean) / std / Math.SQRT2);
    };
    return {
      handleRecord(_ts: number, value: number): number {
        let score = 0;
        if (windowData.length > 0) score = 1 - normalProbability(value);
        if (windowData.length < windowSize) {
          windowData.push(value);
          update();
        } else {
          stepBuffer.push(value);
          if (stepBuffer.length === stepSize) {
            windowData = windowData.slice(stepSize).concat(stepBuffer);
            stepBuffer = [];
            update();
          }
        }
        return score;
      },
    };
  };
}

export function nullDetector(): DetectorFactory {
  return () => ({ handleRecord: () => 0 });
}

/**
 * The streaming detector of adaptive-detector.ts as a NAB detector: it learns for NAB's probationary period of the
 * file. Defaults are the cross-validated choice (docs/models.md, NAB).
 */
export function adaptiveNabDetector(opts: Omit<AdaptiveDetectorOptions, 'learnRows'> = {}): DetectorFactory {
  resolveAdaptiveOptions({ ...opts, learnRows: 0 });
  return ({ rows }) => {
    const d = new AdaptiveDetector({ ...opts, learnRows: Math.floor(probationaryLength(rows)) });
    return { handleRecord: (ts, value) => d.update(value, ts) };
  };
}

export const DETECTORS: Record<string, () => DetectorFactory> = {
  edgeloop: () => adaptiveNabDetector(),
  robustZ: () => edgeloopDetector(),
  windowedGaussian: windowedGaussianDetector,
  null: nullDetector,
};

export function detectorByName(name: string): DetectorFactory {
  const f = DETECTORS[name];
  if (!f)
    throw new EdgeloopError(
      'EL_ERR_NAB_DETECTOR',
      `unknown detector "${name}" (known: ${Object.keys(DETECTORS).join(', ')})`,
    );
  return f();
}

/** Run a detector over a whole series, row by row. */
export function runDetector(
  factory: DetectorFactory,
  timestamps: ArrayLike<number>,
  values: ArrayLike<number>,
): Float64Array {
  const d = factory({ rows: values.length });
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const s = d.handleRecord(timestamps[i]!, values[i]!);
    out[i] = Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : 0;
  }
  return out;
}

export { erfc };
