/**
 * The fleet warehouse's tables (DuckDB, `<dataDir>/warehouse.duckdb`), a star: facts at reading grain keyed to a
 * device version, dimensions, materialised aggregates, and the warehouse's own bookkeeping. Plain SQL types and
 * statements only (the dialect-neutral subset), except TIMESTAMPTZ for UTC instants.
 *
 *   fact_reading     one row per reading (device_id, seq): sensor, ts, value
 *   fact_event       one row per anomaly event or alert (device_id, seq): kind, severity, model, score
 *   fact_inference   a view: one row per status message with inference outcomes (windows, anomalies, p95 latency)
 *   fact_feature     a view over the feature store's Parquet history (<dataDir>/offline), when it exists
 *   stg_status, stg_model_report   the SCD2 sources, as archived
 *   dim_device       SCD Type 2 (scd2.ts): device_key, version, attributes, valid_from, valid_to, is_current
 *   dim_model        model versions from the registry (and versions devices reported that it does not know)
 *   dim_date, dim_time   calendar days of the facts; the 1440 minutes of a day
 *   agg_sensor_{hourly,daily}   per level (device, site, model), member, period, sensor: count, mean, min, max, p95
 *   agg_health_{hourly,daily}   per level, member, period: readings, events, anomalies, anomaly_rate, uptime, completeness
 *   dq_results       the data-quality checks of every refresh (checks.ts)
 *   wh_partitions    which archive files each loaded partition was built from (incremental refresh)
 * Every fact row carries `partition` (`date=…/hour=…` of the archive) and `hour` (the UTC hour of its ts).
 */
export const WAREHOUSE_SCHEMA_VERSION = 1;

export const FACT_TABLES = {
  readings: 'fact_reading',
  events: 'fact_event',
  status: 'stg_status',
  model_reports: 'stg_model_report',
} as const;

