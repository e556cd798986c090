/**
 * Weighted A/B between variants, sticky per entity, plus shadow variants. Pure.
 *
 * An entity hashes (FNV-1a 32-bit over `salt + entityId`) to a bucket in [0, 10000); buckets are split among the
 * serving variants in proportion to their weights, in the order configured. The same entity always lands in the
 * same variant while the weights stay the same; changing `salt` reshuffles. Shadow variants score every request
 * and are logged, never returned.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface VariantSpec {
  name: string;
  weight: number;
  shadow?: boolean;
}

const BUCKETS = 10_000;

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class VariantRouter {
  readonly serving: readonly VariantSpec[];
  readonly shadows: readonly VariantSpec[];
  readonly #cuts: number[];
  readonly #salt: string;

  constructor(variants: VariantSpec[], salt = 'edgeloop') {
    const names = new Set<string>();
    for (const v of variants) {
      if (!v.name) throw new EdgeloopError('EL_ERR_RECOMMEND_VARIANTS', 'a variant has no name');
      if (names.has(v.name))
        throw new EdgeloopError('EL_ERR_RECOMMEND_VARIANTS', `variant "${v.name}" is listed twice`);
      names.add(v.name);
      if (!v.shadow && !(Number.isFinite(v.weight) && v.weight >= 0)) {
        throw new EdgeloopError(
          'EL_ERR_RECOMMEND_VARIANTS',
          `variant "${v.name}": weight must be a number >= 0, got ${v.weight}`,
        );
      }
    }
    this.serving = variants.filter((v) => !v.shadow);
    this.shadows = variants.filter((v) => v.shadow);
    const total = this.serving.reduce((s, v) => s + v.weight, 0);
    if (this.serving.length === 0 || total <= 0) {
      throw new EdgeloopError('EL_ERR_RECOMMEND_VARIANTS', 'at least one non-shadow variant needs a weight > 0');
    }
    let acc = 0;
    this.#cuts = this.serving.map((v) => {
      acc += v.weight;
      return Math.round((acc / total) * BUCKETS);
    });
    this.#salt = salt;
  }

  bucket(entityId: string): number {
    return fnv1a(this.#salt + entityId) % BUCKETS;
  }

  /** The serving variant for this entity. */
  route(entityId: string): VariantSpec {
    const b = this.bucket(entityId);
    for (let i = 0; i < this.#cuts.length; i++) if (b < this.#cuts[i]!) return this.serving[i]!;
    return this.serving[this.serving.length - 1]!;
  }
}
