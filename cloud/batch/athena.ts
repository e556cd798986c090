/**
 * The at-scale tables: what the daily DAG's `publish` task writes as Hive-partitioned Parquet, and the Athena /
 * Glue DDL over it and over the raw archive (pure: no I/O). One source of truth for the columns: the archive's
 * ARCHIVE_TABLES and the warehouse's SCHEMA_SQL, the definitions DuckDB writes from.
 *
 *   archive_<table>   <base>/archive/<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet (cloud/archive/)
 *   fact_reading, fact_event                      <base>/warehouse/<table>/date=…/hour=…/part-0.parquet
 *   agg_{sensor,health}_{hourly,daily}            <base>/warehouse/<table>/date=…/part-0.parquet
 *   dim_device, dim_model                         <base>/warehouse/<table>/part-0.parquet (rewritten whole)
 *
 * Partition keys are strings (`date` = 'YYYY-MM-DD', `hour` = 'HH'), with partition projection (no crawler, no
 * MSCK REPAIR): date as a date range from `projectionStart` to NOW, hour as an integer 0..23 with 2 digits.
 * Columns the path carries are not written into the files: the facts' `partition` and `hour` columns of the
 * DuckDB tables are left out (ts has the hour); the aggregates keep their `hour` / `day` columns.
 */
import { ARCHIVE_TABLES, ARCHIVE_TABLE_NAMES } from '../archive/archive-tables.ts';
import { AGG_LEVELS, SCHEMA_SQL } from '../warehouse/schema.ts';

export type GlueType = 'string' | 'bigint' | 'int' | 'double' | 'boolean' | 'timestamp' | 'date';

export interface GlueColumn {
  name: string;
  type: GlueType;
}

export interface AtScaleTable {
  /** the Glue / Athena table name */
  name: string;
  /** where under the deployment's base URI: `archive/readings`, `warehouse/fact_reading` */
  path: string;
  columns: GlueColumn[];
  partitions: ('date' | 'hour')[];
  /** the DuckDB table `publish` copies from (undefined: the raw archive, written by the archive itself) */
  source?: string;
}

const GLUE: Record<string, GlueType> = {
  VARCHAR: 'string',
  BIGINT: 'bigint',
  INTEGER: 'int',
  DOUBLE: 'double',
  BOOLEAN: 'boolean',
  TIMESTAMPTZ: 'timestamp',
  DATE: 'date',
};

/** DuckDB type → Glue type; throws for a type the at-scale tables do not use. */
export function glueType(duckdbType: string): GlueType {
  const t = GLUE[duckdbType.toUpperCase()];
  if (!t) throw new Error(`no Glue type for DuckDB type ${duckdbType}`);
  return t;
}

/** The columns of each CREATE TABLE in SCHEMA_SQL, in order, as DuckDB types. */
export function warehouseColumns(sql: string = SCHEMA_SQL): Map<string, { name: string; type: string }[]> {
  const out = new Map<string, { name: string; type: string }[]>();
  for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \((.*)\);/g)) {
    const cols: { name: string; type: string }[] = [];
    for (const part of m[2]!.split(/,\s*(?![^()]*\))/)) {
      const c = /^\s*(\w+)\s+([A-Z]+)/.exec(part);
      if (!c || c[1] === 'PRIMARY') continue;
      cols.push({ name: c[1]!, type: c[2]! });
    }
    out.set(m[1]!, cols);
  }
  return out;
}

const PUBLISHED: { name: string; partitions: AtScaleTable['partitions']; exclude: string[] }[] = [
  { name: 'fact_reading', partitions: ['date', 'hour'], exclude: ['partition', 'hour'] },
  { name: 'fact_event', partitions: ['date', 'hour'], exclude: ['partition', 'hour'] },
  { name: 'agg_sensor_hourly', partitions: ['date'], exclude: [] },
  { name: 'agg_sensor_daily', partitions: ['date'], exclude: [] },
  { name: 'agg_health_hourly', partitions: ['date'], exclude: [] },
  { name: 'agg_health_daily', partitions: ['date'], exclude: [] },
  { name: 'dim_device', partitions: [], exclude: [] },
  { name: 'dim_model', partitions: [], exclude: [] },
];

