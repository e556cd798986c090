/**
 * The FeatureStore contract, run against every implementation (SqliteFeatureStore; SageMakerFeatureStore against
 * the local SageMaker Feature Store endpoint). The factory creates a fresh store whose groups are:
 *   - `device_features` and `other_group`: no TTL
 *   - `short_lived`: TTL 60 s
 * and whose notion of "now" is the given clock.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { isEdgeloopError } from '../../../protocol/errors.ts';
import type { FeatureStore } from '../../../cloud/feature-store/feature-store.ts';

export const CONTRACT_GROUPS = { device_features: {}, other_group: {}, short_lived: { ttlMs: 60_000 } } as const;

export interface FeatureStoreContractFactory {
  open(opts: { clock: ManualClock }): Promise<{ store: FeatureStore; cleanup(): Promise<void> }>;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(isEdgeloopError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

const T0 = 1_764_000_000_000; // 2025-11-24T16:00:00Z

export function describeFeatureStoreContract(name: string, factory: FeatureStoreContractFactory): void {
  describe(`FeatureStore contract: ${name}`, () => {
    async function setup(): Promise<{ store: FeatureStore; clock: ManualClock }> {
      const clock = new ManualClock(T0);
      const { store, cleanup } = await factory.open({ clock });
      await store.start();
      onTestFinished(async () => {
        await store.close();
        await cleanup();
      });
      return { store, clock };
    }

    it('round-trips numbers, strings and the event time; absent entities are undefined', async () => {
      const { store } = await setup();
      const rec = {
        entityId: 'machine-1',
        eventTime: T0 - 1234,
        features: {
          temperature_mean_1m: 71.25,
          temperature_count_1m: 60,
          torque_nm_last: -3.5e-7,
          big: 123456789012,
          model_version_anomaly: 'v2.1-rc',
          label: 'héllo wörld',
        },
      };
      expect(await store.put('device_features', rec)).toEqual({ written: true });
      expect(await store.get('device_features', 'machine-1')).toEqual(rec);
      expect(await store.get('device_features', 'nobody')).toBeUndefined();
    });

    it('does not let an older event time overwrite a newer one; equal or newer replaces the whole record', async () => {
      const { store } = await setup();
      await store.put('device_features', { entityId: 'd', eventTime: T0 - 1000, features: { a: 1, b: 2 } });
      expect(await store.put('device_features', { entityId: 'd', eventTime: T0 - 2000, features: { a: 99 } })).toEqual({
        written: false,
      });
      expect(await store.get('device_features', 'd')).toEqual({
        entityId: 'd',
        eventTime: T0 - 1000,
        features: { a: 1, b: 2 },
      });
      expect(
        await store.put('device_features', { entityId: 'd', eventTime: T0 - 1000, features: { a: 3, b: 4 } }),
      ).toEqual({ written: true });
      expect((await store.get('device_features', 'd'))!.features).toEqual({ a: 3, b: 4 });
      expect(await store.put('device_features', { entityId: 'd', eventTime: T0, features: { c: 'x' } })).toEqual({
        written: true,
      });
      expect(await store.get('device_features', 'd')).toEqual({ entityId: 'd', eventTime: T0, features: { c: 'x' } });
    });

    it('putMany reports an outcome per record, in order, and applies them in order', async () => {
      const { store } = await setup();
      const out = await store.putMany('device_features', [
        { entityId: 'a', eventTime: T0 - 500, features: { v: 1 } },
        { entityId: 'b', eventTime: T0 - 500, features: { v: 2 } },
        { entityId: 'a', eventTime: T0 - 900, features: { v: 3 } },
        { entityId: 'b', eventTime: T0 - 100, features: { v: 4 } },
      ]);
      expect(out).toEqual([{ written: true }, { written: true }, { written: false }, { written: true }]);
      const [a, b] = await store.batchGet('device_features', ['a', 'b']);
      expect(a!.features).toEqual({ v: 1 });
      expect(b).toEqual({ entityId: 'b', eventTime: T0 - 100, features: { v: 4 } });
      expect(await store.putMany('device_features', [])).toEqual([]);
    });

    it('batchGet keeps the order of the ids, with undefined for absent ones; featureNames limits the features', async () => {
      const { store } = await setup();
      await store.putMany('device_features', [
        { entityId: 'm1', eventTime: T0 - 10, features: { x: 1, y: 2, z: 'three' } },
        { entityId: 'm2', eventTime: T0 - 20, features: { x: 10, y: 20 } },
      ]);
      const got = await store.batchGet('device_features', ['m2', 'missing', 'm1', 'm2']);
      expect(got.map((r) => r?.entityId)).toEqual(['m2', undefined, 'm1', 'm2']);
      expect(got[2]).toEqual({ entityId: 'm1', eventTime: T0 - 10, features: { x: 1, y: 2, z: 'three' } });
      expect(await store.get('device_features', 'm1', ['y', 'z'])).toEqual({
        entityId: 'm1',
        eventTime: T0 - 10,
        features: { y: 2, z: 'three' },
      });
      const some = await store.batchGet('device_features', ['m1', 'm2'], ['x', 'z']);
      expect(some.map((r) => r?.features)).toEqual([{ x: 1, z: 'three' }, { x: 10 }]);
      expect(await store.batchGet('device_features', [])).toEqual([]);
    });

    it('hides records older than the group TTL on get and batchGet; groups without TTL keep them', async () => {
      const { store, clock } = await setup();
      await store.put('short_lived', { entityId: 'e', eventTime: T0 - 30_000, features: { v: 1 } });
      await store.put('device_features', { entityId: 'e', eventTime: T0 - 30_000, features: { v: 2 } });
      expect((await store.get('short_lived', 'e'))?.features).toEqual({ v: 1 });
      clock.advance(31_000);
      expect(await store.get('short_lived', 'e')).toBeUndefined();
      expect(await store.batchGet('short_lived', ['e'])).toEqual([undefined]);
      expect((await store.get('device_features', 'e'))?.features).toEqual({ v: 2 });
      // a fresh write is visible again
      await store.put('short_lived', { entityId: 'e', eventTime: clock.now(), features: { v: 3 } });
      expect((await store.get('short_lived', 'e'))?.features).toEqual({ v: 3 });
    });

    it('keeps groups apart and does not store null values', async () => {
      const { store } = await setup();
      await store.put('device_features', { entityId: 'same', eventTime: T0, features: { a: 1, gone: null } });
      await store.put('other_group', { entityId: 'same', eventTime: T0 - 5, features: { b: 'two' } });
      expect(await store.get('device_features', 'same')).toEqual({
        entityId: 'same',
        eventTime: T0,
        features: { a: 1 },
      });
      expect(await store.get('other_group', 'same')).toEqual({
        entityId: 'same',
        eventTime: T0 - 5,
        features: { b: 'two' },
      });
    });

    it('refuses bad names and values with clear errors', async () => {
      const { store } = await setup();
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: T0, features: { 'bad name': 1 } }),
        'EL_ERR_FEATURE_NAME_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: T0, features: { _x: 1 } }),
        'EL_ERR_FEATURE_NAME_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: T0, features: { ['a'.repeat(65)]: 1 } }),
        'EL_ERR_FEATURE_NAME_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: T0, features: { v: Number.NaN } }),
        'EL_ERR_FEATURE_RECORD_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: T0, features: { v: true as unknown as number } }),
        'EL_ERR_FEATURE_RECORD_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: '', eventTime: T0, features: {} }),
        'EL_ERR_FEATURE_RECORD_INVALID',
      );
      await expectCode(
        store.put('device_features', { entityId: 'd', eventTime: -1, features: {} }),
        'EL_ERR_FEATURE_RECORD_INVALID',
      );
      await expectCode(
        store.put('bad group!', { entityId: 'd', eventTime: T0, features: {} }),
        'EL_ERR_FEATURE_NAME_INVALID',
      );
      await expectCode(store.get('device_features', 'd', ['no spaces please']), 'EL_ERR_FEATURE_NAME_INVALID');
      // nothing of a refused putMany was written
      await expectCode(
        store.putMany('device_features', [
          { entityId: 'ok', eventTime: T0, features: { v: 1 } },
          { entityId: 'bad', eventTime: T0, features: { v: Number.POSITIVE_INFINITY } },
        ]),
        'EL_ERR_FEATURE_RECORD_INVALID',
      );
      expect(await store.get('device_features', 'ok')).toBeUndefined();
    });

    it('close() is idempotent and later use throws EL_ERR_CLOSED', async () => {
      const { store } = await setup();
      await store.put('device_features', { entityId: 'd', eventTime: T0, features: { v: 1 } });
      await store.close();
      await store.close();
      await expectCode(store.get('device_features', 'd'), 'EL_ERR_CLOSED');
      await expectCode(store.put('device_features', { entityId: 'd', eventTime: T0, features: {} }), 'EL_ERR_CLOSED');
    });
  });
}
