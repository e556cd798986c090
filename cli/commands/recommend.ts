/**
 * `edgeloop recommend`: the recommendation service alone — the `recommend` part of the cloud (and the feature
 * store it reads), from the same cloud.yaml. Equivalent to `edgeloop cloud --only recommend` with a `recommend:`
 * section defaulted when the file has none.
 */
import { resolve as resolvePath } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { fromZodIssue, parseFlags } from '../../lib/cli-errors.ts';
import { optionIssues } from '../../lib/options.ts';
import { LOG_FLAG_HELP, LOG_FLAG_OPTIONS } from '../cli-logger.ts';
import { loadConfig } from '../load-config.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import { runCloud } from './cloud.ts';

export const help = `usage: edgeloop recommend [--config cloud.yaml] [options]

Serve recommendations from the feature store (SQLite under dataDir, or SageMaker Feature Store) and the recommender
model: GET /v1/recommendations/:entityId?k=3, POST /v1/recommendations, GET /openapi.json. See docs/recommend.md.

options:
  --config FILE     cloud config (YAML); its recommend: and featureStore: sections apply (default: all defaults)
  --data-dir DIR    where features.db lives (default from the config: ./edgeloop-data)
  --model DIR       serve this model directory as the only variant (default: the config's variants, else the
                    shipped models/default/recommender)
  --trusted-key F   PEM public key trusted for --model (repeatable; default: the shipped default-models key)
  --host HOST       listen address (default 127.0.0.1)
  --port N          listen port (default 8080; 0 = any free port)
${LOG_FLAG_HELP}
Runs beside \`edgeloop cloud\` on the same data directory (it only reads the feature store), so it takes no
data-directory lock.
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('recommend', argv, {
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string' },
      'trusted-key': { type: 'string', multiple: true },
      host: { type: 'string' },
      port: { type: 'string' },
      ...LOG_FLAG_OPTIONS,
    },
  });
  const { CloudConfigSchema } = await import('../../cloud/config.ts');
  const { RecommendConfigSchema } = await import('../../cloud/recommend/config.ts');
  const file = values.config ?? ctx.env.EDGELOOP_CONFIG;
  const overrides: Record<string, unknown> = { only: ['recommend'] };
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  const loaded = loadConfig(CloudConfigSchema, {
    file: file ? resolvePath(ctx.cwd, file) : undefined,
    env: ctx.env,
    overrides,
  });
  const parsed = RecommendConfigSchema.safeParse({
    ...(loaded.recommend ?? {}),
    ...(values.host ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
    ...(values.model
      ? { variants: [{ name: 'default', weight: 1, ref: { dir: resolvePath(ctx.cwd, values.model) } }] }
      : {}),
    ...(values['trusted-key'] ? { trustedKeyFiles: values['trusted-key'].map((f) => resolvePath(ctx.cwd, f)) } : {}),
  });
  if (!parsed.success) {
    const flagged = parsed.error.issues.find((i) => i.path[0] === 'port' || i.path[0] === 'host');
    if (flagged && values[flagged.path[0] as 'port' | 'host'] !== undefined) {
      throw fromZodIssue(
        'recommend',
        `--${String(flagged.path[0])}`,
        values[flagged.path[0] as 'port' | 'host'],
        flagged,
      );
    }
    throw new EdgeloopError(
      'EL_ERR_CONFIG_INVALID',
      `${file ?? '(flags)'}: ${optionIssues(RecommendConfigSchema, parsed.error.issues, { prefix: ['recommend'] }).join('; ')}`,
    );
  }
  return runCloud({ ...loaded, recommend: parsed.data }, ctx, values, { lockDataDir: false });
}