/** Every at-scale table: the raw archive's four, then the published warehouse tables. */
export function atScaleTables(): AtScaleTable[] {
  const wh = warehouseColumns();
  const archive = ARCHIVE_TABLE_NAMES.map(
    (t): AtScaleTable => ({
      name: `archive_${t}`,
      path: `archive/${t}`,
      columns: ARCHIVE_TABLES[t].columns.map((c) => ({ name: c.name, type: glueType(c.type) })),
      partitions: ['date', 'hour'],
    }),
  );
  const published = PUBLISHED.map((p): AtScaleTable => {
    const cols = wh.get(p.name);
    if (!cols) throw new Error(`SCHEMA_SQL has no table ${p.name}`);
    return {
      name: p.name,
      path: `warehouse/${p.name}`,
      columns: cols.filter((c) => !p.exclude.includes(c.name)).map((c) => ({ name: c.name, type: glueType(c.type) })),
      partitions: p.partitions,
      source: p.name,
    };
  });
  return [...archive, ...published];
}

/**
 * The Glue column list of each table (name + Glue type), partition keys apart: what a CDK stack passes to
 * `glue.CfnTable` (`storageDescriptor.columns` and `partitionKeys`).
 */
export function glueColumns(): Record<string, { columns: GlueColumn[]; partitionKeys: GlueColumn[]; path: string }> {
  return Object.fromEntries(
    atScaleTables().map((t) => [
      t.name,
      {
        columns: t.columns,
        partitionKeys: t.partitions.map((p) => ({ name: p, type: 'string' as const })),
        path: t.path,
      },
    ]),
  );
}

export interface DdlOptions {
  /** the deployment's base URI, e.g. s3://my-bucket/edgeloop (no trailing slash) */
  location: string;
  /** Glue database. Default 'edgeloop'. */
  database?: string;
  /** first day partition projection covers. Default '2026-01-01'. */
  projectionStart?: string;
}

/**
 * The table properties of one at-scale table whose files are under `location` (ending in '/'): ZSTD Parquet and,
 * for a partitioned table, partition projection from `start` (YYYY-MM-DD) on, so a new day or hour is queryable
 * without a crawler or `MSCK REPAIR TABLE`. The Athena DDL and the CDK stack's Glue tables both state these.
 */
export function tableProperties(t: AtScaleTable, location: string, start: string): [string, string][] {
  const props: [string, string][] = [['parquet.compression', 'ZSTD']];
  if (t.partitions.length > 0) {
    props.push(['projection.enabled', 'true']);
    if (t.partitions.includes('date'))
      props.push(
        ['projection.date.type', 'date'],
        ['projection.date.format', 'yyyy-MM-dd'],
        ['projection.date.range', `${start},NOW`],
        ['projection.date.interval', '1'],
        ['projection.date.interval.unit', 'DAYS'],
      );
    if (t.partitions.includes('hour'))
      props.push(
        ['projection.hour.type', 'integer'],
        ['projection.hour.range', '0,23'],
        ['projection.hour.digits', '2'],
      );
    const template = t.partitions.map((p) => `${p}=\${${p}}`).join('/');
    props.push(['storage.location.template', `${location}${template}/`]);
  }
  return props;
}

/** The Athena DDL of one table (CREATE EXTERNAL TABLE … PARTITIONED BY … STORED AS PARQUET LOCATION …). */
export function athenaDdl(t: AtScaleTable, o: DdlOptions): string {
  const db = o.database ?? 'edgeloop';
  const start = o.projectionStart ?? '2026-01-01';
  const loc = `${o.location.replace(/\/$/, '')}/${t.path}/`;
  const cols = t.columns.map((c) => `  \`${c.name}\` ${c.type}`).join(',\n');
  const lines = [`CREATE EXTERNAL TABLE IF NOT EXISTS \`${db}\`.\`${t.name}\` (`, cols, ')'];
  if (t.partitions.length > 0) lines.push(`PARTITIONED BY (${t.partitions.map((p) => `\`${p}\` string`).join(', ')})`);
  lines.push('STORED AS PARQUET', `LOCATION '${loc}'`);
  const props = tableProperties(t, loc, start);
  lines.push(`TBLPROPERTIES (\n${props.map(([k, v]) => `  '${k}' = '${v}'`).join(',\n')}\n);`);
  return `${lines.join('\n')}\n`;
}

/**
 * The hourly aggregates in Athena's (Trino's) dialect, one date partition at a time, over the published facts and
 * dim_device: the warehouse's aggregate SQL (cloud/warehouse/warehouse.ts) translated as docs/batch.md lists —
 * explicit GROUP BY for GROUP BY ALL, approx_percentile for quantile_disc (approximate: Trino has no exact
 * percentile), a plain avg for the ordered avg (Trino sums in its own order), and the same member expressions
 * (AGG_LEVELS). The daily ones follow with `date_trunc('day', …)`.
 */
export function athenaAggregateSql(database = 'edgeloop'): string {
  // Trino quotes identifiers with double quotes (the backticks of the DDL are Hive's)
  const db = `"${database}"`;
  const levels = Object.entries(AGG_LEVELS);
  const sensor = levels
    .map(
      ([
        level,
        member,
      ]) => `SELECT '${level}' AS level, ${member} AS member, date_trunc('hour', f.ts) AS hour, f.sensor, count(*) AS readings,
  avg(f.value) AS mean_value, min(f.value) AS min_value, max(f.value) AS max_value, approx_percentile(f.value, 0.95) AS p95_value, f.date
