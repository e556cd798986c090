import { describe, expect, it } from 'vitest';
import { Warehouse } from '../../../cloud/warehouse/warehouse.ts';

describe('warehouse options (lib/options.ts)', () => {
  it('an unknown option gets a suggestion; a bad value names the field', async () => {
    await expect(Warehouse.open({ path: ':memory:', archiveDr: 'x' } as never)).rejects.toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      message: expect.stringContaining('unknown option "archiveDr" (did you mean "archiveDir"?)'),
      details: { option: 'archiveDr' },
    });
    await expect(Warehouse.open({ path: ':memory:', threads: 0 })).rejects.toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/^Warehouse: threads: /),
      details: { option: 'threads' },
    });
    await expect(Warehouse.open({} as never)).rejects.toMatchObject({ message: 'Warehouse: path: required' });
  });
});
