/**
 * Named reports over the warehouse (SQL text only; `edgeloop warehouse report NAME`):
 *
 *   fleet-health            every device's current version and its last 24 hours (from the newest reading):
 *                           readings, anomalies, anomaly rate, uptime, completeness, last reading
 *   device-history DEVICE   the device's dim_device versions (SCD2): attributes and validity ranges
 *   model-impact [--as-of T]  per model version: devices, readings, anomalies, anomaly rate; each fact counts for
 *                           the version its device ran at the fact's time; with --as-of only facts before T
 *   site-trend [SITE]       per site and day: devices, readings, anomaly rate, uptime, completeness; optionally one
 *                           site and the days from `from` to `to` (UTC days, both included)
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';

export const REPORT_NAMES = ['fleet-health', 'device-history', 'model-impact', 'site-trend'] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

export interface ReportArgs {
  device?: string | undefined;
  /** ms since the epoch */
  asOf?: number | undefined;
  /** site-trend: only this site */
  site?: string | undefined;
  /** site-trend: only days from the UTC day of this time (ms since the epoch) */
  from?: number | undefined;
  /** site-trend: only days up to the UTC day of this time, included (ms since the epoch) */
  to?: number | undefined;
}

function ts(ms: number): string {
  return `make_timestamptz(${Math.round(ms) * 1000}::BIGINT)`;
}

export function reportSql(name: string, args: ReportArgs = {}): string {
  switch (name) {
    case 'fleet-health':
      return `WITH last AS (SELECT max(hour) - INTERVAL 23 HOUR AS since FROM agg_health_hourly)
        SELECT d.device_id, d.site, d.model_name, d.model_version, d.agent_version,
               sum(h.readings) AS readings, sum(h.anomalies) AS anomalies,
               round(sum(h.anomalies) / nullif(sum(h.readings), 0), 4) AS anomaly_rate,
               round(avg(h.uptime), 3) AS uptime, round(avg(h.completeness), 3) AS completeness,
               (SELECT max(ts) FROM fact_reading f WHERE f.device_id = d.device_id) AS last_reading
        FROM dim_device d
        LEFT JOIN agg_health_hourly h ON h.level = 'device' AND h.member = d.device_id AND h.hour >= (SELECT since FROM last)
        WHERE d.is_current
        GROUP BY ALL ORDER BY d.device_id`;
    case 'device-history':
      if (!args.device)
        throw new EdgeloopError(
          'EL_ERR_WAREHOUSE_REPORT',
          'report device-history needs a device id: edgeloop warehouse report device-history DEVICE',
        );
      return `SELECT version, site, hardware, agent_version, model_name, model_version, config_hash, valid_from, valid_to, is_current
        FROM dim_device WHERE device_id = ${sqlString(args.device)} ORDER BY version`;
    case 'model-impact': {
      const before = args.asOf === undefined ? '' : `WHERE f.ts < ${ts(args.asOf)}`;
      return `WITH r AS (SELECT f.device_key, count(*) AS readings FROM fact_reading f ${before} GROUP BY ALL),
             e AS (SELECT f.device_key, count(*) FILTER (WHERE f.kind = 'anomaly') AS anomalies FROM fact_event f ${before} GROUP BY ALL)
        SELECT coalesce(d.model_name, '(none)') AS model_name, coalesce(d.model_version, '(none)') AS model_version,
               count(DISTINCT d.device_id) AS devices, sum(coalesce(r.readings, 0)) AS readings, sum(coalesce(e.anomalies, 0)) AS anomalies,
               round(sum(coalesce(e.anomalies, 0)) / nullif(sum(coalesce(r.readings, 0)), 0), 6) AS anomaly_rate
        FROM dim_device d LEFT JOIN r ON r.device_key = d.device_key LEFT JOIN e ON e.device_key = d.device_key
        WHERE r.readings IS NOT NULL OR e.anomalies IS NOT NULL
        GROUP BY ALL ORDER BY model_name, model_version`;
    }
    case 'site-trend': {
      const where = ["level = 'site'"];
      if (args.site !== undefined) where.push(`member = ${sqlString(args.site)}`);
      if (args.from !== undefined) where.push(`day >= CAST(${ts(args.from)} AS DATE)`);
      if (args.to !== undefined) where.push(`day <= CAST(${ts(args.to)} AS DATE)`);
      return `SELECT member AS site, day, devices, readings, anomalies, round(anomaly_rate, 6) AS anomaly_rate, round(uptime, 3) AS uptime, round(completeness, 3) AS completeness
        FROM agg_health_daily WHERE ${where.join(' AND ')} ORDER BY site, day`;
    }
    default:
      throw new EdgeloopError(
        'EL_ERR_WAREHOUSE_REPORT',
        `unknown report ${JSON.stringify(name)}; reports: ${REPORT_NAMES.join(', ')}`,
      );
  }
}
