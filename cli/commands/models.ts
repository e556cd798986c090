import type { CliContext } from '../main.ts';

export const help = 'usage: edgeloop models (being built)';

export async function run(_argv: string[], ctx: CliContext): Promise<number> {
  ctx.stderr.write('edgeloop models: not built yet\n');
  return 1;
}
