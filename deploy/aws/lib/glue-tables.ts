/**
 * The warehouse's Glue tables: the raw archive's Parquet tables (cloud/archive/archive-tables.ts, the schema the
 * RawArchive writes through DuckDB and the DuckDB warehouse reads), so Athena, Trino or Spark read the same files
 * at scale. Pure: column lists and table parameters, no AWS calls.
 *
 * Layout: `<location>/<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet` (raw-archive.ts). `date` and `hour` are
 * partition columns found by partition projection, so a new hour is queryable without a crawler or
 * `MSCK REPAIR TABLE`.
 */
import { ARCHIVE_TABLE_NAMES, ARCHIVE_TABLES, type ArchiveColumnType } from '../../../cloud/archive/archive-tables.ts';

/** DuckDB's types as written to Parquet, in Glue/Hive names (TIMESTAMPTZ is a UTC-adjusted Parquet timestamp). */
export const GLUE_TYPE: Readonly<Record<ArchiveColumnType, string>> = {
  VARCHAR: 'string',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  TIMESTAMPTZ: 'timestamp',
  BOOLEAN: 'boolean',
};

export interface GlueTableSpec {
  name: string;
  /** path under the data location, ending in '/' */
  prefix: string;
  columns: { name: string; type: string }[];
  partitionKeys: { name: string; type: string }[];
  /** table parameters: Parquet classification and partition projection; `${location}` is the table's S3 URI */
  parameters: (location: string) => Record<string, string>;
}

/** `firstDate`: the first day partition projection enumerates (YYYY-MM-DD). */
export function archiveGlueTables(archivePrefix: string, firstDate: string): GlueTableSpec[] {
  return ARCHIVE_TABLE_NAMES.map((name) => ({
    name,
    prefix: `${archivePrefix}${name}/`,
    columns: ARCHIVE_TABLES[name].columns.map((c) => ({ name: c.name, type: GLUE_TYPE[c.type] })),
    partitionKeys: [
      { name: 'date', type: 'string' },
      { name: 'hour', type: 'string' },
    ],
    parameters: (location) => ({
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      'projection.enabled': 'true',
      'projection.date.type': 'date',
      'projection.date.format': 'yyyy-MM-dd',
      'projection.date.range': `${firstDate},NOW`,
      'projection.date.interval': '1',
      'projection.date.interval.unit': 'DAYS',
      'projection.hour.type': 'integer',
      'projection.hour.range': '0,23',
      'projection.hour.digits': '2',
      'storage.location.template': `${location}date=\${date}/hour=\${hour}/`,
    }),
  }));
}
