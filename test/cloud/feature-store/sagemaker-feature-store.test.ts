import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  SageMakerFeatureStore,
  type SageMakerFeatureStoreOptions,
} from '../../../cloud/feature-store/sagemaker-feature-store.ts';
import { ManualClock } from '../../../lib/clock.ts';
import { startSageMakerFsServer, type TestSageMakerFs } from '../../helpers/sagemaker-fs-server.ts';
import { CONTRACT_GROUPS, describeFeatureStoreContract } from './feature-store-contract.ts';

// one endpoint per contract test run, sharing the test's clock so the server's TTL and the adapter's agree
describeFeatureStoreContract('SageMakerFeatureStore (local endpoint)', {
  async open({ clock }) {
    const server = await startSageMakerFsServer({
      now: () => clock.now(),
      groups: {
        device_features: { recordIdentifierName: 'entity_id', eventTimeName: 'event_time' },
        other_group: { recordIdentifierName: 'entity_id', eventTimeName: 'event_time' },
        short_lived: { recordIdentifierName: 'entity_id', eventTimeName: 'event_time', ttlMs: 60_000 },
      },
    });
    const store = new SageMakerFeatureStore({ clientConfig: server.clientConfig, groups: CONTRACT_GROUPS, clock });
    return { store, cleanup: () => server.close() };
  },
});

describe('SageMakerFeatureStore', () => {
  let server: TestSageMakerFs;
  const clock = new ManualClock(1_764_000_000_000);
  beforeAll(async () => {
    server = await startSageMakerFsServer({
      now: () => clock.now(),
      groups: {
        typed: {
          recordIdentifierName: 'machine_id',
          eventTimeName: 'ts',
          features: { version: 'String', count: 'Integral', temp: 'Fractional' },
        },
      },
    });
  });
  afterAll(() => server?.close());

  async function open(opts: Partial<SageMakerFeatureStoreOptions> = {}): Promise<SageMakerFeatureStore> {
    const s = new SageMakerFeatureStore({ clientConfig: server.clientConfig, clock, ...opts });
    await s.start();
    onTestFinished(() => s.close());
    return s;
  }

  it('maps identifier and event time names, fractional-second event times and declared feature types', async () => {
    const s = await open({
      groups: {
        typed: {
          recordIdentifierName: 'machine_id',
          eventTimeName: 'ts',
          eventTimeFormat: 'seconds',
          featureTypes: { version: 'String', count: 'Integral', temp: 'Fractional' },
        },
      },
    });
    const rec = { entityId: 'M1', eventTime: clock.now() - 1500, features: { version: '3', count: 7, temp: 1e-9 } };
    await s.put('typed', rec);
    expect(await s.get('typed', 'M1')).toEqual(rec);
    // without declared types, a numeric-looking string comes back as a number
    const untyped = await open({ groups: { typed: { recordIdentifierName: 'machine_id', eventTimeName: 'ts' } } });
    expect((await untyped.get('typed', 'M1'))!.features).toEqual({ version: 3, count: 7, temp: 1e-9 });
  });

  it('reports SageMaker validation errors and unknown groups with clear codes', async () => {
    const s = await open({ groups: { typed: { recordIdentifierName: 'machine_id', eventTimeName: 'ts' } } });
    await expect(
      s.put('typed', { entityId: 'M2', eventTime: clock.now(), features: { undefined_feature: 1 } }),
    ).rejects.toMatchObject({
      code: 'EL_ERR_FEATURE_RECORD_INVALID',
      message: expect.stringMatching(/undefined_feature is not defined/),
    });
    await expect(
      s.put('typed', { entityId: 'M2', eventTime: clock.now(), features: { count: 1.5 } }),
    ).rejects.toMatchObject({ code: 'EL_ERR_FEATURE_RECORD_INVALID' });
    await expect(s.get('nope', 'x')).rejects.toMatchObject({ code: 'EL_ERR_FEATURE_GROUP_NOT_FOUND' });
    await expect(s.batchGet('nope', ['x'])).rejects.toMatchObject({ code: 'EL_ERR_FEATURE_GROUP_NOT_FOUND' });
    await expect(s.put('typed', { entityId: 'M2', eventTime: clock.now(), features: { ts: 5 } })).rejects.toMatchObject(
      { code: 'EL_ERR_FEATURE_NAME_INVALID' },
    );
  });

  it('uses one BatchGetRecord for the staleness check of a putMany, or none when disabled', async () => {
    const s = await open({ groups: { typed: { recordIdentifierName: 'machine_id', eventTimeName: 'ts' } } });
    const before = { ...server.requests };
    const recs = Array.from({ length: 20 }, (_, i) => ({
      entityId: `B${i}`,
      eventTime: clock.now(),
      features: { count: i },
    }));
    await s.putMany('typed', recs);
    expect(server.requests.BatchGetRecord - before.BatchGetRecord).toBe(1);
    expect(server.requests.PutRecord - before.PutRecord).toBe(20);
    const fast = await open({
      checkStaleWrites: false,
      groups: { typed: { recordIdentifierName: 'machine_id', eventTimeName: 'ts' } },
    });
    const mid = { ...server.requests };
    expect(await fast.put('typed', { entityId: 'B1', eventTime: 1, features: { count: 99 } })).toEqual({
      written: true,
    });
    expect(server.requests.BatchGetRecord).toBe(mid.BatchGetRecord);
    // SageMaker itself still kept the newer record
    expect((await fast.get('typed', 'B1'))!.features.count).toBe(1);
    // batchGet asks for at most 100 records per BatchGetRecord call
    const ids = Array.from({ length: 150 }, (_, i) => `B${i}`);
    const b0 = server.requests.BatchGetRecord;
    const got = await fast.batchGet('typed', ids);
    expect(server.requests.BatchGetRecord - b0).toBe(2);
    expect(got.filter((r) => r !== undefined).map((r) => r!.entityId)).toEqual(ids.slice(0, 20));
  });
});
