/**
 * `edgeloop warehouse refresh|check|query|report`: the fleet warehouse (<dataDir>/warehouse.duckdb), built from the
 * raw archive (<dataDir>/archive). Wiring only: cloud/warehouse/ does the work.
 */
import type { CliContext } from '../../lib/cli-context.ts';
import { numberFlag, parseFlags, parsedFlag, usageError } from '../../lib/cli-errors.ts';
import { createCliLogger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { serveUntilSignal } from '../stop-on-signal.ts';
import { requireStore, resolveDataDir } from './features.ts';

export const help = `usage: edgeloop warehouse refresh [--full] [options]
       edgeloop warehouse check [options]
       edgeloop warehouse query "SELECT ..." [--format table|csv|json]
       edgeloop warehouse report fleet-health | device-history DEVICE | model-impact [--as-of TIME] | site-trend [--site SITE] [--from TIME] [--to TIME]
       edgeloop warehouse serve [--host HOST] [--port PORT]

The fleet warehouse: a DuckDB file (<dataDir>/warehouse.duckdb) with a star schema over the raw Parquet archive
(<dataDir>/archive) that the cloud writes. See docs/query-the-fleet.md.

  refresh   load what changed in the archive, rebuild dim_device (SCD2), re-aggregate the hours touched, run the
            checks; --full rebuilds everything. Safe while the cloud runs (reads committed files only).
  check     run the data-quality checks again and print them; exit 1 when one fails
  query     run one SQL statement on a read-only connection and print the rows
  report    a named report (fleet-health, device-history DEVICE, model-impact, site-trend)
  serve     the reports over HTTP (/v1/reports/..., /openapi.json) and the reports page at /, until SIGINT/SIGTERM

options:
  --full                 refresh: rebuild from the whole archive
  --max-staleness SEC    check/refresh: freshness bound, seconds (default 900; 0 = no freshness check)
  --range SENSOR=LO:HI   check/refresh: a sensor's allowed value range (repeatable)
  --as-of TIME           model-impact: only facts before TIME (ISO 8601 or ms since the epoch)
  --site SITE            site-trend: only this site
  --from TIME, --to TIME site-trend: only the UTC days from / up to (included) the day of TIME
  --host HOST            serve: address to listen on (default 127.0.0.1)
  --port PORT            serve: port (default 8083; 0 = any free port)
  --format FORMAT        query/report: table (default), csv or json (one object per line)
  --config FILE          cloud config, for dataDir (or EDGELOOP_CONFIG)
  --data-dir DIR         the cloud's data directory (default: dataDir of the config, ./.edgeloop/cloud)

exit status: 0 done, 1 a failed check, no archive or warehouse, an SQL error, 2 wrong flags.
`;

const SUBS = ['refresh', 'check', 'query', 'report', 'serve'] as const;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('warehouse', argv, {
    options: {
      full: { type: 'boolean' },
      'max-staleness': { type: 'string' },
      range: { type: 'string', multiple: true },
      'as-of': { type: 'string' },
      site: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8083' },
      format: { type: 'string', default: 'table' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [sub, ...args] = positionals;
  if (!SUBS.includes(sub as (typeof SUBS)[number])) {
    throw usageError(
      'warehouse',
      sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`,
      `${SUBS.join(', ')}; see edgeloop warehouse --help`,
    );
  }
  const format = values.format;
  if (format !== 'table' && format !== 'csv' && format !== 'json')
    throw usageError('warehouse', `--format ${JSON.stringify(format)}`, 'table, csv or json');
  const staleness = numberFlag('warehouse', '--max-staleness', values['max-staleness'], { min: 0 });
  const ranges: Record<string, [number, number]> = {};
  for (const r of values.range ?? []) {
    const [sensor, lo, hi] = parsedFlag(
      'warehouse',
      '--range',
      r,
      (v) => {
        const m = /^(.+)=(-?[\d.e+-]+):(-?[\d.e+-]+)$/.exec(v);
        if (!m || !Number.isFinite(Number(m[2])) || !Number.isFinite(Number(m[3]))) throw new Error('bad range');
        return [m[1]!, Number(m[2]), Number(m[3])] as const;
      },
      'SENSOR=LO:HI, e.g. temperature=-40:125',
    );
    ranges[sensor] = [lo, hi];
  }
  const { paths } = await resolveDataDir(values, ctx);
  const { Warehouse } = await import('../../cloud/warehouse/warehouse.ts');
  const { formatChecks } = await import('../../cloud/warehouse/checks.ts');
  if (sub === 'serve') {
    requireStore(paths.warehouse, 'warehouse', paths.dataDir, 'run `edgeloop warehouse refresh` first');
    return serve(
      paths.warehouse,
      values.host,
      numberFlag('warehouse', '--port', values.port, { min: 0, max: 65535, integer: true })!,
      ctx,
    );
  }
  const readOnly = sub === 'query' || sub === 'report';
  if (sub === 'refresh')
    requireStore(paths.archive, 'raw archive', paths.dataDir, 'has the cloud run there with archive.enabled?');
  else requireStore(paths.warehouse, 'warehouse', paths.dataDir, 'run `edgeloop warehouse refresh` first');
  const wh = await Warehouse.open({
    path: paths.warehouse,
    archiveDir: paths.archive,
    offlineDir: paths.offline,
    registryDb: `${paths.dataDir}/registry/registry.db`,
    dedupDb: paths.dedup,
    readOnly,
    checks: { maxStalenessMs: staleness === undefined ? undefined : staleness === 0 ? null : staleness * 1000, ranges },
  });
  try {
    if (sub === 'refresh' || sub === 'check') {
      if (args.length > 0)
        throw usageError(
          'warehouse',
          `unexpected argument ${JSON.stringify(args[0])}`,
          `edgeloop warehouse ${sub} [options]`,
        );
      let checks;
      if (sub === 'refresh') {
        const r = await wh.refresh({ full: values.full === true });
        const n = (k: number, what: string): string => `${k} ${what}${k === 1 ? '' : 's'}`;
        ctx.stdout.write(
          `refresh #${r.refreshId}: ${n(r.partitionsLoaded, 'partition')} loaded, ${r.partitionsRemoved} removed, ${n(r.devicesChanged, 'device')} with new versions, ` +
            `${n(r.hoursAggregated, 'hour')} and ${n(r.daysAggregated, 'day')} re-aggregated\n`,
        );
        const total = Object.values(r.phases).reduce((a, b) => a + b, 0);
        ctx.stdout.write(
          `took ${(total / 1000).toFixed(1)} s: ${Object.entries(r.phases)
            .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
            .join(', ')}\n`,
        );
        checks = r.checks;
      } else checks = await wh.check();
      ctx.stdout.write(`${formatChecks(checks)}\n`);
      const failed = checks.filter((c) => c.status === 'fail');
      if (failed.length > 0) {
        ctx.stderr.write(
          `edgeloop warehouse: ${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')} [EL_ERR_WAREHOUSE_CHECK_FAILED]\n`,
        );
        return 1;
      }
      return 0;
    }
    let sql: string;
    if (sub === 'query') {
      if (args.length !== 1)
        throw usageError(
          'warehouse',
          args.length === 0 ? 'missing SQL' : 'more than one argument',
          'one quoted SQL statement: edgeloop warehouse query "SELECT ..."',
        );
      sql = args[0]!;
    } else {
      const { reportSql } = await import('../../cloud/warehouse/reports.ts');
      const time = (flag: 'as-of' | 'from' | 'to') =>
        values[flag] === undefined
          ? undefined
          : parsedFlag('warehouse', `--${flag}`, values[flag], parseTime, 'an ISO 8601 time or ms since the epoch');
      if (args[0] === undefined)
        throw usageError(
          'warehouse',
          'missing report name',
          'fleet-health, device-history DEVICE, model-impact or site-trend',
        );
      sql = reportSql(args[0], {
        device: args[1],
        asOf: time('as-of'),
        site: values.site,
        from: time('from'),
        to: time('to'),
      });
    }
    let result;
    try {
      result = await wh.query(sql);
    } catch (cause) {
      const msg = (cause as Error).message;
      const code = /read-only|read only/i.test(msg) ? 'EL_ERR_WAREHOUSE_READ_ONLY' : 'EL_ERR_WAREHOUSE_QUERY';
      throw new EdgeloopError(code, `warehouse query failed: ${msg}`, { cause });
    }
    ctx.stdout.write(formatRows(result.columns, result.rows, format));
    return 0;
  } finally {
    wh.close();
  }
}

/** The reports server until SIGINT / SIGTERM. */
async function serve(path: string, host: string, port: number, ctx: CliContext): Promise<number> {
  const { ReportsServer } = await import('../../cloud/warehouse/reports-server.ts');
  const logger = createCliLogger(ctx.env.EDGELOOP_LOG_LEVEL ?? 'info');
  const server = new ReportsServer({ path, host, port, logger });
  return serveUntilSignal(
    logger,
    server,
    () =>
      ctx.stdout.write(
        `warehouse reports on ${server.url}/ (API: ${server.url}/v1/reports/..., ${server.url}/openapi.json)\n`,
      ),
    'the reports server did not close',
  );
}

function parseTime(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new Error('not a time');
  return t;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Rows as an aligned text table, CSV, or one JSON object per line. */
export function formatRows(columns: string[], rows: unknown[][], format: 'table' | 'csv' | 'json'): string {
  if (format === 'json')
    return rows
      .map((r) => `${JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, r[i] ?? null])))}\n`)
      .join('');
  if (format === 'csv') {
    const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [columns, ...rows.map((r) => r.map(cell))].map((r) => r.map(q).join(',')).join('\n') + '\n';
  }
  const text = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return (
    [
      line(columns),
      line(widths.map((w) => '-'.repeat(w))),
      ...text.map(line),
      `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
    ].join('\n') + '\n'
  );
}
