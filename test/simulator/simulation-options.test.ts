import { describe, expect, it } from 'vitest';
import { resolveSimulationOptions } from '../../simulator/simulation-options.ts';
import { parseRegimeShift } from '../../simulator/scenarios/regime-shift.ts';
import { expectOptionErrors, thrown } from '../helpers/option-errors.ts';

describe('simulation options (lib/options.ts)', () => {
  it('refuses an unknown key with a suggestion and names a bad field', () => {
    expectOptionErrors({
      build: (o) => resolveSimulationOptions(o),
      base: { devices: 2 },
      code: 'EL_ERR_SIM_OPTIONS',
      unknown: { key: 'messageRat', suggests: 'messageRate' },
      bad: { key: 'durationSec', value: -1 },
    });
    expect(thrown(() => resolveSimulationOptions({ reconnect: { minMS: 1 } })).message).toMatch(
      /^simulation options: unknown option "reconnect\.minMS" \(did you mean "reconnect\.minMs"\?\)/,
    );
    const rule = thrown(() => resolveSimulationOptions({ devices: 2, connections: 3 }));
    expect(rule).toMatchObject({ code: 'EL_ERR_SIM_OPTIONS', details: { option: 'connections' } });
  });

  it('the regime shift names its fields under the option it came from', () => {
    expectOptionErrors({
      build: (o) => parseRegimeShift(o, 'shift'),
      base: {},
      code: 'EL_ERR_SIM_OPTIONS',
      unknown: { key: 'shar', suggests: 'shift.share', option: 'shift.shar' },
      bad: { key: 'share', value: 2, option: 'shift.share' },
    });
  });
});
