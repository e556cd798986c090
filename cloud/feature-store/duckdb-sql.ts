/**
 * Literals for the SQL the Parquet writers hand to DuckDB: quoted strings and identifiers, UTC days, timestamps; and
 * how one value of a column is appended to a DuckDB table.
 */
import { DuckDBTimestampTZValue, type DuckDBAppender } from '@duckdb/node-api';

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
export function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
export function micros(ms: number): DuckDBTimestampTZValue {
  return new DuckDBTimestampTZValue(BigInt(Math.round(ms * 1000)));
}

/** Append one value of a column of SQL type `type` (VARCHAR, BIGINT, DOUBLE, BOOLEAN, else TIMESTAMPTZ). */
export function appendValue(app: DuckDBAppender, type: string, v: string | number | boolean | null): void {
  if (v === null) app.appendNull();
  else if (type === 'VARCHAR') app.appendVarchar(String(v));
  else if (type === 'BIGINT') app.appendBigInt(BigInt(Math.trunc(v as number)));
  else if (type === 'DOUBLE') app.appendDouble(v as number);
  else if (type === 'BOOLEAN') app.appendBoolean(v as boolean);
  else app.appendTimestampTZ(micros(v as number));
}