const KEYS = `partition VARCHAR NOT NULL, hour TIMESTAMPTZ NOT NULL, date_key INTEGER NOT NULL, time_key INTEGER NOT NULL`;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS wh_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS wh_partitions (archive_table VARCHAR NOT NULL, partition VARCHAR NOT NULL, files VARCHAR NOT NULL, PRIMARY KEY (archive_table, partition));
CREATE TABLE IF NOT EXISTS fact_reading (device_id VARCHAR NOT NULL, seq BIGINT NOT NULL, sensor VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL, value DOUBLE NOT NULL, arrived_at TIMESTAMPTZ, device_key VARCHAR, ${KEYS});
CREATE TABLE IF NOT EXISTS fact_event (device_id VARCHAR NOT NULL, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL, severity VARCHAR NOT NULL, model_name VARCHAR, model_version VARCHAR, score DOUBLE, threshold DOUBLE, sensors VARCHAR, arrived_at TIMESTAMPTZ, device_key VARCHAR, ${KEYS});
CREATE TABLE IF NOT EXISTS stg_status (device_id VARCHAR NOT NULL, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, online BOOLEAN, agent_version VARCHAR, model_name VARCHAR, model_version VARCHAR, models VARCHAR, site VARCHAR, hardware VARCHAR, config_hash VARCHAR, inference_windows BIGINT, inference_anomalies BIGINT, inference_p95_ms DOUBLE, arrived_at TIMESTAMPTZ, ${KEYS});
CREATE TABLE IF NOT EXISTS stg_model_report (device_id VARCHAR NOT NULL, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, model VARCHAR NOT NULL, version VARCHAR NOT NULL, state VARCHAR NOT NULL, rollout_id VARCHAR, reason VARCHAR, arrived_at TIMESTAMPTZ, ${KEYS});
CREATE TABLE IF NOT EXISTS dim_device (device_key VARCHAR PRIMARY KEY, device_id VARCHAR NOT NULL, version INTEGER NOT NULL, site VARCHAR, hardware VARCHAR, agent_version VARCHAR, model_name VARCHAR, model_version VARCHAR, config_hash VARCHAR, valid_from TIMESTAMPTZ NOT NULL, valid_to TIMESTAMPTZ, is_current BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS dim_model (model_name VARCHAR NOT NULL, model_version VARCHAR NOT NULL, sha256 VARCHAR, bytes BIGINT, parent_version VARCHAR, created_at VARCHAR, pushed_at TIMESTAMPTZ, source VARCHAR NOT NULL, PRIMARY KEY (model_name, model_version));
CREATE TABLE IF NOT EXISTS dim_date (date_key INTEGER PRIMARY KEY, date DATE NOT NULL, year INTEGER NOT NULL, month INTEGER NOT NULL, day INTEGER NOT NULL, day_of_week INTEGER NOT NULL, iso_week INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dim_time (time_key INTEGER PRIMARY KEY, hour INTEGER NOT NULL, minute INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS agg_sensor_hourly (level VARCHAR NOT NULL, member VARCHAR NOT NULL, hour TIMESTAMPTZ NOT NULL, sensor VARCHAR NOT NULL, readings BIGINT NOT NULL, mean_value DOUBLE, min_value DOUBLE, max_value DOUBLE, p95_value DOUBLE);
CREATE TABLE IF NOT EXISTS agg_sensor_daily (level VARCHAR NOT NULL, member VARCHAR NOT NULL, day DATE NOT NULL, sensor VARCHAR NOT NULL, readings BIGINT NOT NULL, mean_value DOUBLE, min_value DOUBLE, max_value DOUBLE, p95_value DOUBLE);
CREATE TABLE IF NOT EXISTS agg_health_hourly (level VARCHAR NOT NULL, member VARCHAR NOT NULL, hour TIMESTAMPTZ NOT NULL, devices BIGINT NOT NULL, readings BIGINT NOT NULL, events BIGINT NOT NULL, anomalies BIGINT NOT NULL, anomaly_rate DOUBLE, uptime DOUBLE, completeness DOUBLE);
CREATE TABLE IF NOT EXISTS agg_health_daily (level VARCHAR NOT NULL, member VARCHAR NOT NULL, day DATE NOT NULL, devices BIGINT NOT NULL, readings BIGINT NOT NULL, events BIGINT NOT NULL, anomalies BIGINT NOT NULL, anomaly_rate DOUBLE, uptime DOUBLE, completeness DOUBLE);
CREATE OR REPLACE VIEW fact_inference AS SELECT device_id, seq, ts, model_name, model_version, inference_windows AS windows,
  inference_anomalies AS anomalies, inference_p95_ms AS p95_ms, hour, date_key, time_key FROM stg_status WHERE inference_windows IS NOT NULL;
CREATE TABLE IF NOT EXISTS dq_results (refresh_id INTEGER NOT NULL, checked_at TIMESTAMPTZ NOT NULL, check_name VARCHAR NOT NULL, status VARCHAR NOT NULL, observed DOUBLE, detail VARCHAR NOT NULL);
`;

/** The levels aggregates are kept at, and the member expression of each over a fact joined to dim_device `d`. */
export const AGG_LEVELS = {
  device: 'f.device_id',
  site: "coalesce(d.site, '(unknown)')",
  model: "coalesce(d.model_name || '@' || d.model_version, '(none)')",
} as const;

const US_HOUR = 3_600_000_000;
const US_DAY = 86_400_000_000;

/** `x mod m` with the sign of m (SQL's % keeps the sign of x): the floor, also below zero */
export function floorMod(x: string, m: number): string {
  return `((${x} % ${m}) + ${m}) % ${m}`;
}

/** a one-bit UBIGINT mask of `x mod width` (width ≤ 64): bit_or over a group and bit_count give its distinct values */
export function bitOf(x: string, width: number): string {
  return `CAST(1 AS UBIGINT) << CAST(${floorMod(x, width)} AS UBIGINT)`;
}

/** the block of 64 consecutive seqs a seq is in: with bitOf(seq, 64), a block's seqs are one mask */
export function seqBlock(seq: string): string {
  return `(${seq} - ${floorMod(seq, 64)}) // 64`;
}

/**
 * The columns every fact table gets from its ts (the date and time dimension keys). Integer arithmetic on the
 * epoch, not date_trunc/strftime/extract on a TIMESTAMPTZ: those go through the ICU calendar for every row (about
 * 1 µs a row, most of a refresh's load time) and give the same values in UTC (test/cloud/warehouse/schema.test.ts).
 * With `hourStart` (ms, the hour of an archive partition) a row in that hour gets constants.
 */
export function timeKeys(ts: string, hourStart?: number): string {
  if (hourStart === undefined)
    return `${hourOf(ts)} AS hour, ${dateKeyOf(ts)} AS date_key, ${minuteOfDay(ts)} AS time_key`;
  // the rows of an archive partition lie in its hour: constants there, the general expressions for any other row
  const s = Math.round(hourStart * 1000);
  const inHour = `epoch_us(${ts}) >= ${s} AND epoch_us(${ts}) < ${s + US_HOUR}`;
  const iso = new Date(hourStart).toISOString();
  const dateKey = Number(iso.slice(0, 10).replaceAll('-', ''));
  const minute0 = new Date(hourStart).getUTCHours() * 60;
  return [
    `CASE WHEN ${inHour} THEN make_timestamptz(${s}::BIGINT) ELSE ${hourOf(ts)} END AS hour`,
    `CASE WHEN ${inHour} THEN ${dateKey} ELSE ${dateKeyOf(ts)} END AS date_key`,
    `CASE WHEN ${inHour} THEN CAST(${minute0} + (epoch_us(${ts}) - ${s}) // 60000000 AS INTEGER) ELSE ${minuteOfDay(ts)} END AS time_key`,
  ].join(', ');
}

/** the UTC hour a TIMESTAMPTZ falls in, as a TIMESTAMPTZ (floor, also before 1970) */
export function hourOf(ts: string): string {
  return `make_timestamptz(epoch_us(${ts}) - ${floorMod(`epoch_us(${ts})`, US_HOUR)})`;
}

/** the UTC calendar day of a TIMESTAMPTZ as the integer YYYYMMDD (dim_date's key) */
export function dateKeyOf(ts: string): string {
  const t = `make_timestamp(epoch_us(${ts}))`;
  return `(year(${t}) * 10000 + month(${t}) * 100 + day(${t}))`;
}

/** the minute of the UTC day of a TIMESTAMPTZ, 0-1439 (dim_time's key) */
export function minuteOfDay(ts: string): string {
  return `CAST(${floorMod(`epoch_us(${ts})`, US_DAY)} // 60000000 AS INTEGER)`;
}

/** a YYYYMMDD key as a DATE */
export function dateOfKey(key: string): string {
  return `make_date(${key} // 10000, ${key} // 100 % 100, ${key} % 100)`;
}
