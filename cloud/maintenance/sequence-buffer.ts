/**
 * Per-device sequences of a window model's input: the last `window` cycles of the model's sensors, one cycle per
 * device timestamp (one reading time = one cycle: every reading of one message sample carries the same `ts`).
 * Pure: no I/O, no clock (time is the readings' own).
 *
 * A cycle is complete when every model sensor has a value; readings of other sensors are ignored. A reading whose
 * seq is at or below the device's highest one taken is a repeat (the stream is at-least-once into the processor)
 * and is dropped: replaying a stream changes nothing. A new timestamp, or a second value of one sensor, before the
 * pending cycle is complete drops that cycle (counted as `incomplete`). Cycles are told apart by completeness, not
 * only by time: two cycles a device stamps with the same millisecond (a generator catching up) stay two cycles.
 *
 * Memory: per device a ring of `window × sensors` float32 (30 × 14 × 4 B = 1.7 KiB for the shipped RUL model) plus
 * the pending cycle and ~200 B of bookkeeping; at most `maxDevices` devices, the least recently updated evicted
 * first (their history is lost: an evicted device warms up again from its next cycle).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Reading } from '../../protocol/messages.ts';

export interface SequenceBufferOptions {
  /** sensor ids of the model's input, in its order */
  sensors: readonly string[];
  /** cycles per window */
  window: number;
  /** cycles before a device is scored; fewer than `window` are padded with the first cycle. Default `window`. */
  minCycles?: number;
  /** devices kept; the least recently updated are evicted beyond this. Default 10 000. */
  maxDevices?: number;
}

export interface DeviceSequence {
  readonly deviceId: string;
  /** complete cycles seen since the device was first seen (or re-seen after eviction) */
  cycles: number;
  /** device time of the first and the last complete cycle, ms */
  firstCycleAt: number;
  lastCycleAt: number;
}

interface DeviceState extends DeviceSequence {
  /** ring of the last `window` cycles, row = cycle, column = sensor */
  ring: Float32Array;
  /** ring row the next cycle goes to */
  head: number;
  /** highest reading seq taken */
  lastSeq: number;
  pendingTs: number;
  pending: Float32Array;
  /** sensors of the pending cycle seen so far */
  pendingCount: number;
  pendingSeen: Uint8Array;
}

export interface SequenceBufferStats {
  devices: number;
  cycles: number;
  /** readings at or before a device's last complete cycle (repeats, late) */
  stale: number;
  /** cycles dropped because a newer timestamp arrived before all sensors had */
  incomplete: number;
  evicted: number;
}

export class SequenceBuffer {
  readonly sensors: readonly string[];
  readonly window: number;
  /** cycles a device needs before it has a window (window, or fewer when short histories are padded) */
  readonly minCycles: number;
  readonly maxDevices: number;
  readonly #index: ReadonlyMap<string, number>;
  readonly #devices = new Map<string, DeviceState>();
  #cycles = 0;
  #stale = 0;
  #incomplete = 0;
  #evicted = 0;

