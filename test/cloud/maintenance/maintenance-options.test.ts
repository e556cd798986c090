import { describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../../../cloud/maintenance/alert-store.ts';
import { MaintenanceConfigSchema } from '../../../cloud/maintenance/config.ts';
import { MaintenanceService } from '../../../cloud/maintenance/maintenance-service.ts';
import { parseOptions } from '../../../lib/options.ts';
import { expectOptionErrors } from '../../helpers/option-errors.ts';

describe('maintenance options (lib/options.ts)', () => {
  it('MaintenanceService: an unknown option gets a suggestion; a bad value names the field', () => {
    expectOptionErrors({
      build: (o) => new MaintenanceService(o as never),
      base: { manifest: {}, runner: { run: () => undefined }, store: { append: () => undefined } },
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'horizn', suggests: 'horizon' },
      bad: { key: 'maxBatch', value: 0 },
    });
  });

  it('SqliteAlertStore: the same', () => {
    expectOptionErrors({
      build: (o) => new SqliteAlertStore(o as never),
      base: { path: ':memory:' },
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'maxEvent', suggests: 'maxEvents' },
      bad: { key: 'maxEvents', value: 1.5 },
    });
  });

  it('the maintenance config section takes the service and store defaults', () => {
    expect(parseOptions(MaintenanceConfigSchema, {}, { where: 'maintenance' })).toMatchObject({
      hysteresis: 10,
      maxDevices: 10_000,
      maxBatch: 256,
      maxEvents: 100_000,
    });
  });
});
