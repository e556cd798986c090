import { describe, expect, it } from 'vitest';
import { parseRetrainConfig } from '../../../cloud/retrain/retrain-config.ts';
import { RetrainService } from '../../../cloud/retrain/retrain-service.ts';
import { Retrainer } from '../../../cloud/retrain/retrainer.ts';
import { expectOptionErrors } from '../../helpers/option-errors.ts';

describe('retrain options (lib/options.ts)', () => {
  it('Retrainer: an unknown option gets a suggestion; a bad value names the field', () => {
    expectOptionErrors({
      build: (o) => new Retrainer(o as never),
      base: { dir: '/nonexistent/retrain', archiveDir: '/nonexistent/archive', registry: {} },
      code: 'EL_ERR_RETRAIN_CONFIG',
      unknown: { key: 'holdoutFrac', suggests: 'holdoutFraction' },
      bad: { key: 'holdoutFraction', value: 1 },
    });
  });

  it('RetrainService: the same', () => {
    expectOptionErrors({
      build: (o) => new RetrainService(o as never),
      base: { retrainer: {} },
      code: 'EL_ERR_RETRAIN_CONFIG',
      unknown: { key: 'noDataRetry', suggests: 'noDataRetryMs' },
      bad: { key: 'driftMonitors', value: ['inputs'], option: 'driftMonitors.0' },
    });
  });

  it('the retrain config section names fields under retrain.; its defaults are the components’', () => {
    expectOptionErrors({
      build: (o) => parseRetrainConfig(o),
      base: {},
      code: 'EL_ERR_RETRAIN_CONFIG',
      unknown: { key: 'lookback', suggests: 'retrain.lookbackMs', option: 'retrain.lookback' },
      bad: { key: 'training', value: { epochs: 0 }, option: 'retrain.training.epochs' },
    });
    expect(parseRetrainConfig({})).toMatchObject({
      intervalMs: 86_400_000,
      onDrift: ['input', 'output'],
      model: 'anomaly',
    });
  });
});
