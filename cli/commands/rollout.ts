/**
 * `edgeloop rollout`: talks to a running rollout controller over HTTP (--url, EDGELOOP_ROLLOUT_URL, default
 * http://127.0.0.1:8082), or runs one (`serve`). The controller owns the state (SQLite); the CLI never writes it.
 */
import { serveUntilSignal } from '../stop-on-signal.ts';
import { resolve } from 'node:path';
import { flagError, numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import { jsonClient, type JsonCall } from '../json-http-client.ts';
import { watchFrame } from '../../lib/progress.ts';
import type { RolloutView } from '../../cloud/rollout/rollout-view.ts';
import { ROLLOUT_STATUSES } from '../../cloud/rollout/rollout-state.ts';

export const help = `usage: edgeloop rollout <command> [options]

commands:
  start MODEL@VERSION           start a staged rollout (VERSION may be a registry alias, e.g. @canary)
      --stages 1%,10%,50%,100%  cumulative share of the fleet per stage (default 1%,10%,50%,100%)
      --bake 10m                time each stage runs before the next one (default 10m; ms, s, m, h)
      --max-failures 5%         roll back when failed devices exceed this share of those assigned (default 5%)
      --gate EXPR               repeatable: METRIC<=FACTORx compares the cohort with the rest of the fleet,
                                METRIC<=VALUE is absolute. Metrics: anomaly_rate, p50_inference_ms,
                                p95_inference_ms, p99_inference_ms. e.g. --gate "anomaly_rate<=2x"
      --devices a,b,c | --group NAME   roll out to these devices only (groups come from the controller config)
      --rate 60/min             new device assignments per minute (default: no limit)
      --device-timeout 10m      a device must report active within this time, else it is retried (default 10m)
      --retries 2               re-publications before a silent device counts as failed (default 2)
      --min-windows 1           status figures with fewer inference windows do not count for gates
      --fresh 2m                draw cohorts from devices heard from within this time (default 2m)
      --shadow 10%              a shadow stage first: this share of the fleet runs the candidate beside its
                                model, acting on nothing, before any device activates it. Shadow gates are
                                --gate EXPRs on shadow_agreement>=FRACTION, shadow_anomaly_rate<=FACTORx (vs the
                                active model on the same windows) or <=VALUE, shadow_p50_ms/p95_ms/p99_ms<=VALUE
                                or <=FACTORx (default: shadow_agreement>=0.9, shadow_anomaly_rate<=1.5x)
      --shadow-bake 10m         time the shadow runs before its gates are judged (default 10m)
      --shadow-min-windows 100  paired windows a shadow device must report before it counts (default 100)
      --shadow-min-devices 1    devices that must count before the shadow gates are judged (default 1)
      --approve auto|manual     after a passed shadow: go on (auto, default) or wait for \`rollout approve\`
  candidate MODEL@VERSION       start from a retraining candidate: like start with a shadow stage (default 10%)
      --approve auto|manual     (required) --parent VERSION records what it was trained from; start's options apply
  status [ID|MODEL]             a rollout's stages, each stage's devices (pending, downloading, active, failed,
                                reverted, offline), gates and failures (default: all recent rollouts)
      --watch                   refresh every second until the rollout ends (redraws the screen on a terminal);
                                exit status 3 when it ended rolled back
      --until STATUS            with --watch: stop when the rollout reaches STATUS (e.g. awaiting-approval,
                                baking); exit status 1 when it ends in another one (3: rolled back)
  approve ID|MODEL              go on after a passed shadow stage (a rollout started with --approve manual)
  promote ID|MODEL              skip the rest of the current stage's bake (or the shadow stage)
  rollback ID|MODEL [--reason]  re-publish the previous manifest to every touched device (also after completion)
  abort ID|MODEL [--reason]     stop assigning; devices keep what they run (no rollback)
  serve                         run a controller (--mqtt URL, --registry URL, --data-dir, --port, --host,
                                --group NAME=a,b,c ..., --insecure: without --token a non-loopback
                                --host is refused unless --insecure is given)

options:
  --url URL       controller (default $EDGELOOP_ROLLOUT_URL or http://127.0.0.1:8082)
  --token TOKEN   bearer token (default $EDGELOOP_ROLLOUT_TOKEN)
  --json          print JSON
`;

/** `status --watch` ended in a rollback: distinct from 1 (error) and 2 (wrong flags) */
export const ROLLED_BACK_EXIT_CODE = 3;

function client(url: string, token: string | undefined): JsonCall {
  return jsonClient({
    url,
    token,
    what: 'the rollout controller',
    serveHint: 'edgeloop rollout serve',
    errorCode: 'EL_ERR_ROLLOUT_HTTP',
  });
}

function pct(n: number, d: number): string {
  return d ? `${Math.round((n / d) * 100)}%` : '-';
}

/** devices listed per stage in the text status; --json has them all */
const MAX_DEVICES_SHOWN = 20;

/** Human status of one rollout. */
export function formatRollout(v: RolloutView): string {
  const lines = [
    `rollout ${v.id}: ${v.model}@${v.version} (previous ${v.previous ?? 'none'}) — ${v.status.toUpperCase()}${v.reason ? `: ${v.reason}` : ''}`,
    `  devices: ${v.devices.assigned} assigned of ${v.devices.total}, ${v.devices.active} active, ${v.devices.failed} failed` +
      (v.devices.reverting || v.devices.reverted
        ? `, ${v.devices.reverting} reverting, ${v.devices.reverted} reverted`
        : ''),
    '  stage  share  target  assigned  active  failed  in-flight  state',
  ];
  for (const s of v.stages) {
    lines.push(
      `  ${String(s.stage).padEnd(5)}  ${`${s.percent}%`.padEnd(5)}  ${String(s.target).padEnd(6)}  ${String(s.assigned).padEnd(8)}  ${`${s.active} (${pct(s.active, s.assigned)})`.padEnd(6)}  ${String(s.failed).padEnd(6)}  ${String(s.inFlight).padEnd(9)}  ${s.state}`,
    );
  }
  for (const s of v.stages) {
    if (!s.devices?.length) continue;
    const shown = s.devices
      .slice(0, MAX_DEVICES_SHOWN)
      .map((d) => `${d.deviceId} ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
    if (s.devices.length > MAX_DEVICES_SHOWN)
      shown.push(`... and ${s.devices.length - MAX_DEVICES_SHOWN} more (--json lists all)`);
    lines.push(`  stage ${s.stage} devices: ${shown.join(', ')}`);
  }
  for (const g of v.gates) {
    const f = (x: number | undefined): string => (x === undefined ? '?' : Number(x.toPrecision(3)).toString());
    lines.push(
      `  gate ${g.expr}: ${g.result} (cohort ${f(g.cohort)} over ${g.cohortDevices} devices, rest ${f(g.baseline)} over ${g.restDevices}, limit ${f(g.limit)})`,
    );
  }
  if (v.shadow) lines.push(...formatShadow(v.shadow));
  for (const f of v.failures.slice(0, 10)) lines.push(`  ! ${f.deviceId}: ${f.reason}`);
  if (v.failures.length > 10) lines.push(`  ! ... and ${v.failures.length - 10} more`);
  return lines.join('\n');
}

function num(x: number | undefined): string {
  return x === undefined ? '?' : Number(x.toPrecision(3)).toString();
}

/** The shadow stage of a rollout: devices, pooled figures, gates. */
export function formatShadow(sh: NonNullable<RolloutView['shadow']>): string[] {
  const lines = [
    `  shadow ${sh.percent}%: ${sh.result.toUpperCase()} — ${sh.assigned} assigned, ${sh.running} running, ${sh.failed} failed (counts from ${sh.minWindows} paired windows, judged with >= ${sh.minDevices} devices)`,
  ];
  const f = sh.figures;
  if (f) {
    lines.push(
      `    agreement ${num(f.agreement)} over ${f.windows} windows on ${f.devices} devices; would-be anomaly rate ${num(f.anomalyRate)} (active ${num(f.activeAnomalyRate)})`,
      `    candidate latency p50/p95/p99 ${num(f.p50Ms)}/${num(f.p95Ms)}/${num(f.p99Ms)} ms (active ${num(f.activeP50Ms)}/${num(f.activeP95Ms)}/${num(f.activeP99Ms)} ms)`,
      `    scores p05/p25/p50/p75/p95/p99: active ${Object.values(f.scores.active).map(num).join('/')}, candidate ${Object.values(f.scores.shadow).map(num).join('/')}`,
    );
  }
  for (const g of sh.gates) {
    lines.push(
      `    shadow gate ${g.expr}: ${g.result} (candidate ${num(g.cohort)}${g.baseline !== undefined ? `, active ${num(g.baseline)}` : ''}, limit ${num(g.limit)})`,
    );
  }
  const ds = sh.devices
    .slice(0, MAX_DEVICES_SHOWN)
    .map(
      (d) =>
        `${d.deviceId} ${d.state} ${d.windows}w${d.agreement !== null ? ` agree ${num(d.agreement)}` : ''}${d.reason ? ` (${d.reason})` : ''}`,
    );
  if (sh.devices.length > MAX_DEVICES_SHOWN) ds.push(`... and ${sh.devices.length - MAX_DEVICES_SHOWN} more`);
  if (ds.length) lines.push(`    shadow devices: ${ds.join(', ')}`);
  return lines;
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('rollout', argv, {
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      until: { type: 'string' },
      stages: { type: 'string' },
      bake: { type: 'string' },
      'max-failures': { type: 'string' },
      gate: { type: 'string', multiple: true },
      devices: { type: 'string' },
      group: { type: 'string', multiple: true },
      rate: { type: 'string' },
      'device-timeout': { type: 'string' },
      retries: { type: 'string' },
      'min-windows': { type: 'string' },
      fresh: { type: 'string' },
      shadow: { type: 'string' },
      'shadow-bake': { type: 'string' },
      'shadow-min-windows': { type: 'string' },
      'shadow-min-devices': { type: 'string' },
      approve: { type: 'string' },
      parent: { type: 'string' },
      reason: { type: 'string' },
      mqtt: { type: 'string' },
      registry: { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      insecure: { type: 'boolean', default: false },
    },
  });
  const [cmd, ...args] = positionals;
  const out = (s: string): void => void ctx.stdout.write(s + '\n');
  const url = values.url ?? ctx.env.EDGELOOP_ROLLOUT_URL ?? 'http://127.0.0.1:8082';
  const token = values.token ?? ctx.env.EDGELOOP_ROLLOUT_TOKEN;
  const call = client(url, token);
  const show = (v: RolloutView): void => out(values.json ? JSON.stringify(v) : formatRollout(v));
  const ref = (): string => {
    if (!args[0]) throw usageError(`rollout ${cmd}`, 'missing ID|MODEL', `edgeloop rollout ${cmd} ID|MODEL`);
    return encodeURIComponent(args[0]);
  };
  const int = (name: string, v: string | undefined): number | undefined => {
    return numberFlag(`rollout ${cmd}`, `--${name}`, v, { min: 0, integer: true });
  };
  switch (cmd) {
    case 'start':
    case 'candidate': {
      const target = args[0];
      const at = target?.lastIndexOf('@') ?? -1;
      if (!target || at <= 0 || at === target.length - 1) {
        throw usageError(
          `rollout ${cmd}`,
          target ? `${JSON.stringify(target)}: not MODEL@VERSION` : 'missing MODEL@VERSION',
          `edgeloop rollout ${cmd} MODEL@VERSION [options]`,
        );
      }
      if ((values.group?.length ?? 0) > 1)
        throw flagError('rollout start', '--group', 'given more than once', 'one group');
      const retries = int('retries', values.retries);
      const minWindows = int('min-windows', values['min-windows']);
      const approve = values.approve as 'auto' | 'manual' | undefined;
      if (approve !== undefined && approve !== 'auto' && approve !== 'manual')
        throw flagError(`rollout ${cmd}`, '--approve', `invalid value ${JSON.stringify(approve)}`, 'auto or manual');
      if (cmd === 'candidate' && approve === undefined)
        throw flagError('rollout candidate', '--approve', 'is required', 'auto or manual');
      const shMinWindows = int('shadow-min-windows', values['shadow-min-windows']);
      const shMinDevices = int('shadow-min-devices', values['shadow-min-devices']);
      const shadowOpts = {
        ...(values.shadow ? { percent: values.shadow } : {}),
        ...(values['shadow-bake'] ? { bake: values['shadow-bake'] } : {}),
        ...(shMinWindows !== undefined ? { minWindows: shMinWindows } : {}),
        ...(shMinDevices !== undefined ? { minDevices: shMinDevices } : {}),
      };
      const wantsShadow = cmd === 'candidate' || Object.keys(shadowOpts).length > 0;
      const spec = {
        model: target.slice(0, at),
        version: target.slice(at + 1),
        ...(values.stages ? { stages: values.stages } : {}),
        ...(values.bake ? { bake: values.bake } : {}),
        ...(values['max-failures'] ? { maxFailures: values['max-failures'] } : {}),
        ...(values.gate ? { gates: values.gate } : {}),
        ...(values.devices
          ? {
              devices: values.devices
                .split(',')
                .map((d) => d.trim())
                .filter(Boolean),
            }
          : {}),
        ...(values.group?.[0] ? { group: values.group[0] } : {}),
        ...(values.rate ? { rate: values.rate } : {}),
        ...(values['device-timeout'] ? { deviceTimeoutMs: values['device-timeout'] } : {}),
        ...(retries !== undefined ? { retries } : {}),
        ...(minWindows !== undefined ? { minWindows } : {}),
        ...(values.fresh ? { fresh: values.fresh } : {}),
        ...(wantsShadow ? { shadow: shadowOpts } : {}),
        ...(approve ? { approve } : {}),
        ...(values.parent ? { parent: values.parent } : {}),
      };
      // validate here too, so a typo fails before the network round trip with the same message
      const { parseRolloutSpec } = await import('../../cloud/rollout/rollout-spec.ts');
      parseRolloutSpec(spec);
      if (cmd === 'candidate') {
        const { model, version, approve: a, parent, ...rest } = spec;
        const body = { model, version, approve: a, ...(parent ? { parent } : {}), spec: rest };
        show((await call('POST', '/v1/rollouts/candidates', body)) as RolloutView);
      } else show((await call('POST', '/v1/rollouts', spec)) as RolloutView);
      return 0;
    }
    case 'status':
    case 'list': {
      if (!args[0]) {
        const r = (await call('GET', '/v1/rollouts')) as { rollouts: RolloutView[] };
        if (values.json) out(JSON.stringify(r.rollouts));
        else if (r.rollouts.length === 0) out('no rollouts');
        else
          for (const v of r.rollouts)
            out(
              `${v.id}\t${v.model}@${v.version}\t${v.status}\tstage ${v.stage}/${v.stages.length}${v.reason ? `\t${v.reason}` : ''}`,
            );
        return 0;
      }
      const until = values.until;
      if (until !== undefined) {
        if (!values.watch) throw flagError('rollout status', '--until', 'needs --watch', '--watch --until STATUS');
        if (!(ROLLOUT_STATUSES as readonly string[]).includes(until))
          throw flagError(
            'rollout status',
            '--until',
            `unknown status ${JSON.stringify(until)}`,
            ROLLOUT_STATUSES.join(', '),
          );
      }
      const tty = !values.json && (ctx.stdout as { isTTY?: boolean }).isTTY === true;
      for (let first = true; ; first = false) {
        const v = (await call('GET', `/v1/rollouts/${ref()}`)) as RolloutView;
        if (values.watch)
          ctx.stdout.write(watchFrame(values.json ? JSON.stringify(v) : formatRollout(v), { tty, first }));
        else show(v);
        // a snapshot is a successful answer whatever it says; waiting (--watch) ends with the outcome as exit status
        if (!values.watch) return 0;
        if (until !== undefined && v.status === until) return 0;
        if (['completed', 'aborted', 'rolled-back'].includes(v.status)) {
          if (v.status === 'rolled-back') return ROLLED_BACK_EXIT_CODE;
          if (until === undefined) return 0;
          ctx.stderr.write(
            `rollout ${v.id} ended ${v.status}${v.reason ? `: ${v.reason}` : ''} (waited for ${until})\n`,
          );
          return 1;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    case 'promote':
      show((await call('POST', `/v1/rollouts/${ref()}/promote`)) as RolloutView);
      return 0;
    case 'approve':
      show((await call('POST', `/v1/rollouts/${ref()}/approve`, {})) as RolloutView);
      return 0;
    case 'rollback':
    case 'abort':
      show(
        (await call(
          'POST',
          `/v1/rollouts/${ref()}/${cmd}`,
          values.reason ? { reason: values.reason } : {},
        )) as RolloutView,
      );
      return 0;
    case 'serve': {
      const { createRolloutPart } = await import('../../cloud/rollout/rollout-part.ts');
      const { createCliLogger } = await import('../../lib/logger.ts');
      const logger = createCliLogger(ctx.env.EDGELOOP_LOG_LEVEL ?? 'info');
      const port = int('port', values.port);
      const groups: Record<string, string[]> = {};
      for (const g of values.group ?? []) {
        const [name, list] = g.split('=');
        if (!name || !list)
          throw flagError('rollout serve', '--group', `invalid value ${JSON.stringify(g)}`, 'NAME=dev1,dev2');
        groups[name] = list
          .split(',')
          .map((d) => d.trim())
          .filter(Boolean);
      }
      const part = createRolloutPart(
        {
          dataDir: resolve(ctx.cwd, values['data-dir'] ?? DEFAULT_DATA_DIRS.rollout),
          mqtt: { url: values.mqtt ?? ctx.env.EDGELOOP_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
          registryUrl: values.registry ?? ctx.env.EDGELOOP_REGISTRY_URL ?? 'http://127.0.0.1:8081',
          ...(ctx.env.EDGELOOP_REGISTRY_TOKEN ? { registryToken: ctx.env.EDGELOOP_REGISTRY_TOKEN } : {}),
          http: {
            ...(port !== undefined ? { port } : {}),
            ...(values.host ? { host: values.host } : {}),
            ...(token ? { apiToken: token } : {}),
            insecure: values.insecure,
          },
          groups,
        },
        { logger },
      );
      return serveUntilSignal(
        logger,
        part,
        () => out(`rollout controller listening on ${part.instance.server.url}`),
        'the rollout controller did not close',
      );
    }
    default:
      throw usageError(
        'rollout',
        cmd ? `unknown subcommand ${JSON.stringify(cmd)}` : 'missing subcommand',
        'start, candidate, status, approve, promote, rollback, abort or serve; see edgeloop rollout --help',
      );
  }
}
