/**
 * The dashboard's model of the fleet: fed with decoded device messages (telemetry, events, status) as the broker
 * delivers them, it keeps per-device health, throughput per second, end-to-end latency (device time → seen here),
 * an anomaly feed and the latest recommendations. Pure: time is passed in; bounded memory (rings and per-device
 * records only).
 */
import type { AnomalyEvent, StatusMessage, TelemetryMessage } from '../../protocol/messages.ts';
import { LatencyWindow } from '../../lib/stats.ts';

export type DeviceHealth = 'ok' | 'stale' | 'offline' | 'backlog' | 'error' | 'unknown';

export interface Recommendation {
  /** action or item id */
  item: string;
  score?: number | undefined;
  reason?: string | undefined;
}

export interface DeviceView {
  deviceId: string;
  health: DeviceHealth;
  lastSeenMs: number | null;
  readings: number;
  messages: number;
  anomalies: number;
  lastSeq: number;
  latencyMs: number | null;
  outboxDepth: number | null;
  models: string[];
  lastError: string | null;
  values: Record<string, number>;
  recommendations: Recommendation[];
}

export interface AnomalyFeedItem {
  deviceId: string;
  ts: number;
  receivedAt: number;
  kind: string;
  severity: string;
  score: number | null;
  threshold: number | null;
  sensors: string[];
  model: string | null;
}

export interface DashboardSnapshot {
  now: number;
  startedAt: number;
  totals: {
    devices: number;
    healthy: number;
    online: number;
    readings: number;
    messages: number;
    anomalies: number;
    readingsPerSec: number;
    messagesPerSec: number;
  };
  latency: { deviceToDashboard: Record<string, number>; stages: Record<string, Record<string, number>> };
  /** readings per second, oldest first, last `seconds` seconds */
  throughput: number[];
  devices: DeviceView[];
  anomalies: AnomalyFeedItem[];
  parts: Record<string, { ok: boolean; detail?: string }>;
}

export interface FleetViewOptions {
  /** a device without data for this long is stale, ms (default 10 s) */
  staleAfterMs?: number;
  /** outbox depth above which a device shows "backlog" (default 1000) */
  backlogDepth?: number;
  /** seconds of throughput history (default 120) */
  historySec?: number;
  /** anomaly feed length (default 100) */
  feedSize?: number;
}

interface DeviceState {
  lastSeen: number;
  readings: number;
  messages: number;
  anomalies: number;
  lastSeq: number;
  latency: number;
  status: StatusMessage | undefined;
  values: Map<string, number>;
  recommendations: Recommendation[];
}

export class FleetView {
  readonly #o: Required<FleetViewOptions>;
  readonly #devices = new Map<string, DeviceState>();
  readonly #latency = new LatencyWindow(8192);
  readonly #stages = new Map<string, LatencyWindow>();
  readonly #perSec: Float64Array;
  readonly #msgsPerSec: Float64Array;
  #secBase = -1;
  readonly #feed: AnomalyFeedItem[] = [];
  #readings = 0;
  #messages = 0;
  #anomalies = 0;
  readonly startedAt: number;
  #parts: Record<string, { ok: boolean; detail?: string }> = {};

  constructor(startedAt: number, opts: FleetViewOptions = {}) {
    this.#o = { staleAfterMs: 10_000, backlogDepth: 1000, historySec: 120, feedSize: 100, ...opts };
    this.#perSec = new Float64Array(this.#o.historySec);
    this.#msgsPerSec = new Float64Array(this.#o.historySec);
    this.startedAt = startedAt;
  }

