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
 *   agg_dv       per device version and hour: readings, events, anomalies, active minutes, seqs received (each
 *                seq once: bit masks over blocks of 64 seqs), the seq range; the health rows of each level and
 *                period are sums of these. A day's seqs received are the sum of its hours': a seq is counted once
 *                in each hour it appears in, which differs from a count over the day only for a (device, seq) that
 *                appears twice with timestamps in different hours, a duplicate the unique-device-seq check reports.
 * Day and minute come from the facts' date_key and time_key (integers), never from calendar functions per row.
 */
import { AGG_LEVELS, bitOf, dateKeyOf, dateOfKey, seqBlock } from './schema.ts';

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
  // a part's values sorted once give its sum, min, max and p95 (quantile_disc(v, 0.95) is the ceil(0.95 n)-th
  // smallest, test/cloud/warehouse/aggregates.test.ts)
  const parts = `CREATE OR REPLACE TEMP TABLE agg_parts AS
    SELECT device_id, device_key, hour, date_key, sensor, n, list_sum(v) AS total, v[1] AS lo, v[n] AS hi,
      v[CAST(ceil(0.95 * n) AS BIGINT)] AS p95
    FROM (
      SELECT f.device_id, f.device_key, f.hour, f.date_key, f.sensor, count(*) AS n, list_sort(list(f.value)) AS v
      FROM fact_reading f WHERE ${IN_DAYS} GROUP BY ALL
    )`;
  // a device's hour is one part but when the device changed version in it: those few from the facts
  const split = 'SELECT device_id, hour, sensor FROM agg_parts GROUP BY ALL HAVING count(*) > 1';
  const deviceHours = `SELECT 'device' AS level, device_id AS member, hour, NULL AS date_key, sensor, any_value(p95) AS p95_value
      FROM agg_parts GROUP BY device_id, hour, sensor HAVING count(*) = 1
    UNION ALL
    SELECT 'device', f.device_id, f.hour, NULL, f.sensor, quantile_disc(f.value, 0.95) FROM fact_reading f
      WHERE ${IN_DAYS} AND (f.device_id, f.hour, f.sensor) IN (${split}) GROUP BY ALL`;
  // the other levels and periods: one aggregate each (a scan each is faster than one pass of grouping sets)
  const p95 = `CREATE OR REPLACE TEMP TABLE agg_p95 AS ${[
    deviceHours,
    ...(['hour', 'date_key'] as const).flatMap((period) =>
      LEVELS.filter(([level]) => period === 'date_key' || level !== 'device').map(
        ([level, member]) =>
          `SELECT '${level}' AS level, ${member} AS member, ${period === 'hour' ? 'f.hour' : 'NULL'} AS hour,
             ${period === 'date_key' ? 'f.date_key' : 'NULL'} AS date_key, f.sensor, quantile_disc(f.value, 0.95) AS p95_value
           FROM fact_reading f ${member.startsWith('f.') ? '' : FACTS_AND_DEVICE} WHERE ${IN_DAYS} GROUP BY ALL`,
      ),
    ),
  ].join(' UNION ALL ')}`;
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
  // per device version and hour, in two steps: first per block of 64 consecutive seqs, where a seq is a bit of a
  // 64-bit mask, so the seqs received are the mask's bit count (exact, no DISTINCT and no sort); a minute is a bit
  // of a 60-bit mask the same way. Then the blocks of an hour are summed and their minute masks or'ed.
  const dv = `CREATE OR REPLACE TEMP TABLE agg_dv AS
    SELECT device_id, device_key, hour, any_value(date_key) AS date_key, sum(readings) AS readings,
      sum(events) AS events, sum(anomalies) AS anomalies, bit_count(bit_or(minutes)) AS active_minutes,
      sum(bit_count(seqs)) AS received, min(lo) AS lo, max(hi) AS hi
    FROM (
      SELECT device_id, device_key, hour, any_value(date_key) AS date_key, sum(r) AS readings, sum(e) AS events,
        sum(a) AS anomalies, bit_or(minute) AS minutes, bit_or(${bitOf('seq', 64)}) AS seqs, min(seq) AS lo, max(seq) AS hi
      FROM (
        SELECT f.device_id, f.device_key, f.hour, f.date_key, f.seq, ${bitOf('f.time_key', 60)} AS minute, 1 AS r, 0 AS e, 0 AS a
        FROM fact_reading f WHERE ${IN_DAYS}
        UNION ALL
        SELECT f.device_id, f.device_key, f.hour, f.date_key, f.seq, CAST(0 AS UBIGINT), 0, 1,
          CASE WHEN f.kind = 'anomaly' THEN 1 ELSE 0 END
        FROM fact_event f WHERE ${IN_DAYS}
      ) GROUP BY device_id, device_key, hour, ${seqBlock('seq')}
    ) GROUP BY device_id, device_key, hour`;
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
  return [dv, rollUp('hourly'), rollUp('daily')];
}

/** the temp tables aggregateStatements() leaves behind */
export const AGGREGATE_TEMP_TABLES = ['agg_parts', 'agg_p95', 'agg_dv'] as const;
