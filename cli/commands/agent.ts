/**
 * `edgeloop agent --config agent.yaml`: load and validate the config (file + EDGELOOP_* env), build the agent,
 * start it, and stop it cleanly on SIGTERM / SIGINT (stop intake, drain for shutdown.drainTimeoutMs, close).
 * A second signal during shutdown exits at once (what is not drained stays in the outbox).
 */
import type { CliContext } from '../../lib/cli-context.ts';
import { stopOnSignal, type SignalStop } from '../stop-on-signal.ts';
import { loadConfig } from '../load-config.ts';
import type { Logger } from '../../lib/logger.ts';
import { cliLogger, LOG_FLAG_HELP, LOG_FLAG_OPTIONS } from '../cli-logger.ts';
import { flagError, parseFlags } from '../../lib/cli-errors.ts';
import { acquireDataDirLock } from '../../lib/data-dir-lock.ts';

export const help = `usage: edgeloop agent --config FILE [options]

Run the edge agent: accept readings (simulated, stdin, HTTP, UNIX socket, CSV replay) into a durable SQLite
outbox, score them with the ONNX anomaly model, publish telemetry and events over MQTT or AWS IoT Core.

options:
  --config FILE       agent config (YAML); see docs/agent.example.yaml and docs/agent.md
  --device-id ID      override deviceId
  --stdin             also read JSON lines from standard input (stops the agent at end of input)
  --check             validate the config, print it as JSON and exit
${LOG_FLAG_HELP}
environment:
  EDGELOOP_<FIELD>    override any field, levels joined by __: EDGELOOP_TRANSPORT__URL=mqtt://host:1883,
                      EDGELOOP_OUTBOX__DURABILITY=full, EDGELOOP_DEVICE_ID=pump-7
  EDGELOOP_CONFIG     config file when --config is not given

The data directory is locked while the agent runs (<dataDir>/edgeloop.lock): a second agent on it exits with
EL_ERR_DATA_DIR_LOCKED naming the PID that holds it.

exit status: 0 stopped cleanly, 1 error, 2 wrong flags.
signals: SIGTERM / SIGINT stop intake, drain the outbox (shutdown.drainTimeoutMs), close; a second one exits now.
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values: args } = parseFlags('agent', argv, {
    options: {
      config: { type: 'string', short: 'c' },
      'device-id': { type: 'string' },
      stdin: { type: 'boolean' },
      check: { type: 'boolean' },
      ...LOG_FLAG_OPTIONS,
    },
  });
  const file = args.config ?? ctx.env.EDGELOOP_CONFIG;
  if (!file) throw flagError('agent', '--config', 'missing', 'FILE, or EDGELOOP_CONFIG set');
  const { AgentConfigSchema } = await import('../../agent/config.ts');
  const overrides: Record<string, unknown> = {};
  if (args['device-id']) overrides.deviceId = args['device-id'];
  if (args.stdin) overrides['sources.stdin'] = true;
  if (args['log-level']) overrides.logLevel = args['log-level'];
  const { resolve: resolvePath } = await import('node:path');
  const config = loadConfig(AgentConfigSchema, {
    file: resolvePath(ctx.cwd, file),
    env: ctx.env,
    overrides,
    flags: { command: 'agent', names: { deviceId: '--device-id', logLevel: '--log-level' } },
  });
  if (args.check) {
    ctx.stdout.write(JSON.stringify(config, null, 2) + '\n');
    return 0;
  }
  const logger = cliLogger('agent', ctx, args, config.logLevel);
  // one agent per data directory: a second one would share the outbox and fight over the broker session
  const lock = acquireDataDirLock({
    dir: resolvePath(ctx.cwd, config.dataDir),
    command: `edgeloop agent (device ${config.deviceId})`,
    logger,
  });
  try {
    return await runAgent(config, logger, ctx);
  } finally {
    lock.release();
  }
}

async function runAgent(
  config: import('../../agent/config.ts').AgentConfig,
  logger: Logger,
  ctx: CliContext,
): Promise<number> {
  const { createAgent } = await import('../../agent/create-agent.ts');
  let signals: SignalStop | undefined;
  const agent = createAgent({
    config,
    logger,
    onSourceEnd: (name) => {
      if (name === 'stdin') void signals?.stop('end of standard input');
    },
  });
  signals = stopOnSignal(logger, () => agent.close(), 'undrained records stay in the outbox');
  try {
    await agent.start();
    ctx.stderr.write(
      `edgeloop agent: ${config.deviceId} running (outbox ${config.outbox.path ?? config.dataDir + '/outbox.db'}, ${config.transport.kind})\n`,
    );
    return await signals.done;
  } finally {
    signals.dispose();
  }
}
