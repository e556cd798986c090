/**
 * ModelSwapper: the on-device model store and the swap of the active model.
 *
 * Layout: `<modelsDir>/versions/<name>/<version>-<sha12>/{manifest.json, <artifact.file>}`. A downloaded artifact is
 * installed through a `.tmp` directory, verified there, then renamed into place. Activation goes through
 * ModelHost.activate (fresh session, test vector, atomic swap; the old model serves until then), and the model that
 * served before is kept as `previous` so that revert() can re-activate it. At most keepVersions versions per model
 * stay on disk. The slots live in the owner's persisted state; the owner saves it.
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../protocol/manifest.ts';
import { MANIFEST_FILE } from '../../models/manifest/index.ts';
import type { ModelHost } from './model-host.ts';
import type { ModelVerifier } from './model-verifier.ts';

export interface InstalledVersion {
  version: string;
  sha256: string;
  dir: string;
  modelPath: string;
}

/** per model: the active and previous installed versions */
export type ModelSlots = Record<string, { active?: InstalledVersion; previous?: InstalledVersion }>;

export interface ModelSwapperOptions {
  modelsDir: string;
  host: ModelHost;
  verifier: ModelVerifier;
  /** model versions kept on disk per model, >= 2 */
  keepVersions: number;
  /** the slots in the owner's current persisted state */
  slots: () => ModelSlots;
}

export class ModelSwapper {
  readonly #o: ModelSwapperOptions;

  constructor(opts: ModelSwapperOptions) {
    this.#o = opts;
  }

  /** Directory of a version of a model in the store. */
  versionDir(name: string, manifest: Manifest): string {
    return join(
      this.#o.modelsDir,
      'versions',
      name,
      `${safe(manifest.version)}-${manifest.artifact.sha256.slice(0, 12)}`,
    );
  }

  /** Whether `dir` holds a verified model (kept on disk from before: a rollback to it needs no download). */
  installed(dir: string): boolean {
    try {
      this.#o.verifier.modelDir(dir);
      return true;
    } catch {
      return false;
    }
  }

  /** Move the downloaded artifact and its manifest into `dir`, verified on disk before the rename into place. */
  async install(dir: string, part: string, manifest: Manifest, rawManifest: unknown): Promise<void> {
    const tmpDir = `${dir}.tmp`;
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true });
    await rename(part, join(tmpDir, manifest.artifact.file));
    await writeFile(join(tmpDir, MANIFEST_FILE), JSON.stringify(rawManifest, null, 2) + '\n');
    this.#o.verifier.modelDir(tmpDir); // sha256 + signature of what is on disk
    await rm(dir, { recursive: true, force: true });
    await rename(tmpDir, dir);
  }

  /** Activate the model in `dir`; the one serving before becomes `previous`. Rejects keeping the old model. */
  async activate(name: string, manifest: Manifest, dir: string): Promise<void> {
    const modelPath = join(dir, manifest.artifact.file);
    const before = this.#o.host.active(name);
    await this.#o.host.activate(manifest, modelPath); // fresh session + test vector; rejects keeping the old model
    const slot = (this.#o.slots()[name] ??= {});
    const beforeInstalled =
      before &&
      slot.active?.sha256 === before.manifest.artifact.sha256 &&
      slot.active.version === before.manifest.version
        ? slot.active
        : before
          ? fromActive(before)
          : slot.active;
    if (beforeInstalled && beforeInstalled.dir !== dir) slot.previous = beforeInstalled;
    slot.active = { version: manifest.version, sha256: manifest.artifact.sha256, dir, modelPath };
  }

  /** Re-activate an installed version as it is on disk (verified again first). */
  async reactivate(v: InstalledVersion): Promise<void> {
    const m = this.#o.verifier.modelDir(v.dir);
    await this.#o.host.activate(m.manifest, m.modelPath);
  }

  /** Re-activate `prev` (the previous version of `name`) and swap the slot's active and previous. */
  async revert(name: string, prev: InstalledVersion): Promise<void> {
    await this.reactivate(prev);
    const slot = this.#o.slots()[name]!;
    slot.previous = slot.active;
    slot.active = prev;
  }

  /** Remove the oldest versions of `name` beyond keepVersions; the active and previous ones stay. */
  async prune(name: string): Promise<void> {
    const base = join(this.#o.modelsDir, 'versions', name);
    const slot = this.#o.slots()[name];
    const keep = new Set([slot?.active?.dir, slot?.previous?.dir].filter(Boolean) as string[]);
    let entries: string[];
    try {
      entries = await readdir(base);
    } catch {
      return;
    }
    const others = [];
    for (const e of entries) {
      const p = join(base, e);
      if (keep.has(p) || e.endsWith('.tmp')) continue;
      others.push({ p, t: (await stat(p)).mtimeMs });
    }
    others.sort((a, b) => b.t - a.t);
    for (const o of others.slice(Math.max(0, this.#o.keepVersions - keep.size)))
      await rm(o.p, { recursive: true, force: true });
  }
}

function safe(v: string): string {
  return v.replace(/[^A-Za-z0-9._-]/g, '_');
}

function fromActive(a: { manifest: Manifest; modelPath: string }): InstalledVersion {
  return {
    version: a.manifest.version,
    sha256: a.manifest.artifact.sha256,
    dir: join(a.modelPath, '..'),
    modelPath: a.modelPath,
  };
}
