/**
 * `edgeloop plan`: capacity and cost of a fleet, for the AWS form and for one VM (cloud/plan/). Wiring only:
 * flags and the fleet file → FleetSpec, the price table, planFleet, then text or JSON.
 */
import { relative, resolve } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { numberFlag, parsedFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { loadConfig } from '../load-config.ts';

export const help = `usage: edgeloop plan [--fleet FILE] [options] [--json]

What a fleet needs on AWS (IoT Core messages and connections, Kinesis shards, Lambda invocations, concurrency and
GB-seconds, Feature Store writes, S3 bytes a day), what it costs a month and per reading, where the cost goes, and
the same fleet on one VM running edgeloop cloud. Prices come from a dated table (us-east-1 list prices, each with
its source page); a price the table does not have is shown unpriced. See docs/plan.md.

options (each overrides the fleet file):
  --fleet FILE                 fleet description, YAML or JSON (every field: docs/plan.md)
  --devices N                  devices
  --readings-per-second R      readings per device per second (default 1)
  --reading-bytes B            JSON bytes per reading in a message (default 60)
  --batch-size N               readings per MQTT message (default 1)
  --windows S[,S...]           processor windows, seconds (default 60)
  --retention-days D           days of offline history and archive (default 30)
  --models N                   models per device (default 1)
  --prices FILE                price table (default cloud/plan/prices-us-east-1.json)
  --json                       the whole plan as JSON

exit status: 0 planned, 1 a hard AWS limit is broken (EL_ERR_PLAN_LIMIT) or a file is bad, 2 wrong flags.
`;

/** flag → fleet field, for loadConfig's error messages */
const FLAG_NAMES: Record<string, string> = {
  devices: '--devices',
  readingsPerSecond: '--readings-per-second',
  readingBytes: '--reading-bytes',
  batchSize: '--batch-size',
  windows: '--windows',
  retentionDays: '--retention-days',
  'models.count': '--models',
};

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('plan', argv, {
    options: {
      fleet: { type: 'string' },
      devices: { type: 'string' },
      'readings-per-second': { type: 'string' },
      'reading-bytes': { type: 'string' },
      'batch-size': { type: 'string' },
      windows: { type: 'string' },
      'retention-days': { type: 'string' },
      models: { type: 'string' },
      prices: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [{ FleetSpecSchema }, { planFleet }, { formatPlan }, { DEFAULT_PRICE_FILE, loadPriceTable }] =
    await Promise.all([
      import('../../cloud/plan/fleet-spec.ts'),
      import('../../cloud/plan/plan.ts'),
      import('../../cloud/plan/format-plan.ts'),
      import('../../cloud/plan/prices.ts'),
    ]);
  const n = (flag: string, v: string | undefined): number | undefined => numberFlag('plan', flag, v);
  const overrides: Record<string, unknown> = {
    devices: n('--devices', values.devices),
    readingsPerSecond: n('--readings-per-second', values['readings-per-second']),
    readingBytes: n('--reading-bytes', values['reading-bytes']),
    batchSize: n('--batch-size', values['batch-size']),
    windows:
      values.windows === undefined
        ? undefined
        : parsedFlag('plan', '--windows', values.windows, parseWindows, 'seconds, comma-separated, e.g. 60,300'),
    retentionDays: n('--retention-days', values['retention-days']),
    'models.count': n('--models', values.models),
  };
  if (values.fleet === undefined && overrides.devices === undefined)
    throw usageError('plan', 'no fleet', '--devices N, or --fleet FILE');
  // only the flags given: a field missing from the file is the file's error, not a flag's
  const names = Object.fromEntries(Object.entries(FLAG_NAMES).filter(([k]) => overrides[k] !== undefined));
  const fleet = loadConfig(FleetSpecSchema, {
    file: values.fleet === undefined ? undefined : resolve(ctx.cwd, values.fleet),
    env: {},
    overrides,
    flags: { command: 'plan', names },
  });
  const priceFile = values.prices === undefined ? DEFAULT_PRICE_FILE : resolve(ctx.cwd, values.prices);
  const plan = planFleet(fleet, loadPriceTable(priceFile));
  if (values.json) ctx.stdout.write(JSON.stringify({ fleet, ...plan }, null, 2) + '\n');
  else ctx.stdout.write(formatPlan(plan, fleet, relative(ctx.cwd, priceFile) || priceFile));
  return 0;
}

function parseWindows(v: string): number[] {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error('bad window');
  return out;
}
