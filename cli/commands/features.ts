import type { CliContext } from '../main.ts';

export const help = 'usage: edgeloop features (being built)';

export async function run(_argv: string[], ctx: CliContext): Promise<number> {
  ctx.stderr.write('edgeloop features: not built yet\n');
  return 1;
}
