/**
 * `edgeloop drift status`: the drift monitors' state and their latest state changes, read from the drift store
 * (<dataDir>/drift.db) that a running cloud with a `drift:` section writes; safe while it runs.
 */
import { join } from 'node:path';
import type { CliContext } from '../../lib/cli-context.ts';
import { numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { requireStore, resolveDataDir } from './features.ts';

export const help = `usage: edgeloop drift status [options]

What the drift monitors (docs/drift.md) last found, per device and cohort (site, hardware, model version):
input drift (feature distributions against the model's reference), output drift (anomaly scores and rate
against its validation baseline) and data quality (missing values, stuck sensors, record rate); then the
latest drift.detected / drift.cleared events with their evidence.

options:
  --device ID         only this device (and nothing else)
  --events N          state changes to show, newest first (default 10)
  --json              one JSON document: { monitors, events }
  --config FILE       cloud config, for dataDir (or EDGELOOP_CONFIG)
  --data-dir DIR      the cloud's data directory (default: dataDir of the config, ./.edgeloop/cloud)

exit status: 0 shown (also when nothing drifts), 1 no drift store in the data directory or another error,
2 wrong flags, 3 something is drifting (for scripts: \`edgeloop drift status || alert\`).
`;

export const DRIFTING_EXIT_CODE = 3;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('drift', argv, {
    options: {
      device: { type: 'string' },
      events: { type: 'string', default: '10' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals[0] !== 'status' || positionals.length > 1) {
    throw usageError(
      'drift',
      positionals[0] === undefined
        ? 'missing subcommand'
        : `unknown subcommand ${JSON.stringify(positionals.join(' '))}`,
      'status; see edgeloop drift --help',
    );
  }
  const limit = numberFlag('drift', '--events', values.events, { min: 0, integer: true })!;
  const { paths } = await resolveDataDir(values, ctx);
  const path = join(paths.dataDir, 'drift.db');
  requireStore(path, 'drift store', paths.dataDir, 'does the cloud run there with a drift: section?');
  const { SqliteDriftStore } = await import('../../cloud/drift/sqlite-drift-store.ts');
  const store = new SqliteDriftStore({ path });
  await store.start();
  try {
    const subject = values.device !== undefined ? { kind: 'device' as const, id: values.device } : undefined;
    const monitors = await store.records(subject ? { subject } : {});
    const events = limit > 0 ? await store.events({ limit, ...(subject ? { subject } : {}) }) : [];
    const drifting = monitors.filter((m) => m.state === 'drift');
    if (values.json) {
      ctx.stdout.write(JSON.stringify({ monitors, events }) + '\n');
      return drifting.length > 0 ? DRIFTING_EXIT_CODE : 0;
    }
    const out = (s: string): void => void ctx.stdout.write(s + '\n');
    out(`${monitors.length} monitors, ${drifting.length} drifting`);
    if (monitors.length > 0) {
      const rows = monitors
        .slice()
        .sort(
          (a, b) =>
            Number(b.state === 'drift') - Number(a.state === 'drift') ||
            `${a.subject.kind}${a.subject.id}${a.monitor}`.localeCompare(
              `${b.subject.kind}${b.subject.id}${b.monitor}`,
            ),
        )
        .map((m) => {
          const fired = m.last.tests.filter((t) => t.drifted).map((t) => t.feature);
          return [
            `${m.subject.kind} ${m.subject.id}`,
            m.monitor,
            m.state,
            String(m.last.n),
            m.checkedAt ? new Date(m.checkedAt).toISOString() : '-',
            fired.join(', ') || '-',
          ];
        });
      table(out, ['subject', 'monitor', 'state', 'n', 'last check', 'drifted features'], rows);
    }
    for (const e of events) {
      const fired = e.evidence.tests.filter((t) => t.drifted);
      const first = fired[0];
      out(
        `${new Date(e.at).toISOString()} ${e.type} ${e.subject.kind} ${e.subject.id} ${e.monitor} (${e.fired} of ${e.window} checks, n ${e.evidence.n}, alpha ${e.evidence.alpha})` +
          (first
            ? `: ${first.feature} ${first.statistic} ${fmt(first.value)} > ${fmt(first.threshold)}${fired.length > 1 ? ` and ${fired.length - 1} more` : ''}`
            : ''),
      );
    }
    return drifting.length > 0 ? DRIFTING_EXIT_CODE : 0;
  } finally {
    await store.close();
  }
}

function fmt(x: unknown): string {
  return typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x);
}

function table(out: (s: string) => void, head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  out(head.map((h, i) => h.padEnd(w[i]!)).join('  '));
  for (const r of rows) out(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
}
