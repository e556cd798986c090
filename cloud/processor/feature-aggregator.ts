/**
 * FeatureAggregator: the processor's pure logic (no I/O). It turns device messages into a flat feature map per
 * device, in event time:
 *
 * - per sensor and window spec (tumbling when slide = size, sliding when slide < size): count, mean, population
 *   std, min, max, last of the latest *closed* window (window-stats.ts); a window [start, end) closes when the
 *   device's watermark (its newest event time minus `allowedLatenessMs`) reaches `end`;
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
import { z } from 'zod';
import type { DeviceMessage } from '../../protocol/messages.ts';
import type { FeatureRecord, FeatureValue } from '../feature-store/feature-store.ts';
import { numberOrInfinity, parseOptions } from '../../lib/options.ts';
import {
  ALL_WINDOW_STATS,
  addToPanes,
  durationName,
  newSensorPanes,
  prunePanes,
  putWindowStats,
  resolveWindows,
  WindowSpecSchema,
  type ResolvedWindow,
  type SensorPanes,
  type WindowStat,
} from './window-stats.ts';

export { ALL_WINDOW_STATS, durationName, type WindowSpec, type WindowStat } from './window-stats.ts';

const C = 'FeatureAggregator';

/** The aggregator's options (also the processor's `aggregation` option): one schema with the defaults. */
export const FeatureAggregatorOptionsSchema = z.strictObject({
  /** window specs; default one 1-minute tumbling window */
  windows: z.array(WindowSpecSchema).default([{ sizeMs: 60_000 }]),
  /** statistics per window; default all: count, mean, std, min, max, last */
  stats: z
    .custom<WindowStat[]>((v) => Array.isArray(v) && v.every((s) => ALL_WINDOW_STATS.includes(s)), {
      error: `"stats" must be a list of ${ALL_WINDOW_STATS.join(', ')}`,
    })
    .default([...ALL_WINDOW_STATS]),
  /** how far behind a device's newest event time a reading may arrive and still count, ms */
  allowedLatenessMs: z.number().int().min(0).default(5000),
  /** half-life of `<sensor>_ewma`, ms; 0 disables the EWMA features */
  ewmaHalfLifeMs: numberOrInfinity(0).default(60_000),
  /** trailing window for anomaly_count / anomaly_rate, ms (15 min) */
  anomalyWindowMs: z.number().int().min(1).default(900_000),
  /** emit `<sensor>_last` for every sensor */
  lastFeatures: z.boolean().default(true),
  /** only these sensors get window and EWMA features (all get `_last`); default every sensor */
  windowSensors: z.array(z.string()).optional(),
  /** sensors tracked per device; readings of further sensors are counted and ignored */
  maxSensorsPerDevice: z.number().int().min(1).default(64),
  /** how far after its message's sentAt a reading or event may be stamped, ms; later ones are ignored */
  maxFutureSkewMs: z.number().int().min(0).default(300_000),
});

export type FeatureAggregatorOptions = z.input<typeof FeatureAggregatorOptionsSchema>;

const FEATURE_NAME = /^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$/;

/**
 * A sensor or model id as a feature-name part: characters outside [A-Za-z0-9_-] become '_', and leading or
 * trailing '-'/'_' are trimmed. Undefined when nothing usable is left.
 */
export function featureNamePart(id: string): string | undefined {
  const s = id.replace(/[^A-Za-z0-9_-]/g, '_').replace(/^[-_]+|[-_]+$/g, '');
  return s.length > 0 ? s : undefined;
}

class SensorState {
  readonly base: string;
  readonly windowed: boolean;
  lastTs = -Infinity;
  last: number | undefined;
  ewma: number | undefined;
  ewmaTs = -Infinity;
  /** per window spec: pane start → pane */
  readonly panes: SensorPanes;
  constructor(base: string, windowed: boolean, specs: number) {
    this.base = base;
    this.windowed = windowed;
    this.panes = newSensorPanes(specs);
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
    const o = parseOptions(FeatureAggregatorOptionsSchema, opts, { where: C });
    this.#windows = resolveWindows(o.windows);
    this.#stats = [...o.stats];
    this.#lateness = o.allowedLatenessMs;
    this.#futureSkew = o.maxFutureSkewMs;
    this.#halfLife = o.ewmaHalfLifeMs;
    this.#anomalyMs = o.anomalyWindowMs;
    this.#anomalyName = durationName(this.#anomalyMs);
    this.#lastFeatures = o.lastFeatures;
    this.#windowSensors = o.windowSensors ? new Set(o.windowSensors) : undefined;
    this.#maxSensors = o.maxSensorsPerDevice;
    this.#maxSuffix = Math.max(5, ...this.#windows.map((w) => 7 + w.name.length));
  }

  get windows(): readonly Readonly<ResolvedWindow>[] {
    return this.#windows;
  }

  /** the statistics computed per window */
  get windowStats(): readonly WindowStat[] {
    return this.#stats;
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
            addToPanes(s.panes, this.#windows, r.ts, r.value);
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
    for (const s of d.sensors.values()) prunePanes(s.panes, this.#windows, wm);
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
      putWindowStats(f, s.base, s.panes, this.#windows, this.#stats, wm, d.firstTs, d.coverageFrom);
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
