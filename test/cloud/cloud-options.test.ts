/**
 * The options of the feature stores, the processor and its Lambda handler, the raw archive, the batch jobs, the
 * registry and the rollout spec are lib/options.ts schemas: an unknown option gets a suggestion, a bad value names
 * its field, and what the schemas refuse beyond the checks they replaced is refused with the component's code.
 */
import { describe, expect, it } from 'vitest';
import { RawArchive } from '../../cloud/archive/raw-archive.ts';
import { Backfill } from '../../cloud/batch/backfill.ts';
import { DailyDag } from '../../cloud/batch/daily-dag.ts';
import { parseCloudConfig } from '../../cloud/config.ts';
import { ParquetOfflineStore } from '../../cloud/feature-store/parquet-offline-store.ts';
import { SageMakerFeatureStore } from '../../cloud/feature-store/sagemaker-feature-store.ts';
import { SqliteFeatureStore } from '../../cloud/feature-store/sqlite-feature-store.ts';
import { createProcessorHandler } from '../../cloud/lambda/processor-handler.ts';
import { FeatureAggregator } from '../../cloud/processor/feature-aggregator.ts';
import { Processor } from '../../cloud/processor/processor.ts';
import { LocalArtifactStore } from '../../cloud/registry/artifact-store.ts';
import { ModelRegistry } from '../../cloud/registry/model-registry.ts';
import { parseRolloutSpec } from '../../cloud/rollout/rollout-spec.ts';
import { thrown } from '../helpers/option-errors.ts';

const fake = { read: () => undefined, putMany: () => undefined } as never;
const dirs = { archiveDir: '/a', offlineDir: '/o', stateDir: '/s' };
const dag = { archiveDir: '/a', warehousePath: '/w.duckdb', stateDir: '/s', datasetsDir: '/d', publishDir: '/p' };

