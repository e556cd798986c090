/**
 * The rollout metrics on the cloud's /metrics, from a real createCloud with the registry and rollout parts:
 * `edgeloop_rollout_rollouts{status}` counts a started rollout as `rolling`, then as `aborted` once aborted;
 * `edgeloop_rollout_transitions_total{status}` counts one entry into each (what EdgeloopRolloutAborted watches).
 */
import { describe, expect, it } from 'vitest';
import { registryPart } from '../../../cloud/parts/registry.ts';
import { rolloutPart } from '../../../cloud/parts/rollout.ts';
import { makeTestModel, testKeys } from '../../agent/model-updater/test-models.ts';
import { scrape, startMetricsCloud } from '../../helpers/live-metrics.ts';

/** the samples of `name{status=...}` in a scraped body */
function byStatus(body: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of body.matchAll(new RegExp(`^${name}\\{status="([^"]+)"\\} (\\d+)$`, 'gm'))) out[m[1]!] = Number(m[2]);
  return out;
}
const rollouts = (body: string) => byStatus(body, 'edgeloop_rollout_rollouts');
const transitions = (body: string) => byStatus(body, 'edgeloop_rollout_transitions_total');

describe('rollout metrics', () => {
  it('count rollouts by status', { timeout: 60_000 }, async () => {
    const { url, cloud } = await startMetricsCloud();
    const zero = {
      shadowing: 0,
      'awaiting-approval': 0,
      rolling: 0,
      baking: 0,
      completed: 0,
      aborted: 0,
      'rolling-back': 0,
      'rolled-back': 0,
    };
    const first = await scrape(url);
    expect(rollouts(first)).toEqual(zero);
    expect(transitions(first)).toEqual(zero);
    const m = makeTestModel({ version: '1.0', key: testKeys() });
    // the cloud's registry takes unsigned pushes here (requireSignature: false) and trusts no key
    const { signature: _signed, ...unsigned } = m.manifest as typeof m.manifest & { signature?: unknown };
    await cloud.get(registryPart).instance.registry.push({ manifest: unsigned, artifact: m.onnx });
    const controller = cloud.get(rolloutPart).instance.controller;
    const view = await controller.startRollout({ model: m.manifest.name, version: '1.0', devices: ['dev-1', 'dev-2'] });
    expect(rollouts(await scrape(url))).toMatchObject({ rolling: 1, aborted: 0 });
    await controller.abort(view.id, 'metrics test');
    const after = await scrape(url);
    expect(rollouts(after)).toMatchObject({ rolling: 0, aborted: 1 });
    expect(transitions(after)).toEqual({ ...zero, rolling: 1, aborted: 1 });
    // a change event that repeats the status counts nothing more
    await controller.waitFor(view.id, ['aborted']);
    expect(transitions(await scrape(url))).toEqual({ ...zero, rolling: 1, aborted: 1 });
  });
});
