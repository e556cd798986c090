/**
 * The window statistics of the feature aggregator (pure, no I/O): window specs and their check, the pane (count,
 * mean and M2 by Welford's update, min, max, last by event time) that each reading lands in, the panes of one
 * sensor per spec and their pruning behind the watermark, and the statistics of the latest *closed* window
 * [end - size, end), merged from its panes with Chan et al.'s parallel update.
 *
 * Panes are `slideMs` long: a tumbling window is one pane, a sliding window of size k × slide merges k panes.
 */
import { z } from 'zod';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';

export type WindowStat = 'count' | 'mean' | 'std' | 'min' | 'max' | 'last';
export const ALL_WINDOW_STATS: readonly WindowStat[] = ['count', 'mean', 'std', 'min', 'max', 'last'];

/**
 * One window spec of the `windows` option: its keys are checked by the schema, its values by resolveWindows, which
 * refuses a bad size, slide or name with EL_ERR_PROCESSOR_WINDOW_INVALID.
 */
export const WindowSpecSchema = z.strictObject({
  /** window length, ms */
  sizeMs: z.custom<number>(),
  /** hop between windows, ms; default sizeMs (tumbling). sizeMs must be a multiple of it. */
  slideMs: z.custom<number>().optional(),
  /** suffix of the feature names; default from the size: 60000 → '1m', 30000 → '30s', 3600000 → '1h' */
  name: z.custom<string>().optional(),
});

export type WindowSpec = z.input<typeof WindowSpecSchema>;

export interface ResolvedWindow {
  sizeMs: number;
  slideMs: number;
  name: string;
}

/** '1m', '30s', '1h', '1500ms', '1d' */
export function durationName(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The `windows` option (its keys checked by WindowSpecSchema) checked and resolved (slide and name filled in). */
export function resolveWindows(specs: readonly WindowSpec[]): ResolvedWindow[] {
  const names = new Set<string>();
  return specs.map((w, i) => {
    const size = w.sizeMs;
    const slide = w.slideMs ?? size;
    if (
      typeof size !== 'number' ||
      !Number.isInteger(size) ||
      size <= 0 ||
      typeof slide !== 'number' ||
      !Number.isInteger(slide) ||
      slide <= 0 ||
      size % slide !== 0
    ) {
      throw new EdgeloopError(
        'EL_ERR_PROCESSOR_WINDOW_INVALID',
        `windows[${i}]: sizeMs and slideMs must be positive integers (ms) with sizeMs a multiple of slideMs, got ${JSON.stringify(w)}`,
      );
    }
    const name = w.name ?? durationName(size);
    if (!/^[A-Za-z0-9]+$/.test(name) || names.has(name)) {
      throw new EdgeloopError(
        'EL_ERR_PROCESSOR_WINDOW_INVALID',
        `windows[${i}]: name ${JSON.stringify(name)} must be unique and alphanumeric (set "name" to tell windows of the same size apart)`,
      );
    }
    names.add(name);
    return { sizeMs: size, slideMs: slide, name };
  });
}

export class Pane {
  count = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  lastTs = -Infinity;
  last = 0;
  add(ts: number, v: number): void {
    this.count++;
    const d = v - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (v - this.mean);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (ts >= this.lastTs) {
      this.lastTs = ts;
      this.last = v;
    }
  }
  /** Chan et al.'s parallel merge of mean and M2 */
  merge(o: Pane): void {
    if (o.count === 0) return;
    const n = this.count + o.count;
    const d = o.mean - this.mean;
    this.m2 += o.m2 + (d * d * this.count * o.count) / n;
    this.mean += (d * o.count) / n;
    this.count = n;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.lastTs >= this.lastTs) {
      this.lastTs = o.lastTs;
      this.last = o.last;
    }
  }
}

/** One sensor's panes, per window spec: pane start → pane. */
export type SensorPanes = Map<number, Pane>[];

export function newSensorPanes(specs: number): SensorPanes {
  return Array.from({ length: specs }, () => new Map());
}

/** Add one reading to its pane of every window spec. */
export function addToPanes(panes: SensorPanes, windows: readonly ResolvedWindow[], ts: number, value: number): void {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const start = Math.floor(ts / w.slideMs) * w.slideMs;
    const byStart = panes[i]!;
    let p = byStart.get(start);
    if (!p) {
      p = new Pane();
      byStart.set(start, p);
    }
    p.add(ts, value);
  }
}

/** Drop the panes no window that can still be emitted at watermark `wm` needs. */
export function prunePanes(panes: SensorPanes, windows: readonly ResolvedWindow[], wm: number): void {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    // the oldest window that can still be emitted starts at (closed boundary - size)
    const keepFrom = Math.floor(wm / w.slideMs) * w.slideMs - w.sizeMs;
    for (const start of panes[i]!.keys()) if (start < keepFrom) panes[i]!.delete(start);
  }
}

/**
 * Put `<base>_<stat>_<window>` of the latest closed window of every spec into `f` (null for an empty window). The
 * latest closed window ends at or before the watermark `wm`; it is not emitted when it ends at or before `firstTs`
 * (the oldest reading accepted into windows) or starts before `coverageFrom` (it may hold readings this state never
 * saw).
 */
export function putWindowStats(
  f: Record<string, FeatureValue>,
  base: string,
  panes: SensorPanes,
  windows: readonly ResolvedWindow[],
  stats: readonly WindowStat[],
  wm: number,
  firstTs: number,
  coverageFrom: number,
): void {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const end = Math.floor(wm / w.slideMs) * w.slideMs;
    const start = end - w.sizeMs;
    if (!Number.isFinite(end) || end <= firstTs || start < coverageFrom) continue;
    const agg = new Pane();
    for (const [ps, p] of panes[i]!) if (ps >= start && ps < end) agg.merge(p);
    for (const stat of stats) {
      const key = `${base}_${stat}_${w.name}`;
      if (stat === 'count') f[key] = agg.count;
      else if (agg.count === 0) f[key] = null;
      else if (stat === 'mean') f[key] = agg.mean;
      else if (stat === 'std') f[key] = Math.sqrt(Math.max(0, agg.m2 / agg.count));
      else if (stat === 'min') f[key] = agg.min;
      else if (stat === 'max') f[key] = agg.max;
      else f[key] = agg.last;
    }
  }
}