  constructor(opts: SequenceBufferOptions) {
    if (
      !Array.isArray(opts?.sensors) ||
      opts.sensors.length === 0 ||
      new Set(opts.sensors).size !== opts.sensors.length
    )
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        'SequenceBuffer: sensors must be a non-empty list of distinct ids',
      );
    if (!Number.isInteger(opts.window) || opts.window < 1)
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `SequenceBuffer: window must be an integer >= 1, got ${opts.window}`,
      );
    const maxDevices = opts.maxDevices ?? 10_000;
    if (!Number.isInteger(maxDevices) || maxDevices < 1)
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `SequenceBuffer: maxDevices must be an integer >= 1, got ${String(opts.maxDevices)}`,
      );
    const minCycles = opts.minCycles ?? opts.window;
    if (!Number.isInteger(minCycles) || minCycles < 1 || minCycles > opts.window)
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `SequenceBuffer: minCycles must be an integer in [1, window], got ${String(opts.minCycles)}`,
      );
    this.sensors = [...opts.sensors];
    this.window = opts.window;
    this.minCycles = minCycles;
    this.maxDevices = maxDevices;
    this.#index = new Map(this.sensors.map((s, i) => [s, i]));
  }

  /** values per window row-major (cycle, then sensor) */
  get width(): number {
    return this.window * this.sensors.length;
  }

  /**
   * Take a device's readings (any order within one timestamp, timestamps ascending as a device sends them).
   * Returns how many cycles completed.
   */
  observe(deviceId: string, readings: readonly Reading[]): number {
    let d = this.#devices.get(deviceId);
    let done = 0;
    for (const r of readings) {
      const j = this.#index.get(r.sensor);
      if (j === undefined) continue;
      if (d === undefined) d = this.#add(deviceId);
      if (r.seq <= d.lastSeq) {
        this.#stale++;
        continue;
      }
      d.lastSeq = r.seq;
      // a new time, or a sensor again, before the pending cycle had every sensor: that cycle stays incomplete
      if (d.pendingCount > 0 && (r.ts !== d.pendingTs || d.pendingSeen[j] === 1)) {
        this.#incomplete++;
        d.pendingCount = 0;
        d.pendingSeen.fill(0);
      }
      if (d.pendingCount === 0) d.pendingTs = r.ts;
      if (d.pendingSeen[j] === 0) {
        d.pendingSeen[j] = 1;
        d.pendingCount++;
      }
      d.pending[j] = r.value;
      if (d.pendingCount === this.sensors.length) {
        this.#commit(d);
        done++;
      }
    }
    if (d !== undefined) this.#touch(d);
    return done;
  }

  /** the device's bookkeeping (a copy), undefined when unknown */
  get(deviceId: string): DeviceSequence | undefined {
    const d = this.#devices.get(deviceId);
    return d && { deviceId, cycles: d.cycles, firstCycleAt: d.firstCycleAt, lastCycleAt: d.lastCycleAt };
  }

  /** whether the device has a window (a full one, or minCycles cycles to pad) */
  ready(deviceId: string): boolean {
    return (this.#devices.get(deviceId)?.cycles ?? 0) >= this.minCycles;
  }

  /**
   * Write the device's last `window` cycles, oldest first, into `out` at `offset`; a device with fewer (and at least
   * `minCycles`) gets its first cycle repeated in front, as the model's training and evaluation pad a short unit.
   * Returns false (writing nothing) while it has fewer than `minCycles` cycles.
   */
  writeWindow(deviceId: string, out: Float32Array, offset = 0): boolean {
    const d = this.#devices.get(deviceId);
    if (!d || d.cycles < this.minCycles) return false;
    const w = this.sensors.length;
    if (d.cycles < this.window) {
      // a short history: its first cycle repeated in front, then its cycles (the ring has not wrapped yet)
      const pad = this.window - d.cycles;
      const first = d.ring.subarray(0, w);
      for (let i = 0; i < pad; i++) out.set(first, offset + i * w);
      out.set(d.ring.subarray(0, d.cycles * w), offset + pad * w);
      return true;
    }
    // the ring's rows from head to its end are the oldest, then rows 0 .. head: two copies
    const split = d.head * this.sensors.length;
    out.set(d.ring.subarray(split), offset);
    if (split > 0) out.set(d.ring.subarray(0, split), offset + d.ring.length - split);
    return true;
  }

  /** devices in order of last update, least recent first */
  deviceIds(): IterableIterator<string> {
    return this.#devices.keys();
  }

  delete(deviceId: string): boolean {
    return this.#devices.delete(deviceId);
  }

  stats(): SequenceBufferStats {
    return {
      devices: this.#devices.size,
      cycles: this.#cycles,
      stale: this.#stale,
      incomplete: this.#incomplete,
      evicted: this.#evicted,
    };
  }

  #add(deviceId: string): DeviceState {
    const w = this.sensors.length;
    const d: DeviceState = {
      deviceId,
      cycles: 0,
      firstCycleAt: Number.NaN,
      lastCycleAt: Number.NaN,
      ring: new Float32Array(this.window * w),
      head: 0,
      lastSeq: -1,
      pendingTs: Number.NaN,
      pending: new Float32Array(w),
      pendingCount: 0,
      pendingSeen: new Uint8Array(w),
    };
    this.#devices.set(deviceId, d);
    while (this.#devices.size > this.maxDevices) {
      const oldest = this.#devices.keys().next().value as string;
      this.#devices.delete(oldest);
      this.#evicted++;
    }
    return d;
  }

  #commit(d: DeviceState): void {
    const w = this.sensors.length;
    d.ring.set(d.pending, d.head * w);
    d.head = (d.head + 1) % this.window;
    if (d.cycles === 0) d.firstCycleAt = d.pendingTs;
    d.lastCycleAt = d.pendingTs;
    d.cycles++;
    d.pendingCount = 0;
    d.pendingSeen.fill(0);
    d.pendingTs = Number.NaN;
    this.#cycles++;
  }

  #touch(d: DeviceState): void {
    this.#devices.delete(d.deviceId);
    this.#devices.set(d.deviceId, d);
  }
}
