/**
 * Built-in simulated sensors: per sensor a sine around `base` plus gaussian noise, one reading per sensor every
 * 1/rateHz s, with optional spikes (anomaly injection). Timers fire at most every 10 ms; each fire emits every tick
 * that has come due (one ingest call), and waits for the previous call to be accepted first, so a slow outbox
 * slows the simulator instead of growing memory. Deterministic for a given `seed`.
 */
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import type { OutboxReading } from '../outbox/sqlite-outbox.ts';
import type { ReadingSink, ReadingSource } from './source.ts';

export interface SimulatedSensor {
  name: string;
  base: number;
  amplitude: number;
  periodS: number;
  noise: number;
}

export interface SimulatedSourceOptions {
  sink: ReadingSink;
  sensors: SimulatedSensor[];
  rateHz: number;
  spikeProbability?: number;
  spikeSize?: number;
  /** stop after this many ticks; 0 = until closed */
  ticks?: number;
  seed?: number;
  /** most ticks per ingest call, default 10 000 */
  maxTicksPerBatch?: number;
  clock?: Clock;
  onEnd?: () => void;
}

export class SimulatedSource implements ReadingSource {
  readonly name = 'simulated';
  readonly #o: Required<Omit<SimulatedSourceOptions, 'clock' | 'onEnd'>> & Pick<SimulatedSourceOptions, 'onEnd'>;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #tick = 0;
  #startAt = 0;
  #closed = false;
  #started = false;
  #busy: Promise<unknown> | undefined;
  #rand: () => number;

  constructor(opts: SimulatedSourceOptions) {
    this.#o = { spikeProbability: 0, spikeSize: 8, ticks: 0, seed: 1, maxTicksPerBatch: 10_000, ...opts };
    if (!(opts.rateHz > 0)) throw new RangeError('rateHz must be > 0');
    this.#clock = opts.clock ?? systemClock;
    this.#rand = mulberry32(this.#o.seed);
  }

  get ticks(): number {
    return this.#tick;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#startAt = this.#clock.now();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const period = 1000 / this.#o.rateHz;
    const nextDue = this.#startAt + (this.#tick + 1) * period;
    const wait = Math.max(10, nextDue - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#emit();
    }, wait);
  }

  #emit(): void {
    if (this.#closed) return;
    const { rateHz, sensors, ticks, maxTicksPerBatch } = this.#o;
    const period = 1000 / rateHz;
    let due = Math.floor((this.#clock.now() - this.#startAt) / period) - this.#tick;
    if (ticks > 0) due = Math.min(due, ticks - this.#tick);
    due = Math.min(due, maxTicksPerBatch);
    const out: OutboxReading[] = new Array(Math.max(0, due) * sensors.length);
    let k = 0;
    for (let i = 0; i < due; i++) {
      this.#tick++;
      const ts = this.#startAt + this.#tick * period;
      const spike = this.#o.spikeProbability > 0 && this.#rand() < this.#o.spikeProbability;
      for (const s of sensors) {
        const v =
          s.base + s.amplitude * Math.sin((2 * Math.PI * ts) / (s.periodS * 1000)) + s.noise * gauss(this.#rand);
        out[k++] = {
          sensor: s.name,
          ts: Math.round(ts),
          value: spike ? v + this.#o.spikeSize * (s.amplitude || 1) : v,
        };
      }
    }
    const done = ticks > 0 && this.#tick >= ticks;
    const p = k > 0 ? this.#o.sink.ingest(out) : Promise.resolve();
    this.#busy = p.then(
      () => {
        if (done) this.#o.onEnd?.();
        else this.#schedule();
      },
      () => {
        if (!done) this.#schedule();
      },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
