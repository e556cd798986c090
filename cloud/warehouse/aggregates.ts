/**
 * The materialised aggregates of the days a refresh touched, as SQL statements (no I/O here: warehouse.ts runs them
 * in its transaction). Input: the temp table `touched_days (date_key)`; every hourly and daily row of those days is
 * deleted and computed again from the facts, at every level of AGG_LEVELS.
 *
 * Passes over the touched days' facts, none of them an ordered aggregate over a large group:
 *   agg_parts    per device version, hour and sensor: count, sum, min, max. The sum is taken over the group's
 *                values sorted (list_sum of list_sort), so it is the same number whatever order the threads saw the
 *                rows in; the means of every level and period are sums of these parts in device-key order. So a
 *                full rebuild equals an incremental one byte for byte, without sorting a site's day of readings;
 *   agg_p95      the exact p95 (quantile_disc) of every level and period, one aggregate each;
 *   agg_repeats  the rows that repeat a seq of their device version and hour;
 *   agg_dv       per device version and hour: readings, events, anomalies, active minutes, seqs received (rows
 *                less repeats), the seq range; the health rows of each level and period are sums of these. A
 *                day's seqs received are the sum of its hours': a seq is counted once in each hour it appears in,
 *                which differs from a count over the day only for a (device, seq) that appears twice with
 *                timestamps in different hours, a duplicate the unique-device-seq check reports.
 * Day and minute come from the facts' date_key and time_key (integers), never from calendar functions per row.
 */
import { AGG_LEVELS, dateKeyOf, dateOfKey } from './schema.ts';

const LEVELS = Object.entries(AGG_LEVELS);
const IN_DAYS = 'f.date_key IN (SELECT date_key FROM touched_days)';
const FACTS_AND_DEVICE = 'LEFT JOIN dim_device d ON d.device_key = f.device_key';

/** the statements that bring agg_sensor_* and agg_health_* up to date for the touched days, in order */
export function aggregateStatements(): string[] {
  return [...deleteTouched(), ...sensorStatements(), ...healthStatements()];
}

function deleteTouched(): string[] {
  const hourDay = dateKeyOf('hour');
  const dayKey = 'year(day) * 10000 + month(day) * 100 + day(day)';
  return ['sensor', 'health'].flatMap((kind) => [
    `DELETE FROM agg_${kind}_hourly WHERE ${hourDay} IN (SELECT date_key FROM touched_days)`,
    `DELETE FROM agg_${kind}_daily WHERE ${dayKey} IN (SELECT date_key FROM touched_days)`,
  ]);
}

function sensorStatements(): string[] {
  const parts = `CREATE OR REPLACE TEMP TABLE agg_parts AS
    SELECT f.device_id, f.device_key, f.hour, f.date_key, f.sensor, count(*) AS n,
      list_sum(list_sort(list(f.value))) AS total, min(f.value) AS lo, max(f.value) AS hi
    FROM fact_reading f WHERE ${IN_DAYS} GROUP BY ALL`;
  // one aggregate per level and period: a scan each is faster than one pass of six grouping sets
  const p95 = `CREATE OR REPLACE TEMP TABLE agg_p95 AS ${(['hour', 'date_key'] as const)
    .flatMap((period) =>
      LEVELS.map(
        ([level, member]) =>
          `SELECT '${level}' AS level, ${member} AS member, ${period === 'hour' ? 'f.hour' : 'NULL'} AS hour,
             ${period === 'date_key' ? 'f.date_key' : 'NULL'} AS date_key, f.sensor, quantile_disc(f.value, 0.95) AS p95_value
           FROM fact_reading f ${member.startsWith('f.') ? '' : FACTS_AND_DEVICE} WHERE ${IN_DAYS} GROUP BY ALL`,
      ),
    )
    .join(' UNION ALL ')}`;
  const rollUp = (period: 'hourly' | 'daily'): string => {
    const key = period === 'hourly' ? 'f.hour' : 'f.date_key';
    const order = period === 'hourly' ? 'f.device_key' : 'f.device_key, f.hour';
    const select = LEVELS.map(
      ([level, member]) =>
        `SELECT '${level}' AS level, ${member} AS member, ${key} AS k, f.sensor, sum(f.n) AS readings,
           sum(f.total ORDER BY ${order}) / sum(f.n) AS mean_value, min(f.lo) AS min_value, max(f.hi) AS max_value
         FROM agg_parts f ${FACTS_AND_DEVICE} GROUP BY ALL`,
    ).join(' UNION ALL ');
    const qKey = period === 'hourly' ? 'q.hour' : 'q.date_key';
    const out = period === 'hourly' ? 'a.k' : dateOfKey('a.k');
    return `INSERT INTO agg_sensor_${period}
      SELECT a.level, a.member, ${out}, a.sensor, a.readings, a.mean_value, a.min_value, a.max_value, q.p95_value
      FROM (${select}) a JOIN agg_p95 q ON q.level = a.level AND q.member = a.member AND ${qKey} = a.k AND q.sensor = a.sensor
      ORDER BY ALL`;
  };
  return [parts, p95, rollUp('hourly'), rollUp('daily')];
}

