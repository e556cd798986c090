/**
 * MaintenanceService: remaining useful life per device on the live path. The processor hands it every decoded
 * device message (cloud/parts/processor.ts); telemetry fills per-device sequences of the RUL model's input
 * (SequenceBuffer: one reading time = one cycle). A device whose newest cycle completes a full window is queued;
 * queued devices are scored in batched ONNX Runtime calls (at most `maxBatch` windows per call, the newest window
 * of each device: cycles that arrive while a batch runs are scored together at the next one). Each prediction
 * updates the device's maintenance alert (AlertTracker: p10 at or below the horizon fires, with hysteresis), whose
 * state changes go to the AlertStore.
 *
 * Answers: `rul(deviceId)` (RUL, p10–p90, model, the time of the last cycle used, cycles seen, suggested service
 * time from the device's measured cycle rate) and `fleet()` (devices by predicted RUL).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import type { AlertQuery, AlertStore, StoredAlert } from './alert-store.ts';
import { AlertTracker, cycleRate, suggestedServiceAt, type MaintenanceAlert } from './alert-tracker.ts';
import { SequenceBuffer } from './sequence-buffer.ts';
import { MaintenanceTuningSchema } from './maintenance-options.ts';
import { clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import { z } from 'zod';
import type { Registry } from 'prom-client';

/** The service's options: the tuning (maintenance-options.ts, shared with the config section) and its parts. */
export const MaintenanceServiceOptionsSchema = MaintenanceTuningSchema.extend({
  /** the RUL model's manifest (kind `rul`, window input, output labels with rul, p10, p90) */
  manifest: dependency<Manifest>('a Manifest'),
  /** a runner of that model; the service closes it */
  runner: dependency<ModelRunner>('a ModelRunner', (v) => typeof (v as ModelRunner | undefined)?.run === 'function'),
  store: dependency<AlertStore>('an AlertStore', (v) => typeof (v as AlertStore | undefined)?.append === 'function'),
  /** metrics registered here (edgeloop_maintenance_*) when given */
  registry: dependency<Registry>('a prom-client Registry').optional(),
  ...clockAndLogger,
});

export type MaintenanceServiceOptions = z.input<typeof MaintenanceServiceOptionsSchema>;

export const resolveMaintenanceOptions = optionsParser(MaintenanceServiceOptionsSchema, {
  where: 'MaintenanceService',
  code: 'EL_ERR_INVALID_ARGUMENT',
});

export interface DeviceRul {
  deviceId: string;
  /** `warming-up` until the device has sent a full window of cycles */
  status: 'ok' | 'warming-up';
  /** cycles; null while warming up */
  rul: number | null;
  p10: number | null;
  p90: number | null;
  model: { name: string; version: string };
  /** device time of the last cycle of the window used (ms since epoch); null while warming up */
  lastCycleAt: number | null;
  /** age of that cycle at answer time, ms */
  freshnessMs: number | null;
  /** complete cycles the device has sent (since first seen, or re-seen after eviction) */
  cycles: number;
  /** cycles the window needs */
  window: number;
  /** measured cycle rate, cycles per hour; null with fewer than two cycles */
  cyclesPerHour: number | null;
  /** when the device is expected to reach its p10 RUL at that rate (ms since epoch); null when not known */
  suggestedServiceAt: number | null;
  /** an alert is open (p10 fell to or below the horizon) */
  alert: boolean;
}

export type FleetSort = 'rul' | 'p10' | 'serviceAt' | 'deviceId';

interface Scored {
  rul: number;
  p10: number;
  p90: number;
  lastCycleAt: number;
  cycles: number;
}

export interface MaintenanceStats {
  devices: number;
  scored: number;
  batches: number;
  scoringErrors: number;
  openAlerts: number;
  stale: number;
  incomplete: number;
}

