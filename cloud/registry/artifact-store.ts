/**
 * ArtifactStore: content-addressed storage of model files, keyed by sha256 (hex). The registry writes through it
 * and its HTTP server reads byte ranges from it. LocalArtifactStore keeps files in a directory
 * (`<root>/<first 2 hex>/<sha256>`); an S3 store is a later option behind the same interface.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface ArtifactInfo {
  sha256: string;
  bytes: number;
}

export interface ArtifactStore {
  /** Store bytes; returns their digest. Idempotent: storing the same bytes twice keeps one copy. */
  put(bytes: Uint8Array): Promise<ArtifactInfo>;
  /** Size of a stored artifact, or undefined. */
  stat(sha256: string): Promise<ArtifactInfo | undefined>;
  /** Stream bytes [start, end] (inclusive) of an artifact; the whole file without a range. */
  createReadStream(sha256: string, range?: { start: number; end: number }): Readable;
  delete(sha256: string): Promise<void>;
}

const SHA_RE = /^[0-9a-f]{64}$/;

export function assertSha256(sha256: string): void {
  if (typeof sha256 !== 'string' || !SHA_RE.test(sha256)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `artifact id ${JSON.stringify(sha256)} is not a sha256 (64 lowercase hex chars)`,
    );
  }
}

export interface LocalArtifactStoreOptions {
  /** directory that holds the artifacts; created when missing */
  dir: string;
}

export class LocalArtifactStore implements ArtifactStore {
  readonly dir: string;

  constructor(opts: LocalArtifactStoreOptions) {
    if (!opts || typeof opts.dir !== 'string' || opts.dir.length === 0) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        'LocalArtifactStore: option "dir" (a directory path) is required',
      );
    }
    this.dir = opts.dir;
  }

  #path(sha256: string): string {
    assertSha256(sha256);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array): Promise<ArtifactInfo> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const final = this.#path(sha256);
    const existing = await this.stat(sha256);
    if (existing && existing.bytes === bytes.byteLength) return existing;
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
    // Write to a temporary name, fsync, then rename: a reader never sees a partial file under the final name.
    const tmp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    return { sha256, bytes: bytes.byteLength };
  }

  async stat(sha256: string): Promise<ArtifactInfo | undefined> {
    try {
      const s = await stat(this.#path(sha256));
      return { sha256, bytes: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  createReadStream(sha256: string, range?: { start: number; end: number }): Readable {
    // 256 KiB reads: fewer chunks through fastify and the socket than the 64 KiB default (models are MBs)
    return createReadStream(this.#path(sha256), {
      highWaterMark: 256 * 1024,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.#path(sha256), { force: true });
  }
}
