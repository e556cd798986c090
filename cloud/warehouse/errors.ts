/** Error codes of the fleet warehouse (cloud/warehouse/, `edgeloop warehouse`). */
export const WAREHOUSE_ERROR_CODES = {
  EL_ERR_WAREHOUSE_OPEN:
    'The warehouse file (warehouse.duckdb) could not be opened: missing (run `edgeloop warehouse refresh` first), locked by another writer, or of a newer schema.',
  EL_ERR_WAREHOUSE_REFRESH: 'A warehouse refresh failed; its transaction was rolled back, the warehouse is as before.',
  EL_ERR_WAREHOUSE_READ_ONLY:
    'A write (refresh, check) was asked of a warehouse opened read-only, or a query tried to write.',
  EL_ERR_WAREHOUSE_QUERY: "A warehouse query failed (SQL error; the message is DuckDB's).",
  EL_ERR_WAREHOUSE_REPORT: 'An unknown named report, or a report argument that is missing or malformed.',
  EL_ERR_WAREHOUSE_CHECK_FAILED:
    'A data-quality check of the warehouse failed (`edgeloop warehouse check` lists which and why).',
  EL_ERR_WAREHOUSE_NO_DEVICE:
    'The reports API was asked for the history of a device the warehouse has no version of (404).',
  EL_ERR_WAREHOUSE_HTTP:
    'The warehouse reports API refused a request before its report ran (invalid parameters: 400; a path segment over 512 characters: 414).',
} as const satisfies Record<string, string>;
