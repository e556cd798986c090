/**
 * FeatureAggregator: the processor's pure logic (no I/O). It turns device messages into a flat feature map per
 * device, in event time:
 *
 * - per sensor and window spec (tumbling when slide = size, sliding when slide < size): count, mean, population
 *   std, min, max, last of the latest *closed* window; a window [start, end) closes when the device's watermark
 *   (its newest event time minus `allowedLatenessMs`) reaches `end`;
 * - per sensor: `<sensor>_last` (value of the newest reading by event time) and `<sensor>_ewma` (time-decayed
 *   exponentially weighted mean, half-life `ewmaHalfLifeMs`);
 * - anomaly events in the trailing `anomalyWindowMs`: `anomaly_count_<w>` and `anomaly_rate_<w>` (per minute);
 * - `last_seen` (arrival time at the stream of the newest message, ms), `late_readings` (readings dropped as late);
 * - from status / model reports: `model_version_<model>` and `online` (1 or 0).
 *
 * A reading is late when its timestamp is below the device's watermark at arrival: it is counted and dropped from
 * windows and EWMA, but it still updates `last_seen` and `<sensor>_last` when it is that sensor's newest reading.
 * A reading or event stamped more than `maxFutureSkewMs` after its message's `sentAt` cannot be right (it would
 * have been taken after it was sent): it is counted as a future reading and ignored, so one glitched timestamp
 * cannot move the watermark ahead and freeze the device's windows.
 *
 * State can be seeded from a stored feature record (after a restart, or in a stateless Lambda): carried features
 * stay until they are recomputed, the watermark starts at the record's event time, and a window is only emitted
 * when this state saw all of it: a window that starts at or before the seeded event time keeps its stored value.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import type { FeatureRecord, FeatureValue } from '../feature-store/feature-store.ts';
import { checkKnownOptions, intOption, invalidOption, numberOption } from '../stream/options.ts';

export type WindowStat = 'count' | 'mean' | 'std' | 'min' | 'max' | 'last';
export const ALL_WINDOW_STATS: readonly WindowStat[] = ['count', 'mean', 'std', 'min', 'max', 'last'];

export interface WindowSpec {
  /** window length, ms */
  sizeMs: number;
  /** hop between windows, ms; default sizeMs (tumbling). sizeMs must be a multiple of it. */
  slideMs?: number;
  /** suffix of the feature names; default from the size: 60000 → '1m', 30000 → '30s', 3600000 → '1h' */
  name?: string;
}

export interface FeatureAggregatorOptions {
  /** Default [{ sizeMs: 60_000 }] (1-minute tumbling windows). */
  windows?: WindowSpec[];
  /** statistics per window. Default all: count, mean, std, min, max, last. */
  stats?: WindowStat[];
  /** how far behind a device's newest event time a reading may arrive and still count, ms. Default 5000. */
  allowedLatenessMs?: number;
  /** half-life of `<sensor>_ewma`, ms; 0 disables the EWMA features. Default 60 000. */
  ewmaHalfLifeMs?: number;
  /** trailing window for anomaly_count / anomaly_rate, ms. Default 900 000 (15 min). */
  anomalyWindowMs?: number;
  /** emit `<sensor>_last` for every sensor. Default true. */
  lastFeatures?: boolean;
  /** only these sensors get window and EWMA features (all get `_last`). Default: every sensor. */
  windowSensors?: string[];
  /** sensors tracked per device; readings of further sensors are counted and ignored. Default 64. */
  maxSensorsPerDevice?: number;
  /** how far after its message's sentAt a reading or event may be stamped, ms; later ones are ignored. Default 300 000. */
  maxFutureSkewMs?: number;
}

const KNOWN = [
  'windows',
  'stats',
  'allowedLatenessMs',
  'ewmaHalfLifeMs',
  'anomalyWindowMs',
  'lastFeatures',
  'windowSensors',
  'maxSensorsPerDevice',
  'maxFutureSkewMs',
] as const;
const C = 'FeatureAggregator';
const FEATURE_NAME = /^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$/;

