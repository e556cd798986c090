/**
 * `edgeloop up` (what `npm start` runs): the whole loop on one machine. Starts the embedded cloud (broker with
 * authentication, ingest, stream, processor, feature store, and the recommendation service, the maintenance part
 * (RUL per device) and registry when this build has them), a simulated fleet (default 50 real agents, each with its SQLite outbox and ONNX inference), and
 * the live dashboard; prints the URLs; Ctrl-C stops everything in reverse order.
 *
 * Parts that are not in this build are reported as missing and the rest still runs.
 *
 * The parts and their order are in cli/up/parts.ts; this file parses the flags, prints the URLs and waits for a signal.
 *
 * Model rollouts work against it as docs/rollout.md says: the registry (default port 8081) and the rollout
 * controller (8082) listen where the `edgeloop registry` / `edgeloop rollout` commands look by default, both the
 * registry and the fleet's agents trust the shipped key and every `*.pub` in `<dataDir>/keys` (where
 * `edgeloop models keygen` writes by default), and the agents take model updates.
 */
import { randomBytes } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { choiceFlag, flagError, numberFlag, parsedFlag, parseFlags } from '../../lib/cli-errors.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import { startUp } from '../up/parts.ts';
import type { UpOptions } from '../up/types.ts';

export type { UpOptions } from '../up/types.ts';
export type { UpHandle } from '../up/parts.ts';
export { startUp } from '../up/parts.ts';

export const help = `usage: edgeloop up [options]

Runs the whole edgeloop loop on this machine and serves a live dashboard:
embedded MQTT broker → ingest → stream → processor → feature store → recommendations, and remaining useful life
for devices that report the RUL model's sensors, with a simulated fleet of edge agents publishing telemetry and
anomaly events. Ctrl-C stops everything.

  --devices N        simulated devices (default 50)
  --mode agent|light agent: real edge agents (SQLite outbox + ONNX inference each, default);
                     light: lightweight simulated devices (thousands)
  --port P           dashboard port (default 8080; a free port is used when 8080 is taken; 0 = any free port)
  --registry-port P  model registry port (default 8081, where \`edgeloop registry\` looks; taken = a free port)
  --rollout-port P   rollout controller port (default 8082, where \`edgeloop rollout\` looks; taken = a free port)
  --host H           dashboard listen address (default 127.0.0.1)
  --data-dir DIR     where all state lives (default ./.edgeloop; the cloud's stores in DIR/cloud); locked while up runs
  --rate R           messages per second per device (default 1)
  --fault-every T    one random fault somewhere in the fleet every T on average (default 6s; 0 = none)
  --no-fleet         run the cloud and the dashboard only (connect your own devices)
  --seed S           PRNG seed of the simulated signals and faults (default: random)
  --scenario drift   after --shift-at, 40 % of the fleet reads its process temperature 2.5 σ high (a sensor
                     recalibration): watch drift detected, a challenger retrained, shadowed, canaried and promoted
                     (docs/keep-models-fresh.md); the report goes to DIR/loop-report.json when up stops
  --scenario degradation  every device wears toward failure like a C-MAPSS engine (one message = one cycle; its
                     life 128-362 cycles, seeded; it stops at failure): watch the RUL countdowns and maintenance
                     alerts of the dashboard's RUL panel (docs/predict-maintenance.md); no random faults
  --shift-at T       when the drift scenario's shift sets in (default 3m)
  --approve auto|manual  a retrained candidate that passes its shadow stage goes on by itself (auto, default)
                     or waits for \`edgeloop rollout approve\` (manual)
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFlags('up', argv, {
    options: {
      devices: { type: 'string' },
      mode: { type: 'string' },
      port: { type: 'string' },
      'registry-port': { type: 'string' },
      'rollout-port': { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      rate: { type: 'string' },
      'fault-every': { type: 'string' },
      'no-fleet': { type: 'boolean' },
      seed: { type: 'string' },
      scenario: { type: 'string' },
      'shift-at': { type: 'string' },
      approve: { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined, dflt: number, min: number, max: number, integer = true): number =>
    numberFlag('up', `--${name}`, v, { min, max, integer }) ?? dflt;
  const mode = choiceFlag('up', '--mode', values.mode, ['agent', 'light']) ?? 'agent';
  const { parseSeconds } = await import('../../simulator/simulation-options.ts');
  const opts: UpOptions = {
    devices: num('devices', values.devices, 50, 0, 100_000),
    mode,
    port: values.port === undefined ? undefined : num('port', values.port, 8080, 0, 65535),
    registryPort:
      values['registry-port'] === undefined ? undefined : num('registry-port', values['registry-port'], 8081, 0, 65535),
    rolloutPort:
      values['rollout-port'] === undefined ? undefined : num('rollout-port', values['rollout-port'], 8082, 0, 65535),
    host: values.host ?? '127.0.0.1',
    dataDir: resolve(ctx.cwd, values['data-dir'] ?? DEFAULT_DATA_DIRS.root),
    rate: num('rate', values.rate, 1, 0.01, 100, false),
    faultEverySec:
      values['fault-every'] === undefined
        ? 6
        : parsedFlag(
            'up',
            '--fault-every',
            values['fault-every'],
            (v) => parseSeconds(v, '--fault-every'),
            'a duration: 6, 6s, 500ms, 2m; 0 = none',
          ),
    fleet: !values['no-fleet'],
    seed: values.seed === undefined ? randomBytes(4).readUInt32LE(0) : num('seed', values.seed, 1, 0, 2 ** 32 - 1),
    scenario: choiceFlag('up', '--scenario', values.scenario, ['drift', 'degradation']),
    approve: choiceFlag('up', '--approve', values.approve, ['auto', 'manual']),
    ...(values['shift-at'] === undefined
      ? {}
      : {
          shift: {
            onsetSec: parsedFlag(
              'up',
              '--shift-at',
              values['shift-at'],
              (v) => parseSeconds(v, '--shift-at'),
              'a duration: 180, 3m, 90s',
            ),
          },
        }),
  };
  if (opts.shift && opts.scenario !== 'drift') throw flagError('up', '--shift-at', 'needs --scenario drift');
  const out = (s: string): void => void ctx.stdout.write(s + '\n');
  out('edgeloop up — starting the loop…');
  const handle = await startUp(opts, (s) => ctx.stderr.write(s + '\n'));
  const rel = (p: string): string => relative(ctx.cwd, p) || '.';
  out('');
  out(`  dashboard   ${handle.dashboardUrl}`);
  out(
    `  mqtt        ${handle.mqttUrl}  (devices log in as their id; passwords in ${rel(join(opts.dataDir, 'secrets.json'))})`,
  );
  out(`  running     ${handle.running.join(', ')}`);
  for (const [k, v] of Object.entries(handle.urls)) out(`  ${k.padEnd(11)} ${v}`);
  if (handle.missing.length) out(`  missing     ${handle.missing.map((m) => `${m.part} (${m.reason})`).join('; ')}`);
  out(`  data        ${rel(opts.dataDir)}`);
  out('');
  out('Open the dashboard URL in a browser. Press Ctrl-C to stop.');

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        ctx.stderr.write(`edgeloop up: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      ctx.stderr.write(`\nedgeloop up: ${sig}, stopping (fleet → dashboard → cloud)…\n`);
      resolveStop();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  const t0 = Date.now();
  await handle.close();
  out(`edgeloop up: stopped cleanly in ${Date.now() - t0} ms`);
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  return 0;
}
