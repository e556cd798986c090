/**
 * Bounded tumbling windows of recent values: what arrived since a subject's last sufficient check, capped (the
 * oldest values are dropped beyond `cap`). A check that had enough values consumes its window; a check that did
 * not leaves it to grow, so consecutive checks never share values and their false alarms are independent.
 */
import type { FeatureValue } from '../feature-store/feature-store.ts';

export class ValueWindow {
  readonly #cap: number;
  #values: number[] = [];
  /** values seen since the window was last consumed, finite or not */
  total = 0;
  /** of those, missing (null, NaN, a string where a number was expected) */
  missing = 0;

  constructor(cap: number) {
    this.#cap = cap;
  }

  push(v: FeatureValue | undefined): void {
    this.total++;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.missing++;
      return;
    }
    this.#values.push(v);
    // amortised O(1): trim in one splice once the buffer holds twice the cap
    if (this.#values.length >= 2 * this.#cap) this.#values.splice(0, this.#values.length - this.#cap);
  }

  /** finite values kept (at most `cap`, the newest) */
  get size(): number {
    return Math.min(this.#values.length, this.#cap);
  }

  /** the kept values, sorted (all finite: push() counted the rest as missing) */
  sorted(): Float64Array {
    const v = this.#values;
    return Float64Array.from(v.length > this.#cap ? v.slice(v.length - this.#cap) : v).sort();
  }

  consume(): void {
    this.#values = [];
    this.total = 0;
    this.missing = 0;
  }
}

/** Per-feature windows of one subject, plus the count of records and the time the window opened. */
export class FeatureWindows {
  readonly #cap: number;
  readonly byFeature = new Map<string, ValueWindow>();
  records = 0;
  openedAt: number;

  constructor(cap: number, now: number) {
    this.#cap = cap;
    this.openedAt = now;
  }

  push(features: Record<string, FeatureValue>, names: Iterable<string>): void {
    this.records++;
    for (const name of names) {
      let w = this.byFeature.get(name);
      if (!w) this.byFeature.set(name, (w = new ValueWindow(this.#cap)));
      w.push(features[name]);
    }
  }

  sortedAll(): Record<string, Float64Array> {
    const out: Record<string, Float64Array> = {};
    for (const [name, w] of this.byFeature) out[name] = w.sorted();
    return out;
  }

  consume(now: number): void {
    for (const w of this.byFeature.values()) w.consume();
    this.records = 0;
    this.openedAt = now;
  }
}