function healthStatements(): string[] {
  // the rows that repeat a seq of their device version and hour (none unless a producer bypassed the ingest's
  // dedup): found by one sort per device and hour, narrower and about twice as fast as count(DISTINCT seq)
  const repeats = `CREATE OR REPLACE TEMP TABLE agg_repeats AS
    SELECT device_id, device_key, hour, count(*) AS extra FROM (
      SELECT device_id, device_key, hour,
        seq = lag(seq) OVER w AND device_key = lag(device_key) OVER w AS again
      FROM (
        SELECT f.device_id, f.device_key, f.hour, f.seq FROM fact_reading f WHERE ${IN_DAYS}
        UNION ALL
        SELECT f.device_id, f.device_key, f.hour, f.seq FROM fact_event f WHERE ${IN_DAYS}
      ) WINDOW w AS (PARTITION BY device_id, hour ORDER BY seq, device_key)
    ) WHERE again GROUP BY ALL`;
  // per device version and hour; a minute is a bit of a 60-bit mask (no DISTINCT over the minutes)
  const dv = `CREATE OR REPLACE TEMP TABLE agg_dv AS
    SELECT g.*, g.rows - coalesce(x.extra, 0) AS received FROM (
      SELECT device_id, device_key, hour, any_value(date_key) AS date_key, sum(r) AS readings, sum(e) AS events,
        sum(a) AS anomalies, bit_count(bit_or(minute)) AS active_minutes, count(*) AS rows, min(seq) AS lo, max(seq) AS hi
      FROM (
        SELECT f.device_id, f.device_key, f.hour, f.date_key, f.seq,
          CAST(1 AS UBIGINT) << CAST(f.time_key % 60 AS UBIGINT) AS minute, 1 AS r, 0 AS e, 0 AS a
        FROM fact_reading f WHERE ${IN_DAYS}
        UNION ALL
        SELECT f.device_id, f.device_key, f.hour, f.date_key, f.seq, CAST(0 AS UBIGINT), 0, 1,
          CASE WHEN f.kind = 'anomaly' THEN 1 ELSE 0 END
        FROM fact_event f WHERE ${IN_DAYS}
      ) GROUP BY device_id, device_key, hour
    ) g LEFT JOIN agg_repeats x ON x.device_id = g.device_id AND x.device_key IS NOT DISTINCT FROM g.device_key AND x.hour = g.hour`;
  const rollUp = (period: 'hourly' | 'daily'): string => {
    const minutes = period === 'hourly' ? 60 : 1440;
    // a day of a device version: the sums of its hours, and its seq range
    const source =
      period === 'hourly'
        ? 'SELECT *, hi - lo + 1 AS expected, hour AS k FROM agg_dv'
        : `SELECT device_id, device_key, sum(readings) AS readings, sum(events) AS events, sum(anomalies) AS anomalies,
             sum(active_minutes) AS active_minutes, sum(received) AS received, max(hi) - min(lo) + 1 AS expected,
             ${dateOfKey('date_key')} AS k
           FROM agg_dv GROUP BY device_id, device_key, date_key`;
    const select = LEVELS.map(
      ([level, member]) =>
        `SELECT '${level}' AS level, ${member} AS member, f.k, count(DISTINCT f.device_id) AS devices,
           sum(f.readings) AS readings, sum(f.events) AS events, sum(f.anomalies) AS anomalies,
           CASE WHEN sum(f.readings) > 0 THEN sum(f.anomalies) / sum(f.readings) END AS anomaly_rate,
           sum(f.active_minutes) / (count(DISTINCT f.device_id) * ${minutes}.0) AS uptime,
           sum(f.received) / sum(f.expected) AS completeness
         FROM (${source}) f ${FACTS_AND_DEVICE} GROUP BY ALL`,
    ).join(' UNION ALL ');
    return `INSERT INTO agg_health_${period} SELECT * FROM (${select}) ORDER BY ALL`;
  };
  return [repeats, dv, rollUp('hourly'), rollUp('daily')];
}

/** the temp tables aggregateStatements() leaves behind */
export const AGGREGATE_TEMP_TABLES = ['agg_parts', 'agg_p95', 'agg_repeats', 'agg_dv'] as const;