  #device(id: string): DeviceState {
    let d = this.#devices.get(id);
    if (!d) {
      d = {
        lastSeen: 0,
        readings: 0,
        messages: 0,
        anomalies: 0,
        lastSeq: 0,
        latency: Number.NaN,
        status: undefined,
        values: new Map(),
        recommendations: [],
      };
      this.#devices.set(id, d);
    }
    return d;
  }

  /** Move the per-second ring to `now`, zeroing seconds that passed without data. */
  #advance(now: number): number {
    const sec = Math.floor(now / 1000);
    const n = this.#o.historySec;
    if (this.#secBase < 0) this.#secBase = sec;
    if (sec > this.#secBase) {
      for (let s = this.#secBase + 1; s <= Math.min(sec, this.#secBase + n); s++) {
        this.#perSec[s % n] = 0;
        this.#msgsPerSec[s % n] = 0;
      }
      this.#secBase = sec;
    }
    return sec % n;
  }

  telemetry(m: TelemetryMessage, now: number): void {
    const d = this.#device(m.deviceId);
    const slot = this.#advance(now);
    d.lastSeen = now;
    d.messages++;
    d.readings += m.readings.length;
    this.#readings += m.readings.length;
    this.#messages++;
    this.#perSec[slot]! += m.readings.length;
    this.#msgsPerSec[slot]! += 1;
    for (const r of m.readings) {
      d.values.set(r.sensor, r.value);
      if (r.seq > d.lastSeq) d.lastSeq = r.seq;
      const lat = now - r.ts;
      this.#latency.record(lat);
      d.latency = Number.isNaN(d.latency) ? lat : d.latency * 0.8 + lat * 0.2;
    }
  }

  events(deviceId: string, events: AnomalyEvent[], now: number): void {
    const d = this.#device(deviceId);
    d.lastSeen = now;
    for (const e of events) {
      if (e.kind === 'anomaly') {
        d.anomalies++;
        this.#anomalies++;
      }
      this.#feed.unshift({
        deviceId,
        ts: e.ts,
        receivedAt: now,
        kind: e.kind,
        severity: e.severity,
        score: e.score ?? null,
        threshold: e.threshold ?? null,
        sensors: e.sensors ?? [],
        model: e.model ? `${e.model.name}@${e.model.version}` : null,
      });
    }
    if (this.#feed.length > this.#o.feedSize) this.#feed.length = this.#o.feedSize;
  }

  status(s: StatusMessage, now: number): void {
    const d = this.#device(s.deviceId);
    d.status = s;
    if (s.online) d.lastSeen = Math.max(d.lastSeen, now);
  }

  /** A latency sample of a later stage (→ stream, → feature store), ms. */
  stage(name: string, ms: number): void {
    let w = this.#stages.get(name);
    if (!w) this.#stages.set(name, (w = new LatencyWindow(4096)));
    w.record(ms);
  }

  setRecommendations(deviceId: string, recs: Recommendation[]): void {
    this.#device(deviceId).recommendations = recs.slice(0, 5);
  }

  setParts(parts: Record<string, { ok: boolean; detail?: string }>): void {
    this.#parts = parts;
  }

  deviceIds(): string[] {
    return [...this.#devices.keys()];
  }

  health(id: string, now: number): DeviceHealth {
    const d = this.#devices.get(id);
    if (!d) return 'unknown';
    if (d.status && !d.status.online) return 'offline';
    if (d.status?.lastError) return 'error';
    if (d.lastSeen === 0 || now - d.lastSeen > this.#o.staleAfterMs) return 'stale';
    if ((d.status?.outbox?.depth ?? 0) > this.#o.backlogDepth) return 'backlog';
    return 'ok';
  }

  device(id: string, now: number): DeviceView | undefined {
    const d = this.#devices.get(id);
    if (!d) return undefined;
    return {
      deviceId: id,
      health: this.health(id, now),
      lastSeenMs: d.lastSeen ? now - d.lastSeen : null,
      readings: d.readings,
      messages: d.messages,
      anomalies: d.anomalies,
      lastSeq: Math.max(d.lastSeq, d.status?.seq ?? 0),
      latencyMs: Number.isNaN(d.latency) ? null : Math.round(d.latency * 10) / 10,
      outboxDepth: d.status?.outbox?.depth ?? null,
      models: (d.status?.models ?? []).map((m) => `${m.name}@${m.version}`),
      lastError: d.status?.lastError ?? null,
      values: Object.fromEntries(d.values),
      recommendations: d.recommendations,
    };
  }

  snapshot(now: number, seconds = 60): DashboardSnapshot {
    this.#advance(now);
    const n = this.#o.historySec;
    const cur = Math.floor(now / 1000);
    // from the start of the view at most: no flat line of seconds before anything ran
    const span = Math.max(1, Math.min(seconds, n - 1, cur - Math.floor(this.startedAt / 1000)));
    const throughput: number[] = [];
    // completed seconds only: the current one is still filling
    for (let s = cur - span; s < cur; s++)
      throughput.push(s <= this.#secBase - n || s < 0 ? 0 : this.#perSec[((s % n) + n) % n]!);
    const prev = (((cur - 1) % n) + n) % n;
    const devices = [...this.#devices.keys()]
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .map((id) => this.device(id, now)!);
    const round = (r: Record<string, number>): Record<string, number> =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number.isFinite(v) ? Math.round(v * 10) / 10 : v]));
    return {
      now,
      startedAt: this.startedAt,
      totals: {
        devices: devices.length,
        healthy: devices.filter((d) => d.health === 'ok').length,
        online: devices.filter((d) => d.health !== 'offline' && d.health !== 'stale').length,
        readings: this.#readings,
        messages: this.#messages,
        anomalies: this.#anomalies,
        readingsPerSec: this.#perSec[prev]!,
        messagesPerSec: this.#msgsPerSec[prev]!,
      },
      latency: {
        deviceToDashboard: round(this.#latency.snapshot([50, 95, 99])),
        stages: Object.fromEntries([...this.#stages].map(([k, w]) => [k, round(w.snapshot([50, 95, 99]))])),
      },
      throughput,
      devices,
      anomalies: this.#feed.slice(0, 50),
      parts: this.#parts,
    };
  }
}
