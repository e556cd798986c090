/**
 * `edgeloop retrain run|status|history|key`: the retraining job (docs/retrain.md) from the command line, on the
 * cloud's data directory (its raw archive, its registry, `<dataDir>/retrain/`). Safe while the cloud runs: a job
 * here and the cloud's retrain part share the job lock, and the stores are SQLite WAL files.
 */
import { readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { flagError, parseFlags, parsedFlag, usageError } from '../../lib/cli-errors.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { resolveDataDir } from './features.ts';

export const help = `usage: edgeloop retrain <run|status|history|key> [options]

Retrain the anomaly model on the cloud's own history and compare it with the production model
(docs/retrain.md). Steps: select → train → export → reference → sign → evaluate → record; a job that was
killed resumes at the step it was in. At most one job runs at a time (also against a running cloud).

  run       run a job to its end (or finish an interrupted one): the challenger is trained on the raw archive's
            readings in the range (minus windows with anomaly/alert events and labels), held out on the last
            part of it, and either pushed as candidate (alias "candidate") or recorded as rejected with why
  status    the running job (step, training epoch) or the last one
  history   past jobs, newest first: outcome, version, parent, reason
  key       the cloud's training key: its keyId and public key (created on first use); give it to the fleet

options (run):
  --from TIME         start of the data range (ISO 8601 or ms since the epoch; default: to - retrain.lookbackMs)
  --to TIME           end of the data range (default now)
  --device ID | --site NAME | --hardware KIND | --cohort-model NAME@VERSION
                      train on one device or cohort (default every device)
  --labels FILE       JSON list of labelled intervals to leave out: [{"from": TIME, "to": TIME, "deviceId"?: ID}]
  --quiet             no progress on stderr
options (all):
  --json              machine-readable output
  --limit N           history: jobs shown (default 20)
  --config FILE       cloud config: dataDir, registry: and retrain: sections (or EDGELOOP_CONFIG)
  --data-dir DIR      the cloud's data directory (default: dataDir of the config)

exit status: 0 done (run: the challenger is a candidate), 3 run: the challenger was rejected, 1 an error
(another job holds the lock, too little data, no production model …), 2 wrong flags.
`;

export const REJECTED_EXIT_CODE = 3;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('retrain', argv, {
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      device: { type: 'string' },
      site: { type: 'string' },
      hardware: { type: 'string' },
      'cohort-model': { type: 'string' },
      labels: { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  const sub = positionals[0];
  if (!sub || !['run', 'status', 'history', 'key'].includes(sub) || positionals.length > 1) {
    throw usageError(
      'retrain',
      sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(positionals.join(' '))}`,
      'run, status, history or key; see edgeloop retrain --help',
    );
  }
  const { config, paths } = await resolveDataDir(values, ctx);
  const out = (s: string): void => void ctx.stdout.write(s + '\n');
  const retrainDir = join(paths.dataDir, 'retrain');

  if (sub === 'key') {
    const { loadTrainingKey } = await import('../../cloud/retrain/training-key.ts');
    const key = loadTrainingKey(join(retrainDir, 'keys'));
    const pem = readFileSync(key.publicPath, 'utf8');
    if (values.json) out(JSON.stringify({ keyId: key.keyId, publicKey: key.publicPath, pem, created: key.created }));
    else out(`training key ${key.keyId}${key.created ? ' (created now)' : ''}: ${key.publicPath}\n${pem.trimEnd()}`);
    return 0;
  }

  const { RetrainStore } = await import('../../cloud/retrain/retrain-store.ts');
  if (sub === 'status' || sub === 'history') {
    const store = new RetrainStore({ path: join(retrainDir, 'retrain.db') });
    try {
      if (sub === 'status') {
        const job = store.running() ?? store.list(1)[0];
        if (values.json) out(JSON.stringify({ job: job ?? null }));
        else if (!job) out(`no retraining job yet in ${retrainDir}`);
        else out(describeJob(job, true));
        return 0;
      }
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw flagError('retrain', '--limit', `invalid value ${JSON.stringify(values.limit)}`, 'an integer >= 1');
      const jobs = store.list(limit);
      if (values.json) out(JSON.stringify({ jobs }));
      else if (jobs.length === 0) out(`no retraining job yet in ${retrainDir}`);
      else for (const j of jobs) out(describeJob(j, false));
      return 0;
    } finally {
      store.close();
    }
  }

  // run
  if (config.registry === undefined)
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_CONFIG',
      "retrain run needs the cloud config's registry: section (the registry holds the production model and receives the challenger); pass --config",
    );
  const time = (flag: string, v: string | undefined): number | undefined =>
    v === undefined
      ? undefined
      : parsedFlag(
          'retrain',
          flag,
          v,
          (s) => {
            const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
            if (!Number.isFinite(n)) throw new Error('not a time');
            return n;
          },
          'an ISO 8601 time or ms since the epoch',
        );
  const from = time('--from', values.from);
  const to = time('--to', values.to);
  const cohorts = (
    [
      ['device', values.device],
      ['site', values.site],
      ['hardware', values.hardware],
      ['model', values['cohort-model']],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (cohorts.length > 1)
    throw usageError('retrain', 'give at most one of --device, --site, --hardware, --cohort-model');
  const cohort = cohorts[0] ? { kind: cohorts[0][0], id: cohorts[0][1]! } : undefined;
  let labels: Array<{ from: number; to: number; deviceId?: string }> | undefined;
  if (values.labels !== undefined) labels = readLabels(resolvePath(ctx.cwd, values.labels));

  const [{ parseRetrainConfig, retrainerOptions }, { Retrainer }, { RETRAIN_STEPS }, reg, { Progress }] =
    await Promise.all([
      import('../../cloud/retrain/retrain-config.ts'),
      import('../../cloud/retrain/retrainer.ts'),
      import('../../cloud/retrain/retrain-store.ts'),
      import('../../cloud/registry/registry-part.ts'),
      import('../../lib/progress.ts'),
    ]);
  const rc = parseRetrainConfig(config.retrain, 'retrain (cloud config)');
  const regCfg = reg.parseRegistryPartConfig(
    { dataDir: join(paths.dataDir, 'registry'), ...config.registry },
    'registry (cloud config)',
  );
  const { TrustedKeyRing } = await import('../../models/manifest/index.ts');
  const { ModelRegistry } = await import('../../cloud/registry/model-registry.ts');
  const { LocalArtifactStore } = await import('../../cloud/registry/artifact-store.ts');
  const registry = new ModelRegistry({
    dbPath: regCfg.dbPath ?? join(regCfg.dataDir, 'registry.db'),
    store: new LocalArtifactStore({ dir: regCfg.artifactsDir ?? join(regCfg.dataDir, 'artifacts') }),
    trustedKeys: new TrustedKeyRing(regCfg.trustedKeys.map((k) => resolvePath(ctx.cwd, k))),
    requireSignature: regCfg.requireSignature,
  });
  registry.start();
  const retrainer = new Retrainer({
    ...retrainerOptions(rc),
    dir: retrainDir,
    archiveDir: paths.archive,
    registry,
  });
  const progress = new Progress({
    total: RETRAIN_STEPS.length,
    label: 'retrain',
    stream: ctx.stderr,
    silent: values.quiet === true || values.json === true,
  });
  try {
    retrainer.start();
    let index = 0;
    let step = '';
    const job = await retrainer.run(
      { trigger: { kind: 'manual' }, from, to, cohort, labels },
      {
        onStep: (id, s, i) => {
          index = i;
          step = s;
          progress.update(i, `job ${id}: ${s}`);
        },
        onEpoch: (epoch, epochs, loss) =>
          progress.update(index, `${step}: epoch ${epoch}/${epochs}, loss ${loss.toPrecision(3)}`),
      },
    );
    progress.finish(`job ${job.id}: ${job.outcome}`);
    if (values.json) out(JSON.stringify({ job }));
    else out(describeJob(job, true));
    return job.outcome === 'rejected' ? REJECTED_EXIT_CODE : 0;
  } finally {
    await retrainer.close();
    registry.close();
  }
}

function readLabels(file: string): Array<{ from: number; to: number; deviceId?: string }> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw flagError('retrain', '--labels', `cannot read ${file}: ${(cause as Error).message}`, 'a JSON file');
  }
  if (!Array.isArray(raw)) throw flagError('retrain', '--labels', `${file} is not a JSON list`, '[{from, to}]');
  return raw.map((l: unknown, i) => {
    const o = l as { from?: unknown; to?: unknown; deviceId?: unknown };
    const t = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN);
    const from = t(o?.from);
    const to = t(o?.to);
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from)
      throw flagError(
        'retrain',
        '--labels',
        `${file}[${i}]: "from" and "to" must be times with from <= to`,
        '[{from, to}]',
      );
    if (o.deviceId !== undefined && typeof o.deviceId !== 'string')
      throw flagError('retrain', '--labels', `${file}[${i}].deviceId must be a string`, '[{from, to, deviceId}]');
    return { from, to, ...(typeof o.deviceId === 'string' ? { deviceId: o.deviceId } : {}) };
  });
}

type Job = import('../../cloud/retrain/retrain-store.ts').JobRecord;

function describeJob(j: Job, long: boolean): string {
  const when = new Date(j.createdAt).toISOString();
  const r = (j.result ?? {}) as {
    version?: string;
    parent?: string;
    champion?: { falseAlarmRate: number; detectionRate: number };
    challenger?: { falseAlarmRate: number; detectionRate: number; p99Ms: number; bytes: number };
  };
  const head =
    j.state === 'running'
      ? `job ${j.id} (${j.trigger.kind}, ${when}): running, step ${j.step}${j.progress && 'epoch' in j.progress ? ` (epoch ${String(j.progress.epoch)}/${String(j.progress.epochs)})` : ''}`
      : `job ${j.id} (${j.trigger.kind}, ${when}): ${j.outcome}${r.version ? ` ${r.version}` : ''}${r.parent ? ` (parent ${r.parent})` : ''}${j.reason ? `: ${j.reason}` : ''}`;
  if (!long) return head;
  const lines = [head];
  const sel = j.steps.find((s) => s.step === 'select')?.output as
    | { from: number; to: number; devices: number; trainWindows: number; holdoutWindows: number; events: number }
    | undefined;
  if (sel)
    lines.push(
      `  data ${new Date(sel.from).toISOString()} .. ${new Date(sel.to).toISOString()}: ${sel.devices} devices, ${sel.trainWindows} training windows, ${sel.holdoutWindows} hold-out windows, ${sel.events} events excluded`,
    );
  if (r.champion && r.challenger) {
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    lines.push(
      `  false alarms ${pct(r.challenger.falseAlarmRate)} (champion ${pct(r.champion.falseAlarmRate)}), detection ${pct(r.challenger.detectionRate)} (champion ${pct(r.champion.detectionRate)}), p99 ${r.challenger.p99Ms.toFixed(3)} ms, ${r.challenger.bytes} bytes`,
    );
  }
  lines.push(
    `  steps: ${j.steps.map((s) => `${s.step}${s.state === 'done' ? '' : ' (running)'}${s.runs > 1 ? ` ×${s.runs}` : ''}`).join(', ')}`,
  );
  return lines.join('\n');
}
