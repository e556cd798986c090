/**
 * Model loading at agent start: the updater's store directory (models a person copied there), then the configured
 * models.initial directories, each verified (sha256 + signature) and activated in the inference engine unless a
 * model of that name is active already (the updater restored a newer one).
 */
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { EdgeloopError } from '../protocol/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { MANIFEST_FILE, verifyModelDir } from '../models/manifest/index.ts';
import type { AgentConfig } from './config.ts';
import type { InferenceEngine } from './inference/inference-engine.ts';

/** What model loading needs from the agent (the AgentHost of agent-parts.ts has it). */
export interface ModelLoadHost {
  readonly slots: { readonly inference?: InferenceEngine | undefined; readonly updater?: unknown };
  readonly logger: Logger;
  setError(msg: string): void;
}

/** The updater's model store: models.dir, default <dataDir>/models. */
export function modelsDir(c: AgentConfig): string {
  return c.models.dir ?? join(c.dataDir, 'models');
}

/**
 * Load the store's model directories, then the configured initial ones. A configured directory that is missing
 * or whose model does not verify is an error at start (the agent would otherwise run without inference); set
 * inference.enabled: false to run without.
 */
export async function loadModels(
  host: ModelLoadHost,
  roots: string[],
  trusted: ReadonlyMap<string, KeyObject>,
  requireSignature: boolean,
): Promise<void> {
  const p = host.slots;
  const [store, ...initial] = roots;
  for (const d of initial) {
    if (!existsSync(join(d, MANIFEST_FILE))) {
      throw new EdgeloopError(
        'EL_ERR_AGENT_MODEL_DIR',
        `models.initial: ${resolve(d)} has no ${MANIFEST_FILE} (set inference.enabled: false to run without inference)`,
      );
    }
  }
  for (const d of modelDirs(store!)) {
    try {
      await activate(p, d, trusted, requireSignature);
    } catch (err) {
      // a hand-copied model in the store that does not verify is refused; the configured ones decide below
      host.setError(`model in ${d} refused: ${(err as Error).message}`);
      host.logger.error({ dir: d, code: (err as EdgeloopError).code, reason: (err as Error).message }, 'model refused');
    }
  }
  for (const d of initial) {
    try {
      await activate(p, resolve(d), trusted, requireSignature);
    } catch (err) {
      const e = err as EdgeloopError;
      throw new EdgeloopError(e.code ?? 'EL_ERR_AGENT_MODEL_DIR', `models.initial: ${resolve(d)}: ${e.message}`, {
        cause: err,
      });
    }
  }
  if (p.inference!.models().length === 0 && !p.updater) {
    host.logger.warn(
      'inference is enabled but there is no model and no updates: set models.initial, or models.updates with models.trustedKeys, or inference.enabled: false',
    );
  }
}

async function activate(
  p: ModelLoadHost['slots'],
  dir: string,
  trusted: ReadonlyMap<string, KeyObject>,
  requireSignature: boolean,
): Promise<void> {
  const v = verifyModelDir(dir, { trustedKeys: trusted, requireSignature });
  if (p.inference!.active(v.manifest.name)) return; // the updater restored a newer one
  await p.inference!.activate(v.manifest, v.modelPath);
}

/** Model directories under `dir`: `dir` itself when it has a manifest, else each sub-directory that has one. */
export function modelDirs(dir: string): string[] {
  const abs = resolve(dir);
  if (!existsSync(abs)) return [];
  if (existsSync(join(abs, MANIFEST_FILE))) return [abs];
  return readdirSync(abs)
    .map((n) => join(abs, n))
    .filter((p) => {
      try {
        return statSync(p).isDirectory() && existsSync(join(p, MANIFEST_FILE));
      } catch {
        return false;
      }
    })
    .sort();
}
