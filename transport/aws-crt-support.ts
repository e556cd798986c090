/** What the AWS IoT transport needs around aws-crt: reading PEMs, freeing native handles, normalising its values. */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EdgeloopError } from '../protocol/errors.ts';
import { toBuffer } from './transport-options.ts';

/** A PEM given inline or as a file path (read when the client is built). */
export function readPem(
  what: string,
  inline: string | Uint8Array | undefined,
  path: string | undefined,
): string | undefined {
  if (inline !== undefined) return toBuffer(inline).toString('utf8');
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_CONFIG_INVALID',
      `AwsIotTransport: cannot read ${what} ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/*
 * aws-crt (1.33) frees a client's native side -- including the N-API thread-safe functions that keep Node's event
 * loop alive -- only when the JS wrapper is garbage-collected, even after stop() and close()
 * (awslabs/aws-crt-nodejs#600). An idle process never collects it, so it never exits. After close() we drop our
 * last reference and run one full GC. `gc` is taken from globalThis (node --expose-gc) or obtained the way Jest's
 * leak detector does (v8.setFlagsFromString('--expose-gc') + vm.runInNewContext('gc')). One full GC per close()
 * costs tens of milliseconds, once, at shutdown; set releaseNativeOnClose: false to skip it.
 */
let gcFn: (() => void) | null | undefined;
export function collectGarbage(): void {
  if (gcFn === undefined) {
    gcFn = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gcFn) {
      try {
        v8.setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  gcFn?.();
}

export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  const o = (e ?? {}) as { error_name?: string; message?: string };
  return new Error(o.message ?? o.error_name ?? String(e));
}

export function toPayloadBuffer(p: unknown): Buffer {
  if (Buffer.isBuffer(p)) return p;
  // aws-crt 1.33 hands an empty payload (e.g. a retained message being cleared) over as a *detached* zero-length
  // ArrayBuffer, which Buffer.from() cannot wrap: "Cannot perform Construct on a detached ArrayBuffer"
  if (p instanceof ArrayBuffer) return p.byteLength === 0 ? Buffer.alloc(0) : Buffer.from(p);
  if (ArrayBuffer.isView(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.from(JSON.stringify(p));
}
