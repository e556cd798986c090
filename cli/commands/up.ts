import type { CliContext } from '../main.ts';

export const help = 'usage: edgeloop up (being built)';

export async function run(_argv: string[], ctx: CliContext): Promise<number> {
  ctx.stderr.write('edgeloop up: not built yet\n');
  return 1;
}
