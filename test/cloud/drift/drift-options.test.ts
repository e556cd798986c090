import { describe, expect, it } from 'vitest';
import { parseDriftPartConfig } from '../../../cloud/drift/drift-part.ts';
import { DriftService } from '../../../cloud/drift/drift-service.ts';
import { monitorPolicy } from '../../../cloud/drift/monitor.ts';
import { SqliteDriftStore } from '../../../cloud/drift/sqlite-drift-store.ts';
import { expectOptionErrors } from '../../helpers/option-errors.ts';

describe('drift options (lib/options.ts)', () => {
  it('DriftService: an unknown option gets a suggestion; a bad value names the field', () => {
    expectOptionErrors({
      build: (o) => new DriftService(o as never),
      base: { store: {} },
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'maxSample', suggests: 'maxSamples' },
      bad: { key: 'alpha', value: 2 },
    });
  });

  it('the monitor policy and the drift store: the same', () => {
    expectOptionErrors({
      build: (o) => monitorPolicy(o),
      base: {},
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'cooldownMS', suggests: 'cooldownMs' },
      bad: { key: 'window', value: 0 },
    });
    expect(() => monitorPolicy({ detectK: 4, window: 3 })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_INVALID_ARGUMENT',
        details: expect.objectContaining({ option: 'detectK' }),
      }),
    );
    expectOptionErrors({
      build: (o) => new SqliteDriftStore(o as never),
      base: { path: ':memory:' },
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'maxEvent', suggests: 'maxEvents' },
      bad: { key: 'maxEvents', value: 0 },
    });
  });

  it('the drift config section names fields under drift.; its defaults are the service’s', () => {
    expectOptionErrors({
      build: (o) => parseDriftPartConfig(o),
      base: {},
      code: 'EL_ERR_DRIFT_CONFIG',
      unknown: { key: 'replicate', suggests: 'drift.replicates', option: 'drift.replicate' },
      bad: { key: 'policy', value: { window: 0 }, option: 'drift.policy.window' },
    });
    expect(parseDriftPartConfig({})).toMatchObject({ intervalMs: 60_000, policy: { window: 3 }, maxEvents: 100_000 });
  });
});
