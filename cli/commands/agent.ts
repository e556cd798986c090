/**
 * `edgeloop agent --config agent.yaml`: load and validate the config (file + EDGELOOP_* env), build the agent,
 * start it, and stop it cleanly on SIGTERM / SIGINT (stop intake, drain for shutdown.drainTimeoutMs, close).
 * A second signal during shutdown exits at once (what is not drained stays in the outbox).
 */
import type { CliContext } from '../main.ts';
import { stopOnSignal, type SignalStop } from '../stop-on-signal.ts';
import { loadConfig } from '../load-config.ts';
import { createCliLogger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

export const help = `usage: edgeloop agent --config FILE [options]

Run the edge agent: accept readings (simulated, stdin, HTTP, UNIX socket, CSV replay) into a durable SQLite
outbox, score them with the ONNX anomaly model, publish telemetry and events over MQTT or AWS IoT Core.

options:
  --config FILE       agent config (YAML); see docs/agent.example.yaml and docs/agent.md
  --device-id ID      override deviceId
  --stdin             also read JSON lines from standard input (stops the agent at end of input)
  --check             validate the config, print it as JSON and exit
  --log-level LEVEL   fatal|error|warn|info|debug|trace|silent (default: logLevel of the config, or EDGELOOP_LOG_LEVEL)

environment:
  EDGELOOP_<FIELD>    override any field, levels joined by __: EDGELOOP_TRANSPORT__URL=mqtt://host:1883,
                      EDGELOOP_OUTBOX__DURABILITY=full, EDGELOOP_DEVICE_ID=pump-7
  EDGELOOP_CONFIG     config file when --config is not given

signals: SIGTERM / SIGINT stop intake, drain the outbox (shutdown.drainTimeoutMs), close; a second one exits now.
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseArgs(argv);
  const file = args.config ?? ctx.env.EDGELOOP_CONFIG;
  if (!file) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', '--config FILE is required (or EDGELOOP_CONFIG)');
  const { AgentConfigSchema } = await import('../../agent/config.ts');
  const overrides: Record<string, unknown> = {};
  if (args.deviceId) overrides.deviceId = args.deviceId;
  if (args.stdin) overrides['sources.stdin'] = true;
  if (args.logLevel) overrides.logLevel = args.logLevel;
  const { resolve: resolvePath } = await import('node:path');
  const config = loadConfig(AgentConfigSchema, { file: resolvePath(ctx.cwd, file), env: ctx.env, overrides });
  if (args.check) {
    ctx.stdout.write(JSON.stringify(config, null, 2) + '\n');
    return 0;
  }
  const logger = createCliLogger(args.logLevel ?? ctx.env.EDGELOOP_LOG_LEVEL ?? config.logLevel);
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
    ctx.stderr.write(`edgeloop agent: ${config.deviceId} running (outbox ${config.outbox.path ?? config.dataDir + '/outbox.db'}, ${config.transport.kind})\n`);
    return await signals.done;
  } finally {
    signals.dispose();
  }
}

interface Args {
  config?: string;
  deviceId?: string;
  stdin?: boolean;
  check?: boolean;
  logLevel?: string;
}

function parseArgs(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--config':
      case '-c':
        out.config = value();
        break;
      case '--device-id':
        out.deviceId = value();
        break;
      case '--stdin':
        out.stdin = true;
        break;
      case '--check':
        out.check = true;
        break;
      case '--log-level':
        out.logLevel = value();
        break;
      default:
        throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `unknown option ${a} (see edgeloop agent --help)`);
    }
  }
  return out;
}
