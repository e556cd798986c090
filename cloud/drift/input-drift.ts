/**
 * Input drift: one interface over KS, Wasserstein and PSI. An InputDriftTester holds a reference set prepared
 * once (sorted samples, PSI bins, Wasserstein nulls) and checks recent samples of several features against it:
 * each feature gets a p-value from its statistic's null at the actual sample sizes, and the family of features
 * is corrected (Holm by default) so the stated false-alarm rate holds per check, not per feature.
 *
 * 'auto' picks the statistic as Evidently does: KS below 1 000 reference values, Wasserstein (normalised by the
 * reference standard deviation) from 1 000 on. Pure apart from the CPU spent simulating a null, which is cached.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import {
  levelsAt,
  NullCache,
  psiNull,
  rejectAt,
  wassersteinNull,
  type Correction,
  type NullDistribution,
} from './calibration.ts';
import type { FeatureReference, ReferenceSet } from './reference.ts';

/** What a test needs of a feature's reference: its sorted values and standard deviation. */
export type ReferenceSample = Pick<FeatureReference, 'std'> & { values: ArrayLike<number> };
import {
  binCounts,
  effectiveSize,
  kolmogorovSf,
  ksExactPValue,
  ksTwoSample,
  KS_EXACT_MAX_CELLS,
  psiFromCounts,
  quantileEdges,
  prefixSums,
  wasserstein1Prefix,
  wasserstein1Sorted,
} from './statistics.ts';

export type DriftStatistic = 'ks' | 'wasserstein' | 'psi';
export type DriftStatisticChoice = DriftStatistic | 'auto';

export interface InputDriftOptions {
  /** 'auto' (default): KS below `autoWassersteinFrom` reference values, Wasserstein from there on */
  statistic?: DriftStatisticChoice;
  /** family-wise false-alarm rate per check. Default 0.01. */
  alpha?: number;
  /** across the features of one check. Default 'holm'. */
  correction?: Correction;
  /** PSI bins (reference quantiles). Default 10. */
  bins?: number;
  /** replicates of a simulated null. Default 2000. */
  replicates?: number;
  /** PRNG seed of simulated nulls. Default 0x5eed. */
  seed?: number;
  /** reference size from which 'auto' uses Wasserstein. Default 1000. */
  autoWassersteinFrom?: number;
  /** shared cache of simulated nulls (PSI nulls are the same for every reference with the same bin counts) */
  cache?: NullCache;
}

export interface FeatureTest {
  feature: string;
  statistic: DriftStatistic;
  /** KS D, Wasserstein-1 / reference std, or PSI */
  value: number;
  pValue: number;
  /** the level this feature's p-value was compared with after correction */
  level: number;
  /** the statistic's value at which this feature would have fired, at `level` */
  threshold: number;
  n: number;
  nRef: number;
  drifted: boolean;
}

export interface InputDriftResult {
  features: FeatureTest[];
  /** features whose recent sample was too small or absent (not tested) */
  skipped: string[];
  drifted: boolean;
}

interface Prepared {
  sorted: Float64Array;
  std: number;
  statistic: DriftStatistic;
  edges?: Float64Array;
  refCounts?: Float64Array;
  wNull?: NullDistribution;
  prefix?: Float64Array;
}

const KS_THRESHOLDS = new Map<string, number>();

export class InputDriftTester {
  readonly #o: Required<Omit<InputDriftOptions, 'cache'>>;
  readonly #cache: NullCache;
  readonly #features = new Map<string, Prepared>();

