/**
 * `edgeloop_rollout_rollouts{status}` on the cloud's /metrics: a real createCloud with the registry and rollout
 * parts counts a started rollout as `rolling`, then as `aborted` once aborted (what the EdgeloopRolloutAborted rule
 * in deploy/prometheus watches).
 */
import { describe, expect, it } from 'vitest';
import { registryPart } from '../../../cloud/parts/registry.ts';
import { rolloutPart } from '../../../cloud/parts/rollout.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';
import { scrape, startMetricsCloud } from '../../helpers/live-metrics.ts';

function rollouts(body: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/^edgeloop_rollout_rollouts\{status="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('rollout metrics', () => {
  it('count rollouts by status', { timeout: 60_000 }, async () => {
    const { url, cloud } = await startMetricsCloud();
    expect(rollouts(await scrape(url))).toEqual({ rolling: 0, baking: 0, completed: 0, aborted: 0, 'rolling-back': 0, 'rolled-back': 0 });
    const m = makeTestModel({ version: '1.0', key: testKeys() });
    // the cloud's registry takes unsigned pushes here (requireSignature: false) and trusts no key
    const { signature: _signed, ...unsigned } = m.manifest as typeof m.manifest & { signature?: unknown };
    await cloud.get(registryPart).instance.registry.push({ manifest: unsigned, artifact: m.onnx });
    const controller = cloud.get(rolloutPart).instance.controller;
    const view = await controller.startRollout({ model: m.manifest.name, version: '1.0', devices: ['dev-1', 'dev-2'] });
    expect(rollouts(await scrape(url))).toMatchObject({ rolling: 1, aborted: 0 });
    await controller.abort(view.id, 'metrics test');
    expect(rollouts(await scrape(url))).toMatchObject({ rolling: 0, aborted: 1 });
  });
});
