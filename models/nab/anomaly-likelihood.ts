/**
 * Stage 2 of the NAB detector (adaptive-detector.ts): the anomaly likelihood of a stream of raw scores, after Numenta
 * HTM's post-processing — a short mean of the raw scores against the rolling distribution of earlier short means,
 * its Gaussian upper tail and HTM's log form. Pure.
 */
import { erfc } from './erfc.ts';

/** Upper-tail probability of a normal distribution: Q((x − mean) / std), and 0.5 for x ≤ mean. */
export function upperTailProbability(x: number, mean: number, std: number): number {
  if (x <= mean) return 0.5;
  return 0.5 * erfc((x - mean) / std / Math.SQRT2);
}

/** HTM's log form of a likelihood: ln(1 + 1e-10 − L) / ln(1e-10); 0 at L = 0 (≈ 0), 1 at L = 1, 0.5 at L = 1 − 1e-5. */
export function logLikelihood(likelihood: number): number {
  return Math.log(1.0000000001 - likelihood) / Math.log(1e-10);
}

/** Fixed-capacity ring of doubles with a running sum and sum of squares. */
class RingStats {
  readonly #ring: Float64Array;
  #n = 0;
  #head = 0;
  #sum = 0;
  #sumSq = 0;
  #sinceResum = 0;

  constructor(cap: number) {
    this.#ring = new Float64Array(cap);
  }

  get size(): number {
    return this.#n;
  }

  get capacity(): number {
    return this.#ring.length;
  }

  mean(): number {
    return this.#n > 0 ? this.#sum / this.#n : 0;
  }

  std(): number {
    if (this.#n === 0) return 0;
    const m = this.#sum / this.#n;
    return Math.sqrt(Math.max(0, this.#sumSq / this.#n - m * m));
  }

  push(x: number): void {
    const cap = this.#ring.length;
    if (this.#n === cap) {
      const old = this.#ring[this.#head]!;
      this.#sum -= old;
      this.#sumSq -= old * old;
    } else this.#n++;
    this.#ring[this.#head] = x;
    this.#head = (this.#head + 1) % cap;
    this.#sum += x;
    this.#sumSq += x * x;
    // Re-add from the ring now and then so rounding in the running sums cannot build up.
    if (++this.#sinceResum >= 4 * cap) {
      this.#sinceResum = 0;
      let s = 0;
      let q = 0;
      for (let j = 0; j < this.#n; j++) {
        const v = this.#ring[j]!;
        s += v;
        q += v * v;
      }
      this.#sum = s;
      this.#sumSq = q;
    }
  }
}

/**
 * Stage 2: the anomaly likelihood of a stream of raw scores. `update(raw)` returns the log likelihood of the
 * current short mean against the distribution of the previous short means (0 until MIN_HISTORY of them, or
 * `longRows` if fewer, are known).
 */
export class AnomalyLikelihood {
  /** short means needed before the distribution is trusted (a feature that starts late is silent this long) */
  static readonly MIN_HISTORY = 100;
  readonly #shortRows: number;
  readonly #longRows: number;
  /** the rings, allocated with the first raw score (a feature that never starts costs nothing) */
  #short: RingStats | null = null;
  #long: RingStats | null = null;
  readonly #minStd: number;

  constructor(shortRows: number, longRows: number, minStd: number) {
    this.#shortRows = shortRows;
    this.#longRows = longRows;
    this.#minStd = minStd;
  }

  /** likelihood L in [0.5, 1) of a short mean against the learned distribution (0 before there is one) */
  likelihoodOf(shortMean: number): number {
    const long = this.#long;
    if (!long || long.size < Math.min(AnomalyLikelihood.MIN_HISTORY, this.#longRows)) return 0;
    const std = Math.max(this.#minStd, long.std());
    return 1 - upperTailProbability(shortMean, long.mean(), std);
  }

  /** a NaN raw score (the feature is not defined yet) scores 0 and is not learned */
  update(raw: number): number {
    if (Number.isNaN(raw)) return 0;
    this.#short ??= new RingStats(this.#shortRows);
    this.#long ??= new RingStats(this.#longRows);
    this.#short.push(raw);
    const m = this.#short.mean();
    const l = this.likelihoodOf(m);
    this.#long.push(m);
    return l === 0 ? 0 : logLikelihood(l);
  }
}
