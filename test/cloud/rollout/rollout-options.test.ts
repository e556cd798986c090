import { describe, expect, it } from 'vitest';
import { RolloutController } from '../../../cloud/rollout/rollout-controller.ts';
import { parseRolloutPartConfig } from '../../../cloud/rollout/rollout-part.ts';
import { expectOptionErrors, thrown } from '../../helpers/option-errors.ts';

describe('rollout options (lib/options.ts)', () => {
  it('RolloutController: an unknown option gets a suggestion; a bad value names the field', () => {
    const base = { transport: {}, models: {}, dbPath: ':memory:' };
    expectOptionErrors({
      build: (o) => new RolloutController(o as never),
      base,
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'tickMS', suggests: 'tickMs' },
      bad: { key: 'tickMs', value: 0 },
    });
    expect(thrown(() => new RolloutController({ ...base, models: undefined } as never)).message).toMatch(
      /^RolloutController: models: required \(a ModelSource\)/,
    );
  });

  it('the rollout config section: the same, with the controller timing defaults', () => {
    expectOptionErrors({
      build: (o) => parseRolloutPartConfig(o),
      base: {},
      code: 'EL_ERR_CONFIG_INVALID',
      unknown: { key: 'discoverMs', suggests: 'discoveryMs' },
      bad: { key: 'http', value: { port: -1 }, option: 'http.port' },
    });
    expect(parseRolloutPartConfig({})).toMatchObject({ tickMs: 1000, discoveryMs: 2000 });
  });
});
