/**
 * Where a variant's model comes from. `DirectoryModelSource` reads a model directory (manifest.json + the ONNX
 * file it names) and verifies it; the registry adapter (registry-model-source.ts) resolves aliases and versions
 * through the model registry and notifies on alias moves, which the service turns into a hot reload.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../protocol/manifest.ts';
import { parseManifest } from '../../protocol/manifest.ts';

export type ModelRef = { dir: string } | { model: string; alias: string } | { model: string; version: string };

export interface ResolvedModel {
  manifest: Manifest;
  modelPath: string;
}

export interface RecommenderModelSource {
  resolve(ref: ModelRef): Promise<ResolvedModel>;
  /** Called when what a reference resolves to may have changed; returns an unsubscribe function. */
  watch?(listener: (change: { model: string; alias?: string }) => void): () => void;
}

export interface DirectoryModelSourceOptions {
  /** verify hash and signature (models/manifest verifyModelDir); when absent only the schema is checked */
  verify?: (dir: string) => Promise<{ manifest: Manifest; modelPath: string }>;
}

export class DirectoryModelSource implements RecommenderModelSource {
  readonly #verify: DirectoryModelSourceOptions['verify'];

  constructor(opts: DirectoryModelSourceOptions = {}) {
    this.#verify = opts.verify;
  }

  async resolve(ref: ModelRef): Promise<ResolvedModel> {
    if (!('dir' in ref)) throw new Error('DirectoryModelSource resolves only { dir } references');
    if (this.#verify) return this.#verify(ref.dir);
    const file = join(ref.dir, 'manifest.json');
    const manifest = parseManifest(JSON.parse(await readFile(file, 'utf8')), file);
    return { manifest, modelPath: join(ref.dir, manifest.artifact.file) };
  }
}

export function describeRef(ref: ModelRef): string {
  if ('dir' in ref) return ref.dir;
  if ('alias' in ref) return `${ref.model}@${ref.alias}`;
  return `${ref.model}@${ref.version}`;
}
