/**
 * The processor Lambda's code: the shipped bundle of cloud/lambda/processor-handler.ts that
 * `npm run build:lambda` writes (scripts/build-lambda.mjs: one self-contained ES module, no node_modules). By
 * default the app builds it afresh into a temporary folder on every synth, so a deployment always carries the
 * handler of the checked-out sources; `lambdaBundle` names a folder built beforehand instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgeloopError } from '../../../protocol/errors.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('../../../scripts/build-lambda.mjs', import.meta.url));

export interface LambdaBundle {
  dir: string;
  /** removes a folder this module built (a given `lambdaBundle` folder is left alone) */
  dispose(): void;
}

export function processorBundle(given?: string): LambdaBundle {
  if (given !== undefined) {
    if (!existsSync(join(given, 'processor.mjs'))) {
      throw new EdgeloopError(
        'EL_ERR_DEPLOY_BUNDLE',
        `context lambdaBundle: ${given} holds no processor.mjs (build it with npm run build:lambda, or leave lambdaBundle out)`,
      );
    }
    return { dir: given, dispose: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-lambda-'));
  try {
    execFileSync(process.execPath, [BUILD_SCRIPT, '--out', dir, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (cause) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = String((cause as { stderr?: unknown }).stderr ?? '').trim();
    throw new EdgeloopError(
      'EL_ERR_DEPLOY_BUNDLE',
      `scripts/build-lambda.mjs failed: ${stderr || (cause as Error).message}`,
      {
        cause,
      },
    );
  }
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
