/** Literals for the SQL the Parquet writers hand to DuckDB: quoted strings and identifiers, UTC days, timestamps. */
import { DuckDBTimestampTZValue } from '@duckdb/node-api';

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