interface ResolvedWindow {
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

/**
 * A sensor or model id as a feature-name part: characters outside [A-Za-z0-9_-] become '_', and leading or
 * trailing '-'/'_' are trimmed. Undefined when nothing usable is left.
 */
export function featureNamePart(id: string): string | undefined {
  const s = id.replace(/[^A-Za-z0-9_-]/g, '_').replace(/^[-_]+|[-_]+$/g, '');
  return s.length > 0 ? s : undefined;
}

class Pane {
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

class SensorState {
  readonly base: string;
  readonly windowed: boolean;
  lastTs = -Infinity;
  last: number | undefined;
  ewma: number | undefined;
  ewmaTs = -Infinity;
  /** per window spec: pane start → pane */
  readonly panes: Map<number, Pane>[];
  constructor(base: string, windowed: boolean, specs: number) {
    this.base = base;
    this.windowed = windowed;
    this.panes = Array.from({ length: specs }, () => new Map());
  }
}

class DeviceState {
  /** newest event time of readings and events: drives the watermark */
  maxTs = -Infinity;
  /** newest device time of any message (status and model reports too): the record's event time */
  eventTime = -Infinity;
  lastSeen: number | undefined;
  lateReadings = 0;
  /**
   * Windows that start before this may hold readings processed before this state existed (elsewhere, or before
   * a restart): every reading processed before a seed has ts <= the seeded event time.
   */
  coverageFrom = -Infinity;
  /** oldest reading accepted into windows: windows that end before it are not emitted (nothing to say yet) */
  firstTs = Infinity;
  readonly sensors = new Map<string, SensorState>();
  anomalies: number[] = [];
  readonly models = new Map<string, { version: string; ts: number }>();
  online: { value: number; ts: number } | undefined;
  carried: Record<string, FeatureValue> = {};
}

export interface IngestResult {
  readings: number;
  late: number;
  /** readings and events stamped after their message was sent (beyond maxFutureSkewMs): ignored */
  future: number;
  ignoredSensors: number;
  events: number;
}

export interface AggregatorStats {
  devices: number;
  readings: number;
  lateReadings: number;
  futureReadings: number;
  ignoredReadings: number;
  events: number;
  statusMessages: number;
}

export class FeatureAggregator {
  readonly #windows: ResolvedWindow[];
  readonly #stats: readonly WindowStat[];
  readonly #lateness: number;
  readonly #futureSkew: number;
  readonly #halfLife: number;
  readonly #anomalyMs: number;
  readonly #anomalyName: string;
  readonly #lastFeatures: boolean;
  readonly #windowSensors: ReadonlySet<string> | undefined;
  readonly #maxSensors: number;
  /** longest "_<stat>_<window>" suffix: a sensor id whose feature names would pass 64 characters is ignored */
  readonly #maxSuffix: number;
  readonly #devices = new Map<string, DeviceState>();
  readonly #dirty = new Set<string>();
  readonly #s: AggregatorStats = {
    devices: 0,
    readings: 0,
    lateReadings: 0,
    futureReadings: 0,
    ignoredReadings: 0,
    events: 0,
    statusMessages: 0,
  };

  constructor(opts: FeatureAggregatorOptions = {}) {
    checkKnownOptions(C, opts, KNOWN);
    const specs = opts.windows ?? [{ sizeMs: 60_000 }];
    if (!Array.isArray(specs)) throw invalidOption(C, 'windows', 'an array of { sizeMs, slideMs?, name? }', specs);
    const names = new Set<string>();
    this.#windows = specs.map((w, i) => {
      checkKnownOptions(`${C} windows[${i}]`, w, ['sizeMs', 'slideMs', 'name']);
      const size = w?.sizeMs;
      const slide = w?.slideMs ?? size;
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
    const stats = opts.stats ?? ALL_WINDOW_STATS;
    if (!Array.isArray(stats) || stats.some((s) => !ALL_WINDOW_STATS.includes(s))) {
      throw invalidOption(C, 'stats', `a list of ${ALL_WINDOW_STATS.join(', ')}`, stats);
    }
    this.#stats = [...stats];
    this.#lateness = intOption(C, 'allowedLatenessMs', opts.allowedLatenessMs, 5000, 0);
    this.#futureSkew = intOption(C, 'maxFutureSkewMs', opts.maxFutureSkewMs, 300_000, 0);
    this.#halfLife = numberOption(C, 'ewmaHalfLifeMs', opts.ewmaHalfLifeMs, 60_000, 0);
    this.#anomalyMs = intOption(C, 'anomalyWindowMs', opts.anomalyWindowMs, 900_000, 1);
    this.#anomalyName = durationName(this.#anomalyMs);
    if (opts.lastFeatures !== undefined && typeof opts.lastFeatures !== 'boolean')
      throw invalidOption(C, 'lastFeatures', 'a boolean', opts.lastFeatures);
    this.#lastFeatures = opts.lastFeatures ?? true;
    if (opts.windowSensors !== undefined && !Array.isArray(opts.windowSensors))
      throw invalidOption(C, 'windowSensors', 'an array of sensor ids', opts.windowSensors);
    this.#windowSensors = opts.windowSensors ? new Set(opts.windowSensors) : undefined;
    this.#maxSensors = intOption(C, 'maxSensorsPerDevice', opts.maxSensorsPerDevice, 64, 1);
    this.#maxSuffix = Math.max(5, ...this.#windows.map((w) => 7 + w.name.length));
  }

