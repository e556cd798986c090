/**
 * Maintenance alerts with hysteresis: an alert fires when a device's p10 RUL falls to or below `horizon` cycles
 * and stays open (no second alert: dedup) until p10 rises above `horizon + hysteresis` (a replaced or repaired
 * machine, or a prediction that recovered), when it resolves. Pure: the caller passes the time and keeps events.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface MaintenanceAlert {
  deviceId: string;
  state: 'firing' | 'resolved';
  /** device time of the cycle that changed the state, ms */
  at: number;
  /** cycles the device had sent at that point */
  cycles: number;
  rul: number;
  p10: number;
  p90: number;
  horizon: number;
}

export interface AlertTrackerOptions {
  /** cycles: fire when p10 <= horizon */
  horizon: number;
  /** cycles above the horizon p10 must rise to before the alert resolves. Default 10. */
  hysteresis?: number;
}

export interface Prediction {
  rul: number;
  p10: number;
  p90: number;
}

export class AlertTracker {
  readonly horizon: number;
  readonly hysteresis: number;
  readonly #open = new Set<string>();

  constructor(opts: AlertTrackerOptions) {
    if (!(Number.isFinite(opts?.horizon) && opts.horizon >= 0))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `AlertTracker: horizon must be a number >= 0, got ${opts?.horizon}`,
      );
    const h = opts.hysteresis ?? 10;
    if (!(Number.isFinite(h) && h >= 0))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `AlertTracker: hysteresis must be a number >= 0, got ${h}`);
    this.horizon = opts.horizon;
    this.hysteresis = h;
  }

  /** Devices whose alert is open (restored from the store at start). */
  restore(deviceIds: Iterable<string>): void {
    for (const id of deviceIds) this.#open.add(id);
  }

  isOpen(deviceId: string): boolean {
    return this.#open.has(deviceId);
  }

  get openCount(): number {
    return this.#open.size;
  }

  /** The state change this prediction causes, if any. */
  update(deviceId: string, p: Prediction, at: number, cycles: number): MaintenanceAlert | undefined {
    const open = this.#open.has(deviceId);
    if (!open && p.p10 <= this.horizon) {
      this.#open.add(deviceId);
      return { deviceId, state: 'firing', at, cycles, ...p, horizon: this.horizon };
    }
    if (open && p.p10 > this.horizon + this.hysteresis) {
      this.#open.delete(deviceId);
      return { deviceId, state: 'resolved', at, cycles, ...p, horizon: this.horizon };
    }
    return undefined;
  }

  /** forget a device without an event (evicted from memory; its open alert stays in the store) */
  forget(deviceId: string): void {
    this.#open.delete(deviceId);
  }
}

/**
 * Suggested service time: when the device is expected to reach its p10 RUL at its measured cycle rate, i.e.
 * `lastCycleAt + p10 / cyclesPerMs`. Undefined without a rate (fewer than two cycles, or no time between them).
 */
export function suggestedServiceAt(
  lastCycleAt: number,
  p10: number,
  cyclesPerMs: number | undefined,
): number | undefined {
  if (cyclesPerMs === undefined || !(cyclesPerMs > 0) || !Number.isFinite(p10)) return undefined;
  return Math.round(lastCycleAt + Math.max(0, p10) / cyclesPerMs);
}

/** Cycles per ms over the device's history: (cycles - 1) / (last - first); undefined when not measurable. */
export function cycleRate(cycles: number, firstCycleAt: number, lastCycleAt: number): number | undefined {
  const span = lastCycleAt - firstCycleAt;
  if (cycles < 2 || !(span > 0)) return undefined;
  return (cycles - 1) / span;
}
