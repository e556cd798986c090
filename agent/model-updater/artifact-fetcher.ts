/**
 * ArtifactFetcher: downloads a model artifact into `<stagingDir>/<sha256>.part`, resuming a partial file with an
 * HTTP Range request, retried with backoff. A permanent HTTP error (401, 403, 404, 410) stops at once; the owner's
 * abort signal ends a running download and a pending retry wait.
 */
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_RETRY, type RetryPolicy } from '../../lib/backoff.ts';
import { retry } from '../../lib/retry.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';

export interface ArtifactFetcherOptions {
  /** where partial downloads are kept (created by the owner) */
  stagingDir: string;
  fetch: typeof globalThis.fetch;
  clock: Clock;
  logger: Logger;
  /** maxAttempts counts retries (the first download is not one) */
  retry: Partial<RetryPolicy>;
  /** stall/overall timeout per attempt, ms */
  timeoutMs: number;
  /** aborts every download for good (the owner closes) */
  signal: AbortSignal;
}

export class ArtifactFetcher {
  readonly #o: ArtifactFetcherOptions;

  constructor(opts: ArtifactFetcherOptions) {
    this.#o = opts;
  }

  /** Download to staging/<sha256>.part, resuming a partial file with Range; returns the path of the full file. */
  async download(url: string, manifest: Manifest): Promise<string> {
    const part = join(this.#o.stagingDir, `${manifest.artifact.sha256}.part`);
    // retry.maxAttempts counts retries (the first download is not one); lib/retry.ts counts calls
    const policy = { ...DEFAULT_RETRY, ...this.#o.retry };
    let attempts = 0;
    try {
      await retry(() => this.#downloadOnce(url, part, manifest.artifact.bytes), {
        policy: { ...policy, maxAttempts: policy.maxAttempts + 1 },
        retryable: (err) => !(err as EdgeloopError).details?.permanent,
        clock: this.#o.clock,
        signal: this.#o.signal,
        onFailedAttempt: ({ error, attempt, delayMs }) => {
          attempts = attempt;
          if (delayMs !== undefined)
            this.#o.logger.warn({ err: error, url, delay: delayMs }, 'download failed; retrying');
        },
      });
      return part;
    } catch (err) {
      if (this.#o.signal.aborted) throw err;
      throw new EdgeloopError(
        'EL_ERR_UPDATE_DOWNLOAD',
        `download of ${url} failed after ${attempts} attempts: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async #downloadOnce(url: string, part: string, size: number): Promise<void> {
    let have = 0;
    try {
      have = (await stat(part)).size;
    } catch {
      have = 0;
    }
    if (have > size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have === size) return;
    const signal = AbortSignal.any([this.#o.signal, AbortSignal.timeout(this.#o.timeoutMs)]);
    const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
    const res = await this.#o.fetch(url, { headers, signal });
    if (res.status === 416) {
      await res.body?.cancel();
      await rm(part, { force: true });
      throw new EdgeloopError(
        'EL_ERR_UPDATE_DOWNLOAD',
        `server refused the range from byte ${have} (416); restarting the download`,
      );
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `GET ${url} answered HTTP ${res.status}`, {
        details: {
          status: res.status,
          permanent: res.status === 404 || res.status === 410 || res.status === 403 || res.status === 401,
        },
      });
    }
    let append = false;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!cr || Number(cr[1]) !== have) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw new EdgeloopError(
          'EL_ERR_UPDATE_DOWNLOAD',
          `unexpected Content-Range ${res.headers.get('content-range')} for a resume from ${have}`,
        );
      }
      append = true;
    }
    if (!res.body) throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `GET ${url} has no body`);
    // chunks are written as they arrive, so what came before a broken connection stays for the resume
    const fh = await open(part, append ? 'a' : 'w');
    try {
      let written = append ? have : 0;
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        written += chunk.byteLength;
        if (written > size) break; // longer than the manifest says: checked (and discarded) below
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const got = (await stat(part)).size;
    if (got !== size) {
      if (got > size) await rm(part, { force: true });
      throw new EdgeloopError('EL_ERR_UPDATE_DOWNLOAD', `download ended at ${got} of ${size} bytes`);
    }
  }
}
