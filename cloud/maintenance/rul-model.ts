/**
 * Load a RUL model directory for serving: the manifest's signature and the file's sha256 checked, an ONNX Runtime
 * session opened, and the manifest's test vector run in it before anything is scored (as the agent does).
 */
import { verifyModelDir } from '../../models/manifest/index.ts';
import { checkTestVector, OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { rulColumns } from './maintenance-service.ts';

export interface LoadedRulModel {
  manifest: Manifest;
  runner: OrtModelRunner;
}

export async function loadRulModel(dir: string, trustedKeys: readonly string[]): Promise<LoadedRulModel> {
  const { manifest, modelPath } = verifyModelDir(dir, { trustedKeys: [...trustedKeys] });
  rulColumns(manifest);
  const runner = await OrtModelRunner.forManifest(modelPath, manifest);
  try {
    await checkTestVector(runner, manifest);
  } catch (err) {
    await runner.close();
    throw err;
  }
  return { manifest, runner };
}