FROM ${db}.fact_reading f LEFT JOIN ${db}.dim_device d ON d.device_key = f.device_key
WHERE f.date = '\${date}'
GROUP BY 1, 2, 3, 4, f.date`,
    )
    .join('\nUNION ALL\n');
  const health = levels
    .map(
      ([
        level,
        member,
      ]) => `SELECT '${level}' AS level, ${member.replace('f.', 'dv.')} AS member, dv.p AS hour, count(DISTINCT dv.device_id) AS devices,
  sum(dv.readings) AS readings, sum(dv.events) AS events, sum(dv.anomalies) AS anomalies,
  CASE WHEN sum(dv.readings) > 0 THEN CAST(sum(dv.anomalies) AS double) / sum(dv.readings) END AS anomaly_rate,
  CAST(sum(dv.active_minutes) AS double) / (count(DISTINCT dv.device_id) * 60.0) AS uptime,
  CAST(sum(dv.received) AS double) / sum(dv.expected) AS completeness, '\${date}' AS date
FROM dv LEFT JOIN ${db}.dim_device d ON d.device_key = dv.device_key
GROUP BY 1, 2, 3`,
    )
    .join('\nUNION ALL\n');
  return `-- generated by \`npm run gen:athena\` from cloud/batch/athena.ts (do not edit; test/cloud/batch/athena.test.ts checks it)
-- The warehouse's hourly aggregates in Athena (Trino) SQL for one day: replace \${date} with YYYY-MM-DD.
-- Translation from DuckDB (docs/batch.md): GROUP BY ALL -> explicit columns, quantile_disc -> approx_percentile,
-- avg(x ORDER BY ...) -> avg(x), integer division -> CAST(... AS double).

INSERT INTO ${db}.agg_sensor_hourly
${sensor};

INSERT INTO ${db}.agg_health_hourly
WITH u AS (
  SELECT f.device_id, f.device_key, date_trunc('hour', f.ts) AS p, f.seq, date_trunc('minute', f.ts) AS minute, 1 AS r, 0 AS e, 0 AS a
  FROM ${db}.fact_reading f WHERE f.date = '\${date}'
  UNION ALL
  SELECT f.device_id, f.device_key, date_trunc('hour', f.ts), f.seq, NULL, 0, 1, CASE WHEN f.kind = 'anomaly' THEN 1 ELSE 0 END
  FROM ${db}.fact_event f WHERE f.date = '\${date}'
), dv AS (
  SELECT device_id, device_key, p, sum(r) AS readings, sum(e) AS events, sum(a) AS anomalies, count(DISTINCT minute) AS active_minutes,
    count(DISTINCT seq) AS received, max(seq) - min(seq) + 1 AS expected
  FROM u GROUP BY device_id, device_key, p
)
${health};
`;
}

/** The committed files under deploy/athena/: one .sql per table plus the Glue column lists as JSON. */
export function athenaFiles(o: DdlOptions = { location: 's3://${BUCKET}/edgeloop' }): Record<string, string> {
  const files: Record<string, string> = {};
  const head = `-- generated by \`npm run gen:athena\` from cloud/batch/athena.ts (do not edit; test/cloud/batch/athena.test.ts checks it)\n-- replace \${BUCKET} with the deployment's bucket (or pass --location to the generator)\n`;
  for (const t of atScaleTables()) files[`${t.name}.sql`] = head + athenaDdl(t, o);
  files['aggregates.sql'] = athenaAggregateSql(o.database);
  files['glue-columns.json'] = `${JSON.stringify(glueColumns(), null, 1)}\n`;
  return files;
}
