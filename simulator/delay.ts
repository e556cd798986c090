/**
 * The simulator's waits: a delay that an AbortSignal ends at once (rejecting with EL_ERR_CLOSED "simulation
 * aborted"), and a promise raced against the same signal.
 */
import { EdgeloopError } from '../protocol/errors.ts';

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function withAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => signal.addEventListener('abort', () => reject(abortError()), { once: true })),
  ]);
}

export function abortError(): Error {
  return new EdgeloopError('EL_ERR_CLOSED', 'simulation aborted');
}
