/**
 * The warehouse's Glue tables at scale: the raw archive's four Parquet tables (cloud/archive/archive-tables.ts,
 * what the RawArchive writes through DuckDB) and the published warehouse tables (facts, aggregates, dimensions of
 * cloud/warehouse/schema.ts, what the daily DAG's `publish` task writes), so Athena, Trino or Spark read the same
 * files at scale. One source with the Athena DDL of deploy/athena/: cloud/batch/athena.ts's `atScaleTables()` and
 * `tableProperties()`. Pure: column lists and table parameters, no AWS calls.
 *
 * Layout under the data bucket: `archive/<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet`,
 * `warehouse/<table>/[date=…/[hour=…/]]part-0.parquet`. `date` and `hour` are partition columns found by partition
 * projection, so a new hour is queryable without a crawler or `MSCK REPAIR TABLE`.
 */
import { atScaleTables, type GlueColumn, tableProperties } from '../../../cloud/batch/athena.ts';

export interface GlueTableSpec {
  name: string;
  description: string;
  /** path under the data bucket, ending in '/' */
  prefix: string;
  columns: GlueColumn[];
  partitionKeys: GlueColumn[];
  /** table parameters: Parquet classification and partition projection; `location` is the table's S3 URI */
  parameters: (location: string) => Record<string, string>;
}

/** `firstDate`: the first day partition projection enumerates (YYYY-MM-DD). */
export function warehouseGlueTables(firstDate: string): GlueTableSpec[] {
  return atScaleTables().map((t) => ({
    name: t.name,
    description:
      t.source === undefined
        ? `raw archive table ${t.name} (cloud/archive/archive-tables.ts)`
        : `warehouse table ${t.name} (cloud/warehouse/schema.ts), written by the daily DAG's publish task`,
    prefix: `${t.path}/`,
    columns: t.columns,
    partitionKeys: t.partitions.map((p) => ({ name: p, type: 'string' })),
    parameters: (location) => ({
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      ...Object.fromEntries(tableProperties(t, location, firstDate)),
    }),
  }));
}
