/**
 * The recommendation service's core (no HTTP): route an entity to a variant, read its online features, build the
 * model input from the manifest, score through a micro-batched ONNX Runtime session, rank maintenance actions,
 * score shadow variants on the side, and log every response.
 *
 * Hot reload: `reload()` re-resolves every variant and swaps a variant's model only when the resolved
 * name@version (or file) changed; the new session is loaded and its test vector checked before the swap, requests
 * in flight finish on the old session, which is then released. A model that fails to load never replaces the
 * serving one. The model source's `watch()` (the registry: alias moved) triggers it.
 */
import { Histogram, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../../lib/logger.ts';
import { silentLogger } from '../../lib/logger.ts';
import type { Clock } from '../../lib/clock.ts';
import { systemClock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ModelRunner } from '../../models/runtime/model-runner.ts';
import { OrtModelRunner, checkTestVector } from '../../models/runtime/ort-model-runner.ts';
import type { FeatureRecord, FeatureStore, FeatureValue } from '../feature-store/feature-store.ts';
import { MicroBatcher } from './micro-batcher.ts';
import { buildInput, featureInputs } from './model-input.ts';
import type { ModelRef, RecommenderModelSource, ResolvedModel } from './model-source.ts';
import { describeRef } from './model-source.ts';
import { rankActions, type RankedAction } from './ranking.ts';
import type { ResponseLog } from './response-log.ts';
import { VariantRouter, type VariantSpec } from './variant-router.ts';

export interface VariantConfig extends VariantSpec {
  ref: ModelRef;
}

export interface RecommendServiceOptions {
  featureStore: FeatureStore;
  source: RecommenderModelSource;
  variants: VariantConfig[];
  /** feature group holding the entities' online features */
  featureGroup?: string;
  /** salt of the sticky A/B hash */
  salt?: string;
  /** model feature → feature-store feature, for stores whose names differ from the model's */
  featureMap?: Record<string, string>;
  responseLog?: ResponseLog;
  clock?: Clock;
  /** rows per ORT call at most */
  maxBatch?: number;
  logger?: Logger;
  /** prom-client registry for the service's metrics (a private one by default) */
  registry?: Registry;
  /** how a resolved model becomes a runner (default: onnxruntime-node, intraOpNumThreads 1) */
  loadRunner?: (m: ResolvedModel) => Promise<ModelRunner>;
}

export interface Recommendation {
  entityId: string | null;
  variant: string;
  model: { name: string; version: string };
  featureTime: number | null;
  featureAgeMs: number | null;
  defaulted: string[];
  actions: RankedAction[];
  modes: Record<string, number>;
  predictedModes: string[];
}

interface Loaded {
  manifest: Manifest;
  modelPath: string;
  runner: ModelRunner;
  batcher: MicroBatcher;
}

export class RecommendService {
  readonly router: VariantRouter;
  readonly registry: Registry;
  readonly #o: Required<Omit<RecommendServiceOptions, 'responseLog' | 'registry'>> & {
    responseLog: ResponseLog | undefined;
  };
  readonly #variants: Map<string, VariantConfig>;
  readonly #loaded = new Map<string, Loaded>();
  #unwatch: (() => void) | undefined;
  #reloading: Promise<void> | undefined;
  #closed = false;
  readonly #latency: Histogram<'variant'>;
  readonly #responses: Counter<'variant' | 'outcome'>;
  readonly #shadowErrors: Counter<'variant'>;
  readonly #modelInfo: Gauge<'variant' | 'model' | 'version'>;
  readonly #reloads: Counter<'variant' | 'outcome'>;

  constructor(opts: RecommendServiceOptions) {
    this.router = new VariantRouter(opts.variants, opts.salt);
    this.#variants = new Map(opts.variants.map((v) => [v.name, v]));
    this.#o = {
      featureStore: opts.featureStore,
      source: opts.source,
      variants: opts.variants,
      featureGroup: opts.featureGroup ?? 'device_features',
      salt: opts.salt ?? 'edgeloop',
      featureMap: opts.featureMap ?? {},
      responseLog: opts.responseLog,
      clock: opts.clock ?? systemClock,
      maxBatch: opts.maxBatch ?? 64,
      logger: opts.logger ?? silentLogger,
      loadRunner: opts.loadRunner ?? ((m) => OrtModelRunner.forManifest(m.modelPath, m.manifest)),
    };
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    this.#latency = new Histogram({
      name: 'edgeloop_recommend_inference_seconds',
      help: 'Time to answer one recommendation (feature read, input, model, ranking), per variant',
      labelNames: ['variant'],
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.#responses = new Counter({
      name: 'edgeloop_recommend_responses_total',
      help: 'Recommendations answered, by variant and outcome (ok or an error code)',
      labelNames: ['variant', 'outcome'],
      registers,
    });
    this.#shadowErrors = new Counter({
      name: 'edgeloop_recommend_shadow_errors_total',
      help: 'Shadow variant scorings that failed (never visible to clients)',
      labelNames: ['variant'],
      registers,
    });
    this.#modelInfo = new Gauge({
      name: 'edgeloop_recommend_model_info',
      help: 'The model each variant serves (value 1)',
      labelNames: ['variant', 'model', 'version'],
      registers,
    });
    this.#reloads = new Counter({
      name: 'edgeloop_recommend_reloads_total',
      help: 'Model reloads per variant (swapped, unchanged, failed)',
      labelNames: ['variant', 'outcome'],
      registers,
    });
  }

  /** Load every variant's model; fails naming the variant whose model cannot load. */
  async start(): Promise<void> {
    for (const v of this.#variants.values()) {
      try {
        await this.#load(v);
      } catch (err) {
        await this.close();
        throw new EdgeloopError(
          (err as EdgeloopError).code ?? 'EL_ERR_MODEL_LOAD',
          `variant "${v.name}" (${describeRef(v.ref)}): ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    this.#unwatch = this.#o.source.watch?.((change) => {
      const affected = [...this.#variants.values()].some((v) => 'model' in v.ref && v.ref.model === change.model);
      if (affected)
        void this.reload().catch((err: unknown) => this.#o.logger.error({ err }, 'recommend: reload failed'));
    });
  }

  /** Re-resolve every variant; swap those whose model changed. Concurrent calls share one run. */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) return this.#reloading;
    this.#reloading = (async () => {
      try {
        for (const v of this.#variants.values()) {
          try {
            const swapped = await this.#load(v);
            this.#reloads.inc({ variant: v.name, outcome: swapped ? 'swapped' : 'unchanged' });
          } catch (err) {
            this.#reloads.inc({ variant: v.name, outcome: 'failed' });
            this.#o.logger.error({ err, variant: v.name }, 'recommend: new model refused, keeping the serving one');
          }
        }
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /** What each variant serves now. */
  models(): Array<{ variant: string; shadow: boolean; weight: number; name: string; version: string }> {
    return [...this.#variants.values()].map((v) => {
      const l = this.#loaded.get(v.name);
      return {
        variant: v.name,
        shadow: Boolean(v.shadow),
        weight: v.weight,
        name: l?.manifest.name ?? '',
        version: l?.manifest.version ?? '',
      };
    });
  }

  async #load(v: VariantConfig): Promise<boolean> {
    const resolved = await this.#o.source.resolve(v.ref);
    featureInputs(resolved.manifest);
    const current = this.#loaded.get(v.name);
    if (
      current &&
      current.manifest.version === resolved.manifest.version &&
      current.manifest.name === resolved.manifest.name &&
      current.manifest.artifact.sha256 === resolved.manifest.artifact.sha256
    ) {
      return false;
    }
    const runner = await this.#o.loadRunner(resolved);
    try {
      await checkTestVector(runner, resolved.manifest);
    } catch (err) {
      await runner.close();
      throw err;
    }
    if (this.#closed) {
      await runner.close();
      return false;
    }
    const width = featureInputs(resolved.manifest).features.length;
    this.#loaded.set(v.name, {
      manifest: resolved.manifest,
      modelPath: resolved.modelPath,
      runner,
      batcher: new MicroBatcher(runner, width, this.#o.maxBatch),
    });
    if (current) {
      this.#modelInfo.remove({ variant: v.name, model: current.manifest.name, version: current.manifest.version });
      void current.batcher.idle().then(() => current.runner.close());
    }
    this.#modelInfo.set({ variant: v.name, model: resolved.manifest.name, version: resolved.manifest.version }, 1);
    this.#o.logger.info(
      { variant: v.name, model: resolved.manifest.name, version: resolved.manifest.version },
      'recommend: model loaded',
    );
    return true;
  }

  /** Recommend for one entity from its online features. */
  async recommend(entityId: string, k = 3): Promise<Recommendation> {
    const variant = this.router.route(entityId).name;
    const t0 = performance.now();
    try {
      const record = await this.#o.featureStore.get(this.#o.featureGroup, entityId);
      if (!record) {
        throw new EdgeloopError(
          'EL_ERR_RECOMMEND_NO_FEATURES',
          `no features for entity "${entityId}" in group "${this.#o.featureGroup}"`,
          {
            details: { entityId, group: this.#o.featureGroup },
          },
        );
      }
      const rec = await this.#score(variant, entityId, record.features, record.eventTime, k);
      this.#shadow(entityId, record.features, record.eventTime, k);
      this.#finish(variant, t0, 'ok');
      return rec;
    } catch (err) {
      this.#finish(variant, t0, (err as EdgeloopError).code ?? 'error');
      throw err;
    }
  }

  /**
   * Recommend for features passed inline (no feature store read). `entityId` (optional) picks the sticky variant;
   * without it the first serving variant answers. `eventTime` (optional) enables the staleness check.
   */
  async recommendInline(
    features: Record<string, FeatureValue>,
    k = 3,
    entityId?: string,
    eventTime?: number,
  ): Promise<Recommendation> {
    const variant = entityId ? this.router.route(entityId).name : this.router.serving[0]!.name;
    const t0 = performance.now();
    try {
      const rec = await this.#score(variant, entityId ?? null, features, eventTime, k);
      this.#shadow(entityId ?? null, features, eventTime, k);
      this.#finish(variant, t0, 'ok');
      return rec;
    } catch (err) {
      this.#finish(variant, t0, (err as EdgeloopError).code ?? 'error');
      throw err;
    }
  }

  /** Many entities at once: one batchGet, rows scored together through the micro-batcher. Errors per item. */
  async recommendMany(
    entityIds: string[],
    k = 3,
  ): Promise<Array<Recommendation | { entityId: string; error: { code: string; message: string } }>> {
    const records = await this.#o.featureStore.batchGet(this.#o.featureGroup, entityIds);
    return Promise.all(
      entityIds.map(async (id, i) => {
        const variant = this.router.route(id).name;
        const t0 = performance.now();
        const r: FeatureRecord | undefined = records[i];
        try {
          if (!r)
            throw new EdgeloopError(
              'EL_ERR_RECOMMEND_NO_FEATURES',
              `no features for entity "${id}" in group "${this.#o.featureGroup}"`,
            );
          const rec = await this.#score(variant, id, r.features, r.eventTime, k);
          this.#shadow(id, r.features, r.eventTime, k);
          this.#finish(variant, t0, 'ok');
          return rec;
        } catch (err) {
          const code = (err as EdgeloopError).code ?? 'EL_ERR_INVALID_ARGUMENT';
          this.#finish(variant, t0, code);
          if (!(err instanceof EdgeloopError)) throw err;
          return { entityId: id, error: { code, message: err.message } };
        }
      }),
    );
  }

  async #score(
    variant: string,
    entityId: string | null,
    features: Record<string, FeatureValue>,
    eventTime: number | undefined,
    k: number,
    shadow = false,
  ): Promise<Recommendation> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'recommendation service is closed');
    const l = this.#loaded.get(variant);
    if (!l) throw new EdgeloopError('EL_ERR_RECOMMEND_NO_MODEL', `variant "${variant}" has no model loaded`);
    const input = buildInput(
      l.manifest,
      features,
      eventTime,
      this.#o.clock.now(),
      entityId ?? '(inline)',
      undefined,
      this.#o.featureMap,
    );
    const out = await l.batcher.run(input.row);
    const ranking = rankActions(l.manifest, out.data, out.offset, k);
    const rec: Recommendation = {
      entityId,
      variant,
      model: { name: l.manifest.name, version: l.manifest.version },
      featureTime: eventTime ?? null,
      featureAgeMs: input.featureAgeMs ?? null,
      defaulted: input.defaulted,
      actions: ranking.actions,
      modes: ranking.modes,
      predictedModes: ranking.predicted,
    };
    this.#o.responseLog?.append({
      ts: this.#o.clock.now(),
      entityId: entityId ?? '(inline)',
      variant,
      shadow,
      model: l.manifest.name,
      version: l.manifest.version,
      featureTime: eventTime ?? null,
      featureAgeMs: input.featureAgeMs ?? null,
      top: ranking.actions[0]?.id ?? null,
      result: { actions: ranking.actions, modes: ranking.modes },
    });
    return rec;
  }

  #shadow(
    entityId: string | null,
    features: Record<string, FeatureValue>,
    eventTime: number | undefined,
    k: number,
  ): void {
    for (const s of this.router.shadows) {
      this.#score(s.name, entityId, features, eventTime, k, true).catch((err: unknown) => {
        this.#shadowErrors.inc({ variant: s.name });
        this.#o.logger.debug({ err, variant: s.name }, 'recommend: shadow scoring failed');
      });
    }
  }

  #finish(variant: string, t0: number, outcome: string): void {
    this.#latency.observe({ variant }, (performance.now() - t0) / 1000);
    this.#responses.inc({ variant, outcome });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    await this.#reloading?.catch(() => undefined);
    for (const l of this.#loaded.values()) {
      await l.batcher.idle();
      await l.runner.close();
    }
    this.#loaded.clear();
  }
}