export class MaintenanceService {
  readonly manifest: Manifest;
  readonly horizon: number;
  readonly maxBatch: number;
  readonly #runner: ModelRunner;
  readonly #store: AlertStore;
  readonly #buffer: SequenceBuffer;
  readonly #tracker: AlertTracker;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #cols: { rul: number; p10: number; p90: number; width: number };
  readonly #scored = new Map<string, Scored>();
  readonly #queue = new Set<string>();
  #flushing: Promise<void> | undefined;
  #state: 'new' | 'running' | 'closed' = 'new';
  #scoredWindows = 0;
  #batches = 0;
  #errors = 0;
  readonly #metrics: { windows: Counter; latency: Histogram; alerts: Counter<'state'>; errors: Counter } | undefined;

  constructor(o: MaintenanceServiceOptions) {
    const opts = resolveMaintenanceOptions(o);
    const m = opts.manifest;
    this.#cols = rulColumns(m);
    if (m.inputs.kind !== 'window')
      throw new EdgeloopError('EL_ERR_MAINTENANCE_MODEL', `model ${m.name}: a RUL model takes a window input`);
    this.manifest = m;
    this.#runner = opts.runner;
    this.#store = opts.store;
    this.horizon = opts.horizon ?? m.threshold ?? 30;
    this.maxBatch = opts.maxBatch;
    this.#buffer = new SequenceBuffer({
      sensors: m.inputs.sensors,
      window: m.inputs.window.length,
      // padShortHistories: score from the first cycle, padded as the model's offline evaluation pads a short unit
      ...(opts.padShortHistories ? { minCycles: 1 } : {}),
      maxDevices: opts.maxDevices,
    });
    this.#tracker = new AlertTracker({ horizon: this.horizon, hysteresis: opts.hysteresis });
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
    const r = opts.registry;
    if (r) {
      const self = this;
      this.#metrics = {
        windows: new Counter({
          name: 'edgeloop_maintenance_windows_scored_total',
          help: 'Device windows scored by the RUL model.',
          registers: [r],
        }),
        latency: new Histogram({
          name: 'edgeloop_maintenance_scoring_seconds',
          help: 'Time of one batched RUL model call (ONNX Runtime), seconds.',
          buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
          registers: [r],
        }),
        alerts: new Counter({
          name: 'edgeloop_maintenance_alerts_total',
          help: 'Maintenance alert state changes (firing: p10 RUL at or below the horizon; resolved).',
          labelNames: ['state'],
          registers: [r],
        }),
        errors: new Counter({
          name: 'edgeloop_maintenance_scoring_errors_total',
          help: 'Batches of RUL scoring that failed (the devices are scored again at their next cycle).',
          registers: [r],
        }),
      };
      this.#metrics.alerts.inc({ state: 'firing' }, 0);
      this.#metrics.alerts.inc({ state: 'resolved' }, 0);
      new Gauge({
        name: 'edgeloop_maintenance_alerts_open',
        help: 'Devices whose maintenance alert is open.',
        registers: [r],
        collect() {
          this.set(self.#tracker.openCount);
        },
      });
      new Gauge({
        name: 'edgeloop_maintenance_devices',
        help: 'Devices the maintenance part keeps sequences of, by status (ok: scored; warming-up: fewer cycles than the window).',
        labelNames: ['status'],
        registers: [r],
        collect() {
          const ok = self.#scored.size;
          this.set({ status: 'ok' }, ok);
          this.set({ status: 'warming-up' }, Math.max(0, self.#buffer.stats().devices - ok));
        },
      });
      new Gauge({
        name: 'edgeloop_maintenance_min_p10_cycles',
        help: 'Lowest p10 RUL over the scored devices, cycles (NaN when none is scored).',
        registers: [r],
        collect() {
          let min = Number.NaN;
          for (const s of self.#scored.values()) if (!(s.p10 >= min)) min = s.p10;
          this.set(min);
        },
      });
    }
  }

  get window(): number {
    return this.#buffer.window;
  }

  get sensors(): readonly string[] {
    return this.#buffer.sensors;
  }

  /** Read the open alerts back from the store (dedup across restarts). */
  async start(): Promise<void> {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', 'MaintenanceService is closed');
    if (this.#state === 'running') return;
    await this.#store.start();
    this.#tracker.restore(await this.#store.openDevices());
    this.#state = 'running';
  }

  /** Take a device message (the processor's hook): telemetry fills the device's sequence; others are ignored. */
  observe(msg: DeviceMessage): void {
    if (this.#state !== 'running' || msg.type !== 'telemetry') return;
    if (this.#buffer.observe(msg.deviceId, msg.readings) > 0 && this.#buffer.ready(msg.deviceId)) {
      this.#queue.add(msg.deviceId);
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.size > 0 && this.#state === 'running') {
        const ids: string[] = [];
        for (const id of this.#queue) {
          this.#queue.delete(id);
          ids.push(id);
          if (ids.length === this.maxBatch) break;
        }
        await this.#score(ids);
      }
    } finally {
      this.#flushing = undefined;
      if (this.#queue.size > 0 && this.#state === 'running') this.#schedule();
    }
  }

  async #score(ids: string[]): Promise<void> {
    const width = this.#buffer.width;
    const x = new Float32Array(ids.length * width);
    const rows: { id: string; lastCycleAt: number; cycles: number }[] = [];
    for (const id of ids) {
      const seq = this.#buffer.get(id);
      if (!seq || !this.#buffer.writeWindow(id, x, rows.length * width)) continue; // evicted meanwhile
      rows.push({ id, lastCycleAt: seq.lastCycleAt, cycles: seq.cycles });
    }
    if (rows.length === 0) return;
    const input = rows.length === ids.length ? x : x.subarray(0, rows.length * width);
    const t0 = performance.now();
    let out: Float32Array;
    let outWidth: number;
    try {
      const res = await this.#runner.run(input, rows.length);
      out = res.data;
      outWidth = res.width;
    } catch (err) {
      this.#errors++;
      this.#metrics?.errors.inc();
      this.#log.error({ err, devices: rows.length }, 'RUL scoring failed; the devices are scored at their next cycle');
      return;
    }
    this.#metrics?.latency.observe((performance.now() - t0) / 1000);
    this.#batches++;
    this.#scoredWindows += rows.length;
    this.#metrics?.windows.inc(rows.length);
    const alerts: MaintenanceAlert[] = [];
    const c = this.#cols;
    rows.forEach((r, i) => {
      const a = out[i * outWidth + c.p10]!;
      const b = out[i * outWidth + c.p90]!;
      // the quantile heads are trained apart and may cross on rare inputs: an ordered interval, as the offline eval
      const s: Scored = {
        rul: out[i * outWidth + c.rul]!,
        p10: Math.min(a, b),
        p90: Math.max(a, b),
        lastCycleAt: r.lastCycleAt,
        cycles: r.cycles,
      };
      this.#scored.delete(r.id);
      this.#scored.set(r.id, s);
      const alert = this.#tracker.update(r.id, s, r.lastCycleAt, r.cycles);
      if (alert) alerts.push(alert);
    });
    while (this.#scored.size > this.#buffer.maxDevices) {
      const oldest = this.#scored.keys().next().value as string;
      this.#scored.delete(oldest);
      this.#tracker.forget(oldest);
    }
    if (alerts.length > 0) {
      for (const a of alerts) this.#metrics?.alerts.inc({ state: a.state });
      try {
        await this.#store.append(alerts);
      } catch (err) {
        this.#log.error({ err, alerts: alerts.length }, 'maintenance alerts could not be stored');
      }
      for (const a of alerts)
        this.#log.info({ deviceId: a.deviceId, state: a.state, p10: a.p10, horizon: a.horizon }, 'maintenance alert');
    }
  }

  /** Resolve once every queued device has been scored (tests, tools, benchmarks). */
  async idle(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  /** The device's RUL; EL_ERR_MAINTENANCE_UNKNOWN_DEVICE when no cycle of it has arrived. */
  rul(deviceId: string): DeviceRul {
    const seq = this.#buffer.get(deviceId);
    const s = this.#scored.get(deviceId);
    if (!seq && !s)
      throw new EdgeloopError(
        'EL_ERR_MAINTENANCE_UNKNOWN_DEVICE',
        `no cycle of device "${deviceId}" has reached the maintenance part`,
        { details: { deviceId } },
      );
    return this.#view(deviceId, s, seq);
  }

  /** Devices by predicted RUL (or p10, suggested service time, id); warming-up devices last. */
  fleet(opts: { sort?: FleetSort; limit?: number } = {}): { devices: DeviceRul[]; total: number } {
    const sort = opts.sort ?? 'rul';
    const all: DeviceRul[] = [];
    const seen = new Set<string>();
    for (const id of this.#buffer.deviceIds()) {
      seen.add(id);
      all.push(this.#view(id, this.#scored.get(id), this.#buffer.get(id)));
    }
    for (const [id, s] of this.#scored) if (!seen.has(id)) all.push(this.#view(id, s, undefined));
    const key = (d: DeviceRul): number =>
      sort === 'p10'
        ? (d.p10 ?? Infinity)
        : sort === 'serviceAt'
          ? (d.suggestedServiceAt ?? Infinity)
          : (d.rul ?? Infinity);
    all.sort((a, b) =>
      sort === 'deviceId' ? cmp(a.deviceId, b.deviceId) : key(a) - key(b) || cmp(a.deviceId, b.deviceId),
    );
    return { devices: all.slice(0, opts.limit ?? 100), total: all.length };
  }

  alerts(q: AlertQuery = {}): Promise<StoredAlert[]> {
    return this.#store.list(q);
  }

  #view(deviceId: string, s: Scored | undefined, seq: ReturnType<SequenceBuffer['get']>): DeviceRul {
    const cycles = seq?.cycles ?? s?.cycles ?? 0;
    const rate = seq ? cycleRate(seq.cycles, seq.firstCycleAt, seq.lastCycleAt) : undefined;
    const serviceAt = s ? suggestedServiceAt(s.lastCycleAt, s.p10, rate) : undefined;
    return {
      deviceId,
      status: s ? 'ok' : 'warming-up',
      rul: s ? s.rul : null,
      p10: s ? s.p10 : null,
      p90: s ? s.p90 : null,
      model: { name: this.manifest.name, version: this.manifest.version },
      lastCycleAt: s ? s.lastCycleAt : null,
      freshnessMs: s ? Math.max(0, this.#clock.now() - s.lastCycleAt) : null,
      cycles,
      window: this.#buffer.window,
      cyclesPerHour: rate === undefined ? null : rate * 3_600_000,
      suggestedServiceAt: serviceAt ?? null,
      alert: this.#tracker.isOpen(deviceId),
    };
  }

  stats(): MaintenanceStats {
    const b = this.#buffer.stats();
    return {
      devices: b.devices,
      scored: this.#scoredWindows,
      batches: this.#batches,
      scoringErrors: this.#errors,
      openAlerts: this.#tracker.openCount,
      stale: b.stale,
      incomplete: b.incomplete,
    };
  }

  /** Finish the batch in flight, then close the runner and the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#flushing?.catch(() => undefined);
    this.#queue.clear();
    await this.#runner.close();
    await this.#store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Where rul, p10 and p90 are in the model's output row; EL_ERR_MAINTENANCE_MODEL when the manifest does not fit. */
export function rulColumns(m: Manifest): { rul: number; p10: number; p90: number; width: number } {
  const labels = m.output.labels ?? [];
  const at = (l: string): number => labels.indexOf(l);
  if (m.kind !== 'rul' || m.output.kind !== 'remaining-useful-life' || at('rul') < 0 || at('p10') < 0 || at('p90') < 0)
    throw new EdgeloopError(
      'EL_ERR_MAINTENANCE_MODEL',
      `model ${m.name} ${m.version}: expected kind "rul" with output kind "remaining-useful-life" and labels rul, p10, p90 (got kind "${m.kind}", output "${m.output.kind}", labels [${labels.join(', ')}])`,
    );
  return { rul: at('rul'), p10: at('p10'), p90: at('p90'), width: labels.length };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
