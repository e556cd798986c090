/**
 * From per-device time steps to training and hold-out segments (pure logic, no I/O).
 *
 * A step is one device timestamp with a value for every sensor of the model (select-data.ts builds them from the
 * raw archive). The selection is cut into segments: at a gap longer than `maxGapFactor` × the device's median step
 * interval, around every excluded interval (an alert or anomaly event, a label), and at the time-based split
 * `cut`: steps before it train, steps at or after it are held out. A window never spans two segments, so no
 * window holds an excluded step, crosses a gap, or mixes training and hold-out rows. Segments shorter than one
 * window are dropped.
 */
import { createHash } from 'node:crypto';

export interface DeviceSteps {
  deviceId: string;
  /** device time of each step, ms, ascending */
  ts: Float64Array;
  /** row-major [steps, sensors] */
  values: Float64Array;
}

export interface Interval {
  from: number;
  to: number;
}

export interface Segment {
  deviceId: string;
  from: number;
  to: number;
  rows: number;
  /** row-major [rows, sensors] */
  values: Float64Array;
}

export interface SplitOptions {
  sensors: number;
  /** rows per model window */
  window: number;
  /** first hold-out time, ms: steps at or after it are held out */
  cut: number;
  /** excluded time intervals per device (inclusive) */
  excluded: ReadonlyMap<string, readonly Interval[]>;
  /** a gap longer than this many median step intervals ends a segment. Default 3. */
  maxGapFactor?: number;
}

export interface SplitResult {
  train: Segment[];
  holdout: Segment[];
  /** steps dropped: inside an excluded interval */
  excludedSteps: number;
  /** steps dropped: in a segment shorter than one window */
  shortSteps: number;
}

/** The median interval between consecutive steps (0 with fewer than two). */
export function medianStep(ts: ArrayLike<number>): number {
  if (ts.length < 2) return 0;
  const d = new Float64Array(ts.length - 1);
  for (let i = 1; i < ts.length; i++) d[i - 1] = ts[i]! - ts[i - 1]!;
  d.sort();
  return d[Math.floor(d.length / 2)]!;
}

/** Cut every device's steps into training and hold-out segments. */
export function splitSegments(devices: readonly DeviceSteps[], o: SplitOptions): SplitResult {
  const k = o.sensors;
  const out: SplitResult = { train: [], holdout: [], excludedSteps: 0, shortSteps: 0 };
  for (const d of devices) {
    const n = d.ts.length;
    const ex = [...(o.excluded.get(d.deviceId) ?? [])].sort((a, b) => a.from - b.from);
    const maxGap = (o.maxGapFactor ?? 3) * medianStep(d.ts);
    let start = -1;
    let side: 'train' | 'holdout' = 'train';
    const close = (end: number): void => {
      if (start < 0) return;
      const rows = end - start;
      if (rows >= o.window) {
        out[side].push({
          deviceId: d.deviceId,
          from: d.ts[start]!,
          to: d.ts[end - 1]!,
          rows,
          values: d.values.slice(start * k, end * k),
        });
      } else out.shortSteps += rows;
      start = -1;
    };
    let e = 0;
    for (let i = 0; i < n; i++) {
      const t = d.ts[i]!;
      while (e < ex.length && ex[e]!.to < t) e++;
      if (e < ex.length && ex[e]!.from <= t) {
        close(i);
        out.excludedSteps++;
        continue;
      }
      const s: 'train' | 'holdout' = t >= o.cut ? 'holdout' : 'train';
      if (start >= 0 && (s !== side || (maxGap > 0 && t - d.ts[i - 1]! > maxGap))) close(i);
      if (start < 0) {
        start = i;
        side = s;
      }
    }
    close(n);
  }
  return out;
}

/** The time at which the last `fraction` of all steps begins (the time-based hold-out split). */
export function holdoutCut(devices: readonly DeviceSteps[], fraction: number): number {
  const all: number[] = [];
  for (const d of devices) for (const t of d.ts) all.push(t);
  if (all.length === 0) return Number.POSITIVE_INFINITY;
  all.sort((a, b) => a - b);
  return all[Math.min(all.length - 1, Math.floor(all.length * (1 - fraction)))]!;
}

/** sha256 over the segments' devices, times and values: the data hash of the lineage. */
export function segmentsHash(segments: readonly Segment[], sensors: readonly string[]): string {
  const h = createHash('sha256');
  h.update(sensors.join(','));
  for (const s of segments) {
    h.update(`\n${s.deviceId}:${s.from}:${s.to}:${s.rows}:`);
    h.update(new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength));
  }
  return h.digest('hex');
}