  get windows(): readonly Readonly<ResolvedWindow>[] {
    return this.#windows;
  }

  has(deviceId: string): boolean {
    return this.#devices.has(deviceId);
  }

  /** Start a device's state from a stored record (or from nothing: a new device). No-op when already known. */
  seed(deviceId: string, record: FeatureRecord | undefined): void {
    if (this.#devices.has(deviceId)) return;
    const d = new DeviceState();
    if (record) {
      d.coverageFrom = record.eventTime + 1;
      d.maxTs = record.eventTime;
      d.eventTime = record.eventTime;
      d.carried = { ...record.features };
      const ls = record.features.last_seen;
      if (typeof ls === 'number') d.lastSeen = ls;
      const late = record.features.late_readings;
      if (typeof late === 'number') d.lateReadings = late;
    }
    this.#devices.set(deviceId, d);
    this.#s.devices = this.#devices.size;
  }

  /** Forget a device's state (memory bound); it is re-seeded from the store when it shows up again. */
  evict(deviceId: string): void {
    this.#devices.delete(deviceId);
    this.#dirty.delete(deviceId);
    this.#s.devices = this.#devices.size;
  }

  get deviceCount(): number {
    return this.#devices.size;
  }

  /** Devices whose features changed since the last call (and clears the set). */
  takeDirty(): string[] {
    const out = [...this.#dirty];
    this.#dirty.clear();
    return out;
  }

  stats(): AggregatorStats {
    return { ...this.#s };
  }

  #device(id: string): DeviceState {
    let d = this.#devices.get(id);
    if (!d) {
      d = new DeviceState();
      this.#devices.set(id, d);
      this.#s.devices = this.#devices.size;
    }
    return d;
  }

  #watermark(d: DeviceState): number {
    return d.maxTs - this.#lateness;
  }

  /** Apply one validated device message that arrived at the stream at `arrivedAt` (ms). */
  ingest(msg: DeviceMessage, arrivedAt: number): IngestResult {
    const d = this.#device(msg.deviceId);
    const res: IngestResult = { readings: 0, late: 0, future: 0, ignoredSensors: 0, events: 0 };
    if (d.lastSeen === undefined || arrivedAt > d.lastSeen) d.lastSeen = arrivedAt;
    switch (msg.type) {
      case 'telemetry': {
        // the watermark a reading is judged against is the one before this message: a batch may be out of order
        const wm = this.#watermark(d);
        const latest = msg.sentAt + this.#futureSkew;
        let newest = -Infinity;
        for (const r of msg.readings) {
          if (r.ts > latest) {
            res.future++;
            this.#s.futureReadings++;
            continue;
          }
          if (r.ts > newest) newest = r.ts;
          let s = d.sensors.get(r.sensor);
          if (!s) {
            const base = featureNamePart(r.sensor);
            if (
              base === undefined ||
              d.sensors.size >= this.#maxSensors ||
              base.length + this.#maxSuffix > 64 ||
              !FEATURE_NAME.test(base)
            ) {
              res.ignoredSensors++;
              this.#s.ignoredReadings++;
              continue;
            }
            s = new SensorState(
              base,
              this.#windowSensors === undefined || this.#windowSensors.has(r.sensor),
              this.#windows.length,
            );
            d.sensors.set(r.sensor, s);
          }
          res.readings++;
          this.#s.readings++;
          if (r.ts >= s.lastTs) {
            s.lastTs = r.ts;
            s.last = r.value;
          }
          if (r.ts < wm) {
            res.late++;
            d.lateReadings++;
            this.#s.lateReadings++;
            continue;
          }
          if (r.ts < d.firstTs) d.firstTs = r.ts;
          if (s.windowed) {
            for (let i = 0; i < this.#windows.length; i++) {
              const w = this.#windows[i]!;
              const start = Math.floor(r.ts / w.slideMs) * w.slideMs;
              const panes = s.panes[i]!;
              let p = panes.get(start);
              if (!p) {
                p = new Pane();
                panes.set(start, p);
              }
              p.add(r.ts, r.value);
            }
            if (this.#halfLife > 0) {
              if (s.ewma === undefined) {
                s.ewma = r.value;
                s.ewmaTs = r.ts;
              } else if (r.ts >= s.ewmaTs) {
                // time-aware EWMA: the weight of the past halves every half-life, whatever the sampling rate
                const alpha = 1 - Math.pow(0.5, (r.ts - s.ewmaTs) / this.#halfLife);
                s.ewma += alpha * (r.value - s.ewma);
                s.ewmaTs = r.ts;
              }
              // an out-of-order reading (older than the EWMA's time, within lateness) counts in windows only
            }
          }
        }
        if (newest > d.maxTs) d.maxTs = newest;
        this.#prunePanes(d);
        break;
      }
      case 'events': {
        const latest = msg.sentAt + this.#futureSkew;
        for (const e of msg.events) {
          if (e.ts > latest) {
            res.future++;
            this.#s.futureReadings++;
            continue;
          }
          res.events++;
          this.#s.events++;
          if (e.kind === 'anomaly') d.anomalies.push(e.ts);
          if (e.ts > d.maxTs) d.maxTs = e.ts;
        }
        break;
      }
      case 'status': {
        this.#s.statusMessages++;
        if (msg.ts > d.eventTime) d.eventTime = msg.ts;
        if (!d.online || msg.ts >= d.online.ts) d.online = { value: msg.online ? 1 : 0, ts: msg.ts };
        for (const m of msg.models ?? []) this.#setModel(d, m.name, m.version, msg.ts);
        break;
      }
      case 'model-report': {
        if (msg.ts > d.eventTime) d.eventTime = msg.ts;
        if (msg.state === 'active') this.#setModel(d, msg.model, msg.version, msg.ts);
        break;
      }
    }
    if (d.maxTs > d.eventTime) d.eventTime = d.maxTs;
    this.#dirty.add(msg.deviceId);
    return res;
  }

  #setModel(d: DeviceState, name: string, version: string, ts: number): void {
    const cur = d.models.get(name);
    if (!cur || ts >= cur.ts) d.models.set(name, { version, ts });
  }

  #prunePanes(d: DeviceState): void {
    const wm = this.#watermark(d);
    for (const s of d.sensors.values()) {
      for (let i = 0; i < this.#windows.length; i++) {
        const w = this.#windows[i]!;
        // the oldest window that can still be emitted starts at (closed boundary - size)
        const keepFrom = Math.floor(wm / w.slideMs) * w.slideMs - w.sizeMs;
        for (const start of s.panes[i]!.keys()) if (start < keepFrom) s.panes[i]!.delete(start);
      }
    }
    const from = d.maxTs - this.#anomalyMs;
    if (d.anomalies.length > 0 && d.anomalies[0]! <= from) d.anomalies = d.anomalies.filter((t) => t > from);
  }