describe('cloud component options (lib/options.ts schemas)', () => {
  it('feature stores: suggestions, field names, and Infinity as a TTL', () => {
    const s = thrown(() => new ParquetOfflineStore({ dir: '/x', flushRow: 5 } as never));
    expect(s).toMatchObject({ code: 'EL_ERR_CONFIG_INVALID', details: { option: 'flushRow' } });
    expect(s.message).toMatch(/^ParquetOfflineStore: unknown option "flushRow" \(did you mean "flushRows"\?\)/);
    expect(thrown(() => new ParquetOfflineStore({} as never)).message).toBe(
      'ParquetOfflineStore: dir: required (a directory)',
    );
    expect(thrown(() => new ParquetOfflineStore({ dir: '/x', compression: 'lz4' as never }))).toMatchObject({
      details: { option: 'compression' },
    });
    // a group's option and an unknown key inside it
    const g = thrown(() => new SqliteFeatureStore({ path: 'x', groups: { g: { ttl: 5 } as never } }));
    expect(g.message).toMatch(/unknown option "groups\.g\.ttl" \(did you mean "groups\.g\.ttlMs"\?\)/);
    expect(() => new SqliteFeatureStore({ path: 'x', defaultTtlMs: Infinity, groups: { g: {} } })).not.toThrow();
    expect(new SqliteFeatureStore({ path: 'x', defaultTtlMs: 5000, groups: { g: {} } }).ttlOf('g')).toBe(5000);
    expect(thrown(() => new SageMakerFeatureStore({ groups: { g: { eventTime: 'x' } as never } })).message).toMatch(
      /unknown option "groups\.g\.eventTime" \(did you mean "groups\.g\.eventTimeName"\?\)/,
    );
    const sm = thrown(() => new SageMakerFeatureStore({ groups: { g: { featureTypes: { a: 'Text' as never } } } }));
    expect(sm).toMatchObject({ code: 'EL_ERR_CONFIG_INVALID', details: { option: 'groups.g.featureTypes.a' } });
    expect(thrown(() => new SageMakerFeatureStore({ concurrency: 257 })).message).toMatch(
      /^SageMakerFeatureStore: concurrency: Too big/,
    );
    expect(thrown(() => new SageMakerFeatureStore({ client: {} as never })).message).toMatch(
      /client: expected an object with send\(\)/,
    );
  });

  it('processor and aggregator: the aggregation section is checked with the aggregator’s schema', () => {
    const a = thrown(() => new Processor({ stream: fake, store: fake, aggregation: { ewmaHalflifeMs: 1 } as never }));
    expect(a).toMatchObject({ code: 'EL_ERR_CONFIG_INVALID', details: { option: 'aggregation.ewmaHalflifeMs' } });
    expect(a.message).toMatch(/did you mean "aggregation\.ewmaHalfLifeMs"\?/);
    expect(thrown(() => new Processor({ stream: fake, store: fake, batchSize: 10_001 })).message).toMatch(
      /^Processor: batchSize: Too big/,
    );
    // callbacks and the retry policy are checked too
    expect(thrown(() => new Processor({ stream: fake, store: fake, onMessage: 1 as never }))).toMatchObject({
      details: { option: 'onMessage' },
    });
    expect(thrown(() => new Processor({ stream: fake, store: fake, retry: 5 as never }))).toMatchObject({
      details: { option: 'retry' },
    });
    // windowSensors are sensor ids; a window spec's keys are checked, its values keep their own code
    expect(thrown(() => new FeatureAggregator({ windowSensors: [5 as never] }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { option: 'windowSensors.0' },
    });
    expect(thrown(() => new FeatureAggregator({ windows: [{ sizeMs: 60_000, size: 1 } as never] }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
    });
    expect(thrown(() => new FeatureAggregator({ windows: [{ sizeMs: -1 }] }))).toMatchObject({
      code: 'EL_ERR_PROCESSOR_WINDOW_INVALID',
    });
    expect(new FeatureAggregator({ ewmaHalfLifeMs: Infinity }).windows).toEqual([
      { sizeMs: 60_000, slideMs: 60_000, name: '1m' },
    ]);
  });

  it('Lambda handler: the processor’s feature output options, with its own', () => {
    const store = fake;
    expect(thrown(() => createProcessorHandler({ store, offlineStore: {} as never }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { option: 'offlineStore' },
    });
    expect(thrown(() => createProcessorHandler({ store, onBatch: 'x' as never })).message).toMatch(
      /^processorHandler: onBatch: expected a function/,
    );
    expect(thrown(() => createProcessorHandler({ store, grop: 'g' } as never)).message).toMatch(
      /did you mean "group"\?/,
    );
  });

  it('raw archive and batch jobs: required paths, tuning, and the codes of the rules after parsing', () => {
    expect(thrown(() => new RawArchive({ dir: '/x' } as never)).message).toBe(
      'RawArchive: stream: required (a Stream)',
    );
    expect(thrown(() => new RawArchive({ stream: fake, dir: '/x', compactSettleMs: -1 }))).toMatchObject({
      details: { option: 'compactSettleMs' },
    });
    expect(thrown(() => new Backfill({ ...dirs, stateDir: '' })).message).toBe(
      'Backfill: stateDir: required (a directory)',
    );
    expect(thrown(() => new Backfill({ ...dirs, skewFactor: 1 }))).toMatchObject({
      code: 'EL_ERR_BATCH_INVALID',
      message: 'Backfill: skewFactor must be a number > 1, got 1',
    });
    expect(thrown(() => new Backfill({ ...dirs, group: 'Bad' }))).toMatchObject({
      code: 'EL_ERR_BATCH_INVALID',
      details: { option: 'group' },
    });
    expect(thrown(() => new Backfill({ ...dirs, onProgress: {} as never }))).toMatchObject({
      details: { option: 'onProgress' },
    });
    // the DAG's archive settings are the archive's fields
    expect(thrown(() => new DailyDag({ ...dag, archive: { targetFileBytes: 0 } }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { option: 'archive.targetFileBytes' },
    });
    expect(thrown(() => new DailyDag({ ...dag, archive: { settleMs: 1 } as never })).message).toMatch(
      /unknown option "archive\.settleMs"/,
    );
    expect(thrown(() => new DailyDag({ ...dag, registryDb: 5 as never }))).toMatchObject({
      details: { option: 'registryDb' },
    });
    // the cloud config's sections take the components' fields: the offline store's flush interval is >= 10 ms
    expect(thrown(() => parseCloudConfig({ featureStore: { offline: { flushIntervalMs: 5 } } }))).toMatchObject({
      details: { option: 'featureStore.offline.flushIntervalMs' },
    });
    const c = parseCloudConfig({});
    expect(c.batch).toMatchObject({ targetRows: 2_000_000, skewFactor: 100, parallel: 2, threads: 2 });
    expect(c.archive).toMatchObject({ flushRows: 50_000, targetFileBytes: 128 * 1024 * 1024 });
  });

  it('registry: options with EL_ERR_INVALID_ARGUMENT', () => {
    const store = new LocalArtifactStore({ dir: '/tmp/x' });
    expect(thrown(() => new ModelRegistry({ dbPath: ':memory:', store, trustedKeys: 'k' as never }))).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      details: { option: 'trustedKeys' },
    });
    expect(
      thrown(() => new ModelRegistry({ dbPath: ':memory:', store, trustedKeys: [], requireSignature: 'no' as never })),
    ).toMatchObject({ code: 'EL_ERR_INVALID_ARGUMENT', details: { option: 'requireSignature' } });
  });

  it('rollout spec: aliases, defaults, and values of the wrong type named by field', () => {
    const spec = parseRolloutSpec({ model: 'm', version: '1', bake: '30s', maxFailures: '10%', fresh: '1m' });
    expect(spec).toMatchObject({
      stages: [1, 10, 50, 100],
      bakeMs: 30_000,
      maxFailurePct: 10,
      freshMs: 60_000,
      deviceTimeoutMs: 600_000,
      retries: 2,
    });
    // the field wins over its alias, as before
    expect(parseRolloutSpec({ model: 'm', version: '1', bakeMs: 1000, bake: '1h' }).bakeMs).toBe(1000);
    expect(parseRolloutSpec({ model: 'm', version: '1', shadow: { stage: '5%' } }).shadow?.percent).toBe(5);
    expect(thrown(() => parseRolloutSpec({ model: 'm', version: '1', group: 5 as never }))).toMatchObject({
      code: 'EL_ERR_ROLLOUT_SPEC',
      details: { option: 'group' },
    });
    expect(thrown(() => parseRolloutSpec({ model: 'm', version: '1', retries: 101 }))).toMatchObject({
      code: 'EL_ERR_ROLLOUT_SPEC',
      details: { option: 'retries' },
    });
    expect(thrown(() => parseRolloutSpec({ model: 'm', version: '1', shadow: { minDevices: 0 } }))).toMatchObject({
      code: 'EL_ERR_ROLLOUT_SPEC',
      details: { option: 'shadow.minDevices' },
    });
    expect(
      thrown(() => parseRolloutSpec({ model: 'm', version: '1', gates: 'p95_inference_ms<=5' as never })),
    ).toMatchObject({ code: 'EL_ERR_ROLLOUT_SPEC', details: { option: 'gates' } });
  });
});