  constructor(features: Record<string, ReferenceSample> | ReferenceSet, o: InputDriftOptions = {}) {
    const refs: Record<string, ReferenceSample> =
      'schema' in features ? (features as ReferenceSet).features : (features as Record<string, ReferenceSample>);
    this.#o = {
      statistic: o.statistic ?? 'auto',
      alpha: o.alpha ?? 0.01,
      correction: o.correction ?? 'holm',
      bins: o.bins ?? 10,
      replicates: o.replicates ?? 2000,
      seed: o.seed ?? 0x5eed,
      autoWassersteinFrom: o.autoWassersteinFrom ?? 1000,
    };
    if (!(this.#o.alpha > 0 && this.#o.alpha < 1))
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `InputDriftTester: alpha must be in (0, 1), got ${this.#o.alpha}`,
      );
    if (!['auto', 'ks', 'wasserstein', 'psi'].includes(this.#o.statistic)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `InputDriftTester: statistic must be auto, ks, wasserstein or psi, got ${JSON.stringify(this.#o.statistic)}`,
      );
    }
    if (!Number.isInteger(this.#o.bins) || this.#o.bins < 2)
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `InputDriftTester: bins must be an integer ≥ 2, got ${this.#o.bins}`,
      );
    this.#cache = o.cache ?? new NullCache();
    for (const [name, f] of Object.entries(refs)) {
      const sorted = f.values instanceof Float64Array ? f.values : Float64Array.from(f.values);
      const statistic =
        this.#o.statistic === 'auto'
          ? sorted.length < this.#o.autoWassersteinFrom
            ? 'ks'
            : 'wasserstein'
          : this.#o.statistic;
      const p: Prepared = { sorted, std: f.std, statistic };
      if (statistic === 'psi') {
        p.edges = quantileEdges(sorted, this.#o.bins);
        p.refCounts = binCounts(sorted, p.edges);
      }
      this.#features.set(name, p);
    }
  }

  /**
   * Build the simulated nulls that do not depend on the recent sample size (Wasserstein's) now, yielding to the
   * event loop between features: a first check would otherwise build them all in one go (tens of ms each).
   */
  async prepare(): Promise<void> {
    for (const p of this.#features.values()) {
      if (p.statistic !== 'wasserstein' || p.wNull) continue;
      this.#wNull(p);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  get featureNames(): string[] {
    return [...this.#features.keys()];
  }

  statisticOf(feature: string): DriftStatistic | undefined {
    return this.#features.get(feature)?.statistic;
  }

  /**
   * Check recent samples (feature → sorted finite values). Features without a reference are ignored; those with
   * fewer than `minSamples` values are skipped and do not count in the correction.
   *
   * `minEffect`: a feature fires only when its corrected test rejects AND its statistic is at least this large (KS
   * D, normed Wasserstein-1 or PSI, whichever the feature uses): significance says the distributions differ, the
   * floor says by enough to matter. With autocorrelated sensors (a few minutes of one device see a slice of its
   * daily cycle) or a fleet of slightly different devices, a large sample makes tiny, harmless differences
   * significant; the floor keeps those from alarming. It can only remove alarms, so the stated false-alarm rate
   * still holds as a bound. Default 0 (the test alone).
   */
  check(recent: Record<string, Float64Array | undefined>, minSamples = 1, minEffect = 0): InputDriftResult {
    const tested: Omit<FeatureTest, 'level' | 'threshold' | 'drifted'>[] = [];
    const skipped: string[] = [];
    for (const [feature, p] of this.#features) {
      const x = recent[feature];
      if (!x || x.length < Math.max(1, minSamples)) {
        skipped.push(feature);
        continue;
      }
      tested.push({ feature, ...this.#test(p, x) });
    }
    const pv = tested.map((t) => t.pValue);
    const rejected = rejectAt(pv, this.#o.alpha, this.#o.correction);
    const levels = levelsAt(pv, this.#o.alpha, this.#o.correction);
    const features = tested.map((t, i) => ({
      ...t,
      level: levels[i]!,
      threshold: Math.max(minEffect, this.#threshold(this.#features.get(t.feature)!, t.n, levels[i]!)),
      drifted: rejected[i]! && t.value >= minEffect,
    }));
    return { features, skipped, drifted: features.some((f) => f.drifted) };
  }

  #test(
    p: Prepared,
    x: Float64Array,
  ): { statistic: DriftStatistic; value: number; pValue: number; n: number; nRef: number } {
    const base = { statistic: p.statistic, n: x.length, nRef: p.sorted.length };
    if (p.statistic === 'ks') {
      const r = ksTwoSample(p.sorted, x, 'auto', Math.min(1, 10 * this.#o.alpha));
      return { ...base, value: r.statistic, pValue: r.pValue };
    }
    if (p.statistic === 'psi') {
      const value = psiFromCounts(p.refCounts!, binCounts(x, p.edges!));
      return { ...base, value, pValue: this.#psiNull(p, x.length).pValue(value) };
    }
    const scale = p.std > 0 ? p.std : 1;
    const m = p.sorted.length;
    const w =
      x.length * Math.log2(m) < m + x.length
        ? wasserstein1Prefix(p.sorted, (p.prefix ??= prefixSums(p.sorted)), x)
        : wasserstein1Sorted(p.sorted, x);
    const value = w / scale;
    return {
      ...base,
      value,
      pValue: this.#wNull(p).pValue(value * Math.sqrt(effectiveSize(p.sorted.length, x.length))),
    };
  }

  #threshold(p: Prepared, n: number, level: number): number {
    const m = p.sorted.length;
    if (p.statistic === 'psi') return this.#psiNull(p, n).quantile(level);
    if (p.statistic === 'wasserstein') return this.#wNull(p).quantile(level) / Math.sqrt(effectiveSize(m, n));
    return ksThreshold(m, n, level);
  }

  #psiNull(p: Prepared, n: number): NullDistribution {
    const key = `psi:${p.refCounts!.join(',')}:${n}:${this.#o.replicates}:${this.#o.seed}`;
    return this.#cache.get(key, () =>
      psiNull({ refCounts: p.refCounts!, nRecent: n, replicates: this.#o.replicates, seed: this.#o.seed }),
    );
  }

  #wNull(p: Prepared): NullDistribution {
    p.wNull ??= wassersteinNull({
      refSorted: p.sorted,
      scale: p.std > 0 ? p.std : 1,
      replicates: this.#o.replicates,
      seed: this.#o.seed,
    });
    return p.wNull;
  }
}

/** The KS statistic D at which the two-sided p-value reaches `level` (exact below KS_EXACT_MAX_CELLS, cached). */
export function ksThreshold(m: number, n: number, level: number): number {
  const key = `${m}:${n}:${level}`;
  const hit = KS_THRESHOLDS.get(key);
  if (hit !== undefined) return hit;
  let d: number;
  if (m * n <= KS_EXACT_MAX_CELLS) {
    // smallest integer h = D·m·n with P(D ≥ h/(m·n)) ≤ level (p falls as h grows)
    let lo = 1;
    let hi = m * n;
    if (ksExactPValue(m, n, hi) > level) d = Number.POSITIVE_INFINITY;
    else {
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (ksExactPValue(m, n, mid) <= level) hi = mid;
        else lo = mid + 1;
      }
      d = lo / (m * n);
    }
  } else {
    let lo = 0;
    let hi = 10;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (kolmogorovSf(mid) > level) lo = mid;
      else hi = mid;
    }
    const se = Math.sqrt(effectiveSize(m, n));
    d = hi / (se + 0.12 + 0.11 / se);
  }
  if (KS_THRESHOLDS.size > 4096) KS_THRESHOLDS.clear();
  KS_THRESHOLDS.set(key, d);
  return d;
}