  /** The device's event time (newest data behind its features) and its features; undefined for unknown devices. */
  features(deviceId: string): { eventTime: number; features: Record<string, FeatureValue> } | undefined {
    const d = this.#devices.get(deviceId);
    if (!d || d.eventTime === -Infinity) return undefined;
    const f: Record<string, FeatureValue> = { ...d.carried };
    const wm = this.#watermark(d);
    for (const s of d.sensors.values()) {
      if (this.#lastFeatures && s.last !== undefined) f[`${s.base}_last`] = s.last;
      if (!s.windowed) continue;
      if (s.ewma !== undefined) f[`${s.base}_ewma`] = s.ewma;
      for (let i = 0; i < this.#windows.length; i++) {
        const w = this.#windows[i]!;
        const end = Math.floor(wm / w.slideMs) * w.slideMs;
        const start = end - w.sizeMs;
        if (!Number.isFinite(end) || end <= d.firstTs || start < d.coverageFrom) continue;
        const agg = new Pane();
        for (const [ps, p] of s.panes[i]!) if (ps >= start && ps < end) agg.merge(p);
        for (const stat of this.#stats) {
          const key = `${s.base}_${stat}_${w.name}`;
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
    const aFrom = d.maxTs - this.#anomalyMs;
    if (d.maxTs !== -Infinity && aFrom + 1 >= d.coverageFrom) {
      let n = 0;
      for (const t of d.anomalies) if (t > aFrom && t <= d.maxTs) n++;
      f[`anomaly_count_${this.#anomalyName}`] = n;
      f[`anomaly_rate_${this.#anomalyName}`] = n / (this.#anomalyMs / 60_000);
    }
    if (d.lastSeen !== undefined) f.last_seen = d.lastSeen;
    f.late_readings = d.lateReadings;
    for (const [name, m] of d.models) {
      const part = featureNamePart(name);
      if (part !== undefined && FEATURE_NAME.test(`model_version_${part}`)) f[`model_version_${part}`] = m.version;
    }
    if (d.online) f.online = d.online.value;
    return { eventTime: d.eventTime, features: f };
  }
}
