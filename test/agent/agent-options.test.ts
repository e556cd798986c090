import { describe, expect, it } from 'vitest';
import { createAgent } from '../../agent/create-agent.ts';
import { parseAgentConfig } from '../../agent/config.ts';
import { InferenceEngine } from '../../agent/inference/inference-engine.ts';
import { ModelUpdater } from '../../agent/model-updater/model-updater.ts';
import { expectOptionErrors, thrown } from '../helpers/option-errors.ts';

const config = { deviceId: 'dev-1', transport: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883' } } as const;

describe('agent options (lib/options.ts)', () => {
  it('createAgent: an unknown option gets a suggestion; a bad config value names the field', () => {
    const unknown = thrown(() => createAgent({ config, clok: {} } as never));
    expect(unknown).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { component: 'createAgent', option: 'clok' },
    });
    expect(unknown.message).toMatch(/^createAgent: unknown option "clok" \(did you mean "clock"\?\)/);
    const bad = thrown(() => createAgent({ config: { ...config, status: { intervalMs: 0 } } }));
    expect(bad).toMatchObject({ code: 'EL_ERR_CONFIG_INVALID', details: { option: 'status.intervalMs' } });
    expect(bad.message).toMatch(/^agent config: status\.intervalMs: Too small/);
  });

  it('agent config: an unknown key at any depth gets a suggestion', () => {
    const err = thrown(() => parseAgentConfig({ ...config, inference: { cooldownMS: 5 } }));
    expect(err.message).toMatch(
      /^agent config: unknown option "inference\.cooldownMS" \(did you mean "inference\.cooldownMs"\?\)/,
    );
    // the engine's defaults fill the config's inference section
    expect(parseAgentConfig(config).inference).toEqual({
      enabled: true,
      maxBatchWindows: 256,
      cooldownMs: 10_000,
      intraOpNumThreads: 1,
    });
  });

  it('InferenceEngine: an unknown option gets a suggestion; a bad value names the field', () => {
    expectOptionErrors({
      build: (o) => new InferenceEngine(o as never),
      base: { onEvent: () => undefined },
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'maxBatchWindow', suggests: 'maxBatchWindows' },
      bad: { key: 'maxBatchWindows', value: 0 },
    });
    expect(thrown(() => new InferenceEngine({} as never)).message).toMatch(
      /^InferenceEngine: onEvent: expected a function/,
    );
  });

  it('ModelUpdater: an unknown option gets a suggestion; a bad value names the field', () => {
    const base = {
      deviceId: 'd',
      transport: {} as never,
      host: {} as never,
      modelsDir: '/tmp/x',
      requireSignature: false,
    };
    expectOptionErrors({
      build: (o) => new ModelUpdater(o as never),
      base,
      code: 'EL_ERR_INVALID_ARGUMENT',
      unknown: { key: 'keepVersion', suggests: 'keepVersions' },
      bad: { key: 'downloadTimeoutMs', value: -1 },
    });
    expect(thrown(() => new ModelUpdater({ ...base, transport: undefined as never })).message).toMatch(
      /^ModelUpdater: transport: required/,
    );
  });
});
