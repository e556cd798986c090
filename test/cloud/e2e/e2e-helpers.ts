/** Shared pieces of the cloud end-to-end tests: temp dirs, CLI capture, polling a condition. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { onTestFinished } from 'vitest';
import { main } from '../../../cli/main.ts';

export function tempDir(prefix = 'edgeloop-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Run `edgeloop ...` in-process and capture its output. */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void): Writable =>
    new Writable({
      write(chunk, _enc, cb) {
        f(String(chunk));
        cb();
      },
    });
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env: {} });
  return { code, stdout, stderr };
}

/** Re-check `probe` until it returns a value (not undefined) or the time runs out. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Features of a device through `edgeloop features get --json`, once `ready` accepts them. */
export async function featuresWhen(
  dataDir: string,
  deviceId: string,
  ready: (f: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const r = await cli(['features', 'get', deviceId, '--data-dir', dataDir, '--json']);
      if (r.code !== 0) return undefined;
      const rec = JSON.parse(r.stdout) as { features: Record<string, unknown> };
      return ready(rec.features) ? rec.features : undefined;
    },
    `features of ${deviceId}`,
    timeoutMs,
  );
}
