/**
 * WindowAssembler: turns a stream of single-sensor readings into model input windows for one sensor group
 * (pure logic, no I/O).
 *
 * A time step is complete when every sensor of the group has reported since the previous step (a sensor that
 * reports twice keeps its newest value); the step's time is its newest reading's timestamp. Steps go into a ring
 * of `length` steps; once the ring is full, every `stride`-th step yields a window, written row-major (time, then
 * sensor, in manifest sensor order) straight into the caller's batch buffer, normalised when the manifest says
 * the graph does not fold normalisation in. Readings of sensors outside the group are ignored. A sensor that
 * stops reporting stalls the group's windows (its last value is not held forever).
 */
export interface WindowGroupSpec {
  sensors: readonly string[];
  length: number;
  stride: number;
  /** per-sensor mean and std applied before the model (omit when the graph folds normalisation) */
  normalization?: { mean: readonly number[]; std: readonly number[] } | undefined;
}

export interface WindowMeta {
  /** timestamp of the first and last step of the window, ms */
  start: number;
  end: number;
}

export class WindowAssembler {
  readonly spec: WindowGroupSpec;
  readonly width: number;
  readonly #index = new Map<string, number>();
  readonly #k: number;
  readonly #cur: Float64Array;
  readonly #seen: Uint8Array;
  #seenCount = 0;
  #curTs = 0;
  /** ring of raw step values, [length][k] */
  readonly #ring: Float64Array;
  readonly #ringTs: Float64Array;
  #head = 0;
  #steps = 0;
  readonly #scale: Float64Array;
  readonly #shift: Float64Array;

  constructor(spec: WindowGroupSpec) {
    if (spec.sensors.length === 0) throw new RangeError('a window group needs at least one sensor');
    if (!Number.isInteger(spec.length) || spec.length < 1 || !Number.isInteger(spec.stride) || spec.stride < 1) {
      throw new RangeError(`window length and stride must be integers >= 1 (got ${spec.length}, ${spec.stride})`);
    }
    this.spec = spec;
    this.#k = spec.sensors.length;
    spec.sensors.forEach((s, i) => this.#index.set(s, i));
    this.width = spec.length * this.#k;
    this.#cur = new Float64Array(this.#k);
    this.#seen = new Uint8Array(this.#k);
    this.#ring = new Float64Array(this.width);
    this.#ringTs = new Float64Array(spec.length);
    this.#scale = new Float64Array(this.#k).fill(1);
    this.#shift = new Float64Array(this.#k);
    if (spec.normalization) {
      for (let i = 0; i < this.#k; i++) {
        this.#scale[i] = 1 / spec.normalization.std[i]!;
        this.#shift[i] = -spec.normalization.mean[i]! / spec.normalization.std[i]!;
      }
    }
  }

  /** steps completed so far */
  get steps(): number {
    return this.#steps;
  }

  /** Does this group use `sensor`? */
  has(sensor: string): boolean {
    return this.#index.has(sensor);
  }

  /**
   * Feed one reading. When it completes a step that yields a window, the window is written into `out` at
   * `offset` (width floats) and its meta is returned; otherwise undefined.
   */
  push(sensor: string, ts: number, value: number, out: Float32Array, offset: number): WindowMeta | undefined {
    const i = this.#index.get(sensor);
    if (i === undefined) return undefined;
    this.#cur[i] = value;
    if (ts > this.#curTs) this.#curTs = ts;
    if (this.#seen[i] === 0) {
      this.#seen[i] = 1;
      this.#seenCount++;
    }
    if (this.#seenCount < this.#k) return undefined;
    // step complete
    const k = this.#k;
    const L = this.spec.length;
    const base = this.#head * k;
    for (let j = 0; j < k; j++) this.#ring[base + j] = this.#cur[j]!;
    this.#ringTs[this.#head] = this.#curTs;
    this.#head = (this.#head + 1) % L;
    this.#steps++;
    this.#seen.fill(0);
    this.#seenCount = 0;
    this.#curTs = 0;
    if (this.#steps < L || (this.#steps - L) % this.spec.stride !== 0) return undefined;
    // oldest step is at #head
    let o = offset;
    for (let t = 0; t < L; t++) {
      const row = ((this.#head + t) % L) * k;
      for (let j = 0; j < k; j++) out[o++] = this.#ring[row + j]! * this.#scale[j]! + this.#shift[j]!;
    }
    return { start: this.#ringTs[this.#head]!, end: this.#ringTs[(this.#head + L - 1) % L]! };
  }
}
