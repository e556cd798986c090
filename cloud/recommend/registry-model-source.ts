/**
 * Resolves variant references through the model registry: `{ model, alias }` follows the alias,
 * `{ model, version }` pins a version. Artifacts are copied from the registry's content-addressed store into a
 * local cache (`<cacheDir>/<sha256>.onnx`, written to a temp name, hash-checked, renamed), so the service works the
 * same with a local or a remote artifact store. The registry's `alias` event is the hot-reload trigger.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AliasEvent, ModelRegistry } from '../registry/model-registry.ts';
import type { ModelRef, RecommenderModelSource, ResolvedModel } from './model-source.ts';
import { DirectoryModelSource } from './model-source.ts';

export interface RegistryModelSourceOptions {
  registry: ModelRegistry;
  /** where artifacts are cached for ONNX Runtime to load */
  cacheDir: string;
  /** resolves `{ dir }` references (default: schema check only) */
  directories?: DirectoryModelSource;
}

export class RegistryModelSource implements RecommenderModelSource {
  readonly #o: RegistryModelSourceOptions;
  readonly #dirs: DirectoryModelSource;

  constructor(opts: RegistryModelSourceOptions) {
    this.#o = opts;
    this.#dirs = opts.directories ?? new DirectoryModelSource();
  }

  async resolve(ref: ModelRef): Promise<ResolvedModel> {
    if ('dir' in ref) return this.#dirs.resolve(ref);
    const rec = this.#o.registry.resolve(ref.model, 'alias' in ref ? ref.alias : ref.version);
    const modelPath = join(this.#o.cacheDir, `${rec.sha256}.onnx`);
    const have = await stat(modelPath).catch(() => undefined);
    if (!have || have.size !== rec.bytes) await this.#fetch(rec.sha256, modelPath);
    return { manifest: rec.manifest, modelPath };
  }

  async #fetch(sha256: string, dest: string): Promise<void> {
    await mkdir(this.#o.cacheDir, { recursive: true });
    const tmp = `${dest}.${process.pid}.${Date.now()}.part`;
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(this.#o.registry.store.createReadStream(sha256), tap, createWriteStream(tmp));
      const got = hash.digest('hex');
      if (got !== sha256) {
        throw new EdgeloopError('EL_ERR_MODEL_HASH', `artifact ${sha256} from the registry store hashes to ${got}`);
      }
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  watch(listener: (change: { model: string; alias?: string }) => void): () => void {
    const on = (e: AliasEvent): void => listener({ model: e.name, alias: e.alias });
    this.#o.registry.on('alias', on);
    return () => this.#o.registry.off('alias', on);
  }
}
