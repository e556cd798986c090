/**
 * `edgeloop features get DEVICE [--group NAME]`: print a device's current feature record from the local SQLite
 * feature store (<dataDir>/features.db). Safe while `edgeloop cloud` runs (SQLite WAL readers).
 */
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { loadConfig } from '../load-config.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseFlags, usageError } from '../../lib/cli-errors.ts';

export const help = `usage: edgeloop features get DEVICE [options]

Print the current features of one device (entity) from the local feature store.

options:
  --group NAME        feature group (default: device_features, the processor's group)
  --feature NAME      only this feature (repeatable)
  --json              print the record as JSON
  --config FILE       cloud config, for dataDir (or EDGELOOP_CONFIG)
  --data-dir DIR      the cloud's data directory (default: dataDir of the config, ./.edgeloop/cloud, where
                      \`edgeloop up\` and \`edgeloop cloud\` keep it)

exit status: 0 found, 3 no record (or expired by TTL), 1 no feature store in the data directory or another
error, 2 wrong flags.
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('features', argv, {
    options: {
      group: { type: 'string', default: 'device_features' },
      feature: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [sub, device, ...extra] = positionals;
  if (sub !== 'get' || !device || extra.length > 0) {
    const what =
      sub !== 'get'
        ? sub === undefined
          ? 'missing subcommand'
          : `unknown subcommand ${JSON.stringify(sub)}`
        : !device
          ? 'missing DEVICE'
          : `unexpected argument ${JSON.stringify(extra[0])}`;
    throw usageError('features', what, 'features get DEVICE [--group NAME]; see edgeloop features --help');
  }
  const { paths } = await resolveDataDir(values, ctx);
  requireStore(paths.features, 'feature store', paths.dataDir, 'has the processor run there?');
  const { SqliteFeatureStore } = await import('../../cloud/feature-store/sqlite-feature-store.ts');
  const store = new SqliteFeatureStore({ path: paths.features, synchronous: 'NORMAL', pruneIntervalMs: 2 ** 31 - 1 });
  await store.start();
  try {
    const rec = await store.get(values.group, device, values.feature);
    if (!rec) {
      ctx.stderr.write(`edgeloop features: no features for ${device} in group ${values.group}\n`);
      return NO_RECORD_EXIT_CODE;
    }
    if (values.json) {
      ctx.stdout.write(JSON.stringify({ group: values.group, ...rec }, null, 2) + '\n');
      return 0;
    }
    const names = Object.keys(rec.features).sort();
    const width = Math.max(7, ...names.map((n) => n.length));
    const lines = [`${device}  group ${values.group}  event time ${new Date(rec.eventTime).toISOString()}`];
    for (const n of names) lines.push(`  ${n.padEnd(width)}  ${formatValue(rec.features[n])}`);
    ctx.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}

function formatValue(v: unknown): string {
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Number(v.toPrecision(6)));
  return v === null ? 'null' : String(v);
}

/** `features get` found no record: distinct from 1 (error) and 2 (wrong flags) */
export const NO_RECORD_EXIT_CODE = 3;

/** An inspection command needs an existing store file: say which, where, and exit 1 (EL_ERR_CLI_NO_STORE). */
export function requireStore(path: string, what: string, dataDir: string, hint = 'has the cloud run there?'): void {
  if (existsSync(path)) return;
  throw new EdgeloopError(
    'EL_ERR_CLI_NO_STORE',
    `no ${what} in ${dataDir} (${path} does not exist): is --data-dir right? ${hint}`,
    { details: { path, dataDir } },
  );
}

/** dataDir from --data-dir, else from the config (file + env), else the default. Shared with `edgeloop dlq`. */
export async function resolveDataDir(
  values: { config?: string | undefined; 'data-dir'?: string | undefined },
  ctx: CliContext,
) {
  const { CloudConfigSchema, cloudPaths } = await import('../../cloud/config.ts');
  const file = values.config ?? ctx.env.EDGELOOP_CONFIG;
  const config = loadConfig(CloudConfigSchema, {
    file: file ? resolvePath(ctx.cwd, file) : undefined,
    env: ctx.env,
    overrides: values['data-dir'] ? { dataDir: values['data-dir'] } : {},
  });
  return { config, paths: cloudPaths(config, ctx.cwd) };
}
