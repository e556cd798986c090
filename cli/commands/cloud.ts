/**
 * `edgeloop cloud --config cloud.yaml [--only ingest,processor]`: load and validate the cloud config, build the
 * parts (cloud/create-cloud.ts), start them in dependency order, print where they listen, and close them in
 * reverse order on SIGTERM / SIGINT. `edgeloop cloud hash-password` makes a credentials-file entry.
 */
import { resolve as resolvePath } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { serveUntilSignal } from '../stop-on-signal.ts';
import { loadConfig } from '../load-config.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseFlags } from '../../lib/cli-errors.ts';
import { acquireDataDirLock } from '../../lib/data-dir-lock.ts';
import { cliLogger, LOG_FLAG_HELP, LOG_FLAG_OPTIONS, type LogFlags } from '../cli-logger.ts';

export const help = `usage: edgeloop cloud [--config FILE] [options]
       edgeloop cloud hash-password [--password PW]   (reads the password from stdin when not given)

Run the cloud side in one process: embedded MQTT broker (or an external one), ingest (validate, dedup, DLQ),
stream (SQLite or Kinesis), stream processor, feature store, /healthz and Prometheus /metrics.

options:
  --config FILE       cloud config (YAML); see docs/cloud.example.yaml and docs/cloud.md (default: all defaults)
  --only PARTS        comma-separated parts to run (plus what they require):
                      dlq, stream, feature-store, ingest, broker, processor, recommend, http
  --data-dir DIR      override dataDir (where stream.db, features.db, dlq.db, ingest-dedup.db live)
  --check             validate the config, print it as JSON and exit
${LOG_FLAG_HELP}
environment:
  EDGELOOP_<FIELD>    override any field, levels joined by __: EDGELOOP_BROKER__EMBEDDED__PORT=1884,
                      EDGELOOP_HTTP__PORT=0, EDGELOOP_DATA_DIR=/var/lib/edgeloop
  EDGELOOP_CONFIG     config file when --config is not given

The data directory is locked while the cloud runs (<dataDir>/edgeloop.lock): a second cloud on it exits with
EL_ERR_DATA_DIR_LOCKED naming the PID that holds it.

exit status: 0 stopped cleanly, 1 error, 2 wrong flags.
signals: SIGTERM / SIGINT stop intake, flush accepted messages to the stream, close every part; a second one
exits at once (unacknowledged messages are redelivered by the devices).
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  if (argv[0] === 'hash-password') return hashPasswordCommand(argv.slice(1), ctx);
  const { values } = parseFlags('cloud', argv, {
    options: {
      config: { type: 'string' },
      only: { type: 'string' },
      'data-dir': { type: 'string' },
      check: { type: 'boolean' },
      ...LOG_FLAG_OPTIONS,
    },
  });
  const { CloudConfigSchema } = await import('../../cloud/config.ts');
  const file = values.config ?? ctx.env.EDGELOOP_CONFIG;
  const overrides: Record<string, unknown> = {};
  if (values.only)
    overrides.only = values.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  if (values['log-level']) overrides.logLevel = values['log-level'];
  const config = loadConfig(CloudConfigSchema, {
    file: file ? resolvePath(ctx.cwd, file) : undefined,
    env: ctx.env,
    overrides,
    flags: { command: 'cloud', names: { only: '--only', dataDir: '--data-dir', logLevel: '--log-level' } },
  });
  if (values.check) {
    ctx.stdout.write(JSON.stringify(config, null, 2) + '\n');
    return 0;
  }
  return runCloud(config, ctx, values, { lockDataDir: true });
}

/**
 * Build, start and serve a cloud until SIGTERM / SIGINT (also used by `edgeloop recommend`, which only reads the
 * feature store and so runs beside a cloud on the same data directory: `lockDataDir: false`).
 */
export async function runCloud(
  config: import('../../cloud/config.ts').CloudConfig,
  ctx: CliContext,
  logFlags: LogFlags,
  o: { lockDataDir: boolean },
): Promise<number> {
  const logger = cliLogger('cloud', ctx, logFlags, config.logLevel);
  const { createCloud } = await import('../../cloud/create-cloud.ts');
  const { cloudPaths } = await import('../../cloud/config.ts');
  const lock = o.lockDataDir
    ? acquireDataDirLock({ dir: cloudPaths(config, ctx.cwd).dataDir, command: 'edgeloop cloud', logger })
    : undefined;
  try {
    return await serveCloud(config, ctx, logger, createCloud);
  } finally {
    lock?.release();
  }
}

async function serveCloud(
  config: import('../../cloud/config.ts').CloudConfig,
  ctx: CliContext,
  logger: import('../../lib/logger.ts').Logger,
  createCloud: typeof import('../../cloud/create-cloud.ts').createCloud,
): Promise<number> {
  // The parts' own timers do not hold the process open (the processor's idle waits are unref()'d), so a cloud with
  // nothing listening (e.g. --only processor with HTTP off) would let the event loop drain and Node exit with 13
  // (unsettled top-level await): the cloud holds the process while it runs (the kernel's keepAlive).
  const cloud = createCloud(config, { logger, cwd: ctx.cwd, keepAlive: true });
  const announce = (): void => {
    const parts = [...cloud.parts.keys()].join(', ');
    const lines = [`edgeloop cloud running: ${parts}`];
    if (cloud.urls.mqtt) lines.push(`  mqtt    ${cloud.urls.mqtt}`);
    if (cloud.urls.mqtts) lines.push(`  mqtts   ${cloud.urls.mqtts}`);
    if (cloud.urls.http) lines.push(`  http    ${cloud.urls.http}/healthz  ${cloud.urls.http}/metrics`);
    const rec = cloud.parts.get('recommend') as { url?: string } | undefined;
    if (rec?.url) lines.push(`  recommend ${rec.url}/v1/recommendations/{entityId}  ${rec.url}/openapi.json`);
    const maint = cloud.parts.get('maintenance') as { url?: string } | undefined;
    if (maint?.url) lines.push(`  maintenance ${maint.url}/v1/devices/{id}/rul  ${maint.url}/openapi.json`);
    ctx.stdout.write(lines.join('\n') + '\n');
  };
  return serveUntilSignal(logger, cloud, announce, 'unacknowledged messages are redelivered by the devices');
}

async function hashPasswordCommand(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('cloud hash-password', argv, { options: { password: { type: 'string' } } });
  let pw = values.password;
  if (pw === undefined) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    pw = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  if (!pw) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'empty password (pass --password or pipe it on stdin)');
  const { hashPassword } = await import('../../cloud/broker/password-hash.ts');
  ctx.stdout.write((await hashPassword(pw)) + '\n');
  return 0;
}
