/** A CliContext for calling a command in-process: stdout and stderr collected, no environment. */
import { PassThrough } from 'node:stream';
import type { CliContext } from '../../lib/cli-context.ts';

export function memoryCliContext(cwd: string): { ctx: CliContext; out: () => string; err: () => string } {
  const o = new PassThrough();
  const e = new PassThrough();
  let so = '';
  let se = '';
  o.on('data', (c: Buffer) => (so += c.toString()));
  e.on('data', (c: Buffer) => (se += c.toString()));
  return { ctx: { stdout: o, stderr: e, env: {}, cwd }, out: () => so, err: () => se };
}
