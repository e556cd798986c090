/**
 * The `edgeloop` command. Each subcommand lives in cli/commands/<name>.ts and exports
 * `run(argv: string[], ctx: CliContext): Promise<number>` and `help: string`; it parses, validates with the same
 * schema as the code's options, builds, starts and handles signals, nothing else.
 * Modules load lazily so `edgeloop models ...` never loads the MQTT stack and vice versa.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import { fromParseArgsError, isUsageError, usageError, USAGE_EXIT_CODE } from '../lib/cli-errors.ts';
import type { CliContext, CommandModule } from '../lib/cli-context.ts';

/** `service(rest)`: whether these arguments run a long-running service (see cli/unhandled-rejections.ts) */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<CommandModule>; service?: (rest: string[]) => boolean }
> = {
  up: {
    summary: 'run the whole loop on one machine: cloud, a simulated fleet and the dashboard',
    load: () => import('./commands/up.ts'),
    service: () => true,
  },
  agent: {
    summary: 'run the edge agent (--config agent.yaml)',
    load: () => import('./commands/agent.ts'),
    service: (r) => !r.includes('--check'),
  },
  cloud: {
    summary: 'run the cloud components (--config cloud.yaml [--only ingest,processor])',
    load: () => import('./commands/cloud.ts'),
    service: (r) => r[0] !== 'hash-password' && !r.includes('--check'),
  },
  models: {
    summary: 'train, export, sign, verify, score and evaluate models',
    load: () => import('./commands/models.ts'),
  },
  features: {
    summary: 'inspect the feature store (features get DEVICE)',
    load: () => import('./commands/features.ts'),
  },
  dlq: { summary: 'inspect the dead-letter store (dlq list)', load: () => import('./commands/dlq.ts') },
  warehouse: {
    summary: 'the fleet warehouse: refresh, check, query, report',
    load: () => import('./commands/warehouse.ts'),
  },
  registry: {
    summary: 'model registry: push, list, show, alias',
    load: () => import('./commands/registry.ts'),
    service: (r) => r[0] === 'serve',
  },
  rollout: {
    summary: 'roll a model out to the fleet: start, status, promote, rollback, abort',
    load: () => import('./commands/rollout.ts'),
    service: (r) => r[0] === 'serve',
  },
  recommend: {
    summary: 'run the recommendation service alone',
    load: () => import('./commands/recommend.ts'),
    service: () => true,
  },
  sim: { summary: 'fleet simulator: virtual devices, faults, load report', load: () => import('./commands/sim.ts') },
  drift: {
    summary: 'drift monitors: state per device and cohort, latest drift events (drift status)',
    load: () => import('./commands/drift.ts'),
  },
  retrain: {
    summary: "retrain the anomaly model on the cloud's history, champion/challenger (retrain run|status|history|key)",
    load: () => import('./commands/retrain.ts'),
  },
  plan: {
    summary: 'capacity and monthly cost of a fleet on AWS and on one VM (--devices N | --fleet FILE)',
    load: () => import('./commands/plan.ts'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: edgeloop <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`),
    '',
    "edgeloop <command> --help shows a command's options.",
  ].join('\n');
}

export async function main(argv: string[], ctx?: Partial<CliContext>): Promise<number> {
  const c: CliContext = {
    stdout: ctx?.stdout ?? process.stdout,
    stderr: ctx?.stderr ?? process.stderr,
    env: ctx?.env ?? process.env,
    cwd: ctx?.cwd ?? process.cwd(),
  };
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    (name ? c.stdout : c.stderr).write(usage() + '\n');
    return name ? 0 : USAGE_EXIT_CODE;
  }
  if (name === '--version' || name === '-v') {
    const { PACKAGE_VERSION } = await import('../lib/package-root.ts');
    c.stdout.write(PACKAGE_VERSION + '\n');
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const e = usageError(name, 'unknown command', `one of ${Object.keys(COMMANDS).join(', ')}; see edgeloop --help`);
    c.stderr.write(`${e.message}\n`);
    return USAGE_EXIT_CODE;
  }
  let mod: CommandModule;
  try {
    mod = await entry.load();
  } catch (err) {
    c.stderr.write(`edgeloop ${name}: not available in this build (${(err as Error).message})\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    c.stdout.write(mod.help.trimEnd() + '\n');
    return 0;
  }
  // process-wide, so only for a real process (an embedding caller passing its own streams keeps its handlers)
  const { installRejectionHandler } = await import('./unhandled-rejections.ts');
  const uninstall = ctx?.stderr
    ? () => {}
    : installRejectionHandler({
        command: name,
        service: entry.service?.(rest) ?? false,
        logger: await rejectionLogger(c),
      });
  try {
    return await mod.run(rest, c);
  } catch (caught) {
    const err = fromParseArgsError(name, caught);
    if (isUsageError(err)) {
      c.stderr.write(`${err.message}\n`);
      return USAGE_EXIT_CODE;
    }
    c.stderr.write(`edgeloop ${name}: ${formatError(err)}\n`);
    if (c.env.EDGELOOP_DEBUG) c.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  } finally {
    uninstall();
  }
}

/** The rejection handler's logger: errors only, in the command's log format (a bad EDGELOOP_LOG_FORMAT: auto). */
async function rejectionLogger(c: CliContext) {
  const { createCliLogger, LOG_FORMATS } = await import('../lib/logger.ts');
  const f = c.env.EDGELOOP_LOG_FORMAT;
  return createCliLogger({
    level: 'error',
    format: (LOG_FORMATS as readonly (string | undefined)[]).includes(f) ? (f as 'json' | 'pretty') : 'auto',
  });
}

export function formatError(err: unknown): string {
  if (err instanceof EdgeloopError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.message;
  return String(err);
}
