/**
 * Data-quality checks, run after each refresh (results kept in dq_results) and by `edgeloop warehouse check`.
 *
 *   reconcile-ingest  per device, the seqs the ingest accepted (its dedup state, `ingest-dedup.db`) between the
 *                     smallest and largest seq the warehouse holds for the device, against the readings and events
 *                     the warehouse holds in that range: a difference is a loss (or a duplicate) between ingest
 *                     and warehouse. Seqs above the largest archived one are still on their way and not counted;
 *                     a gap the ingest collapsed (more than 64 open gaps of one device) counts as accepted.
 *                     Skipped when there is no dedup state.
 *   unique-device-seq readings and events share one seq space per device: every (device_id, seq) at most once
 *   non-null-keys     every fact has device_id, seq, ts and a device_key (a dim_device version)
 *   value-ranges      readings inside the configured per-sensor ranges; rates and fractions of the aggregates in [0, 1]
 *   freshness         the newest reading arrived at most `maxStalenessMs` ago
 *   scd2-ranges       every device's versions are contiguous, non-overlapping, exactly one current
 */

import { bitOf, seqBlock } from './schema.ts';

/** What the checks read the warehouse through (Warehouse implements it): rows of a read-only query. */
export interface RowSource {
  rows(sql: string): Promise<Record<string, unknown>[]>;
}

export interface CheckOptions {
  /** freshness bound, ms; null skips the check. Default 15 minutes. */
  maxStalenessMs?: number | null;
  /** per sensor, the inclusive range its values must be in, e.g. { temperature: [-40, 125] } */
  ranges?: Record<string, readonly [number, number]>;
}

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** the figure the check measured (violations, age in ms, ...) */
  observed: number | null;
  detail: string;
}

const n = (v: unknown): number => Number(v ?? 0);
const examples = (rows: Record<string, unknown>[], f: (r: Record<string, unknown>) => string): string =>
  rows.length === 0 ? '' : `, e.g. ${rows.slice(0, 3).map(f).join('; ')}`;

/** Seqs of flattened [lo, hi, ...] intervals that fall in [from, to]. */
export function countInRange(intervals: readonly number[], from: number, to: number): number {
  let c = 0;
  for (let i = 0; i + 1 < intervals.length; i += 2) {
    const lo = Math.max(intervals[i]!, from);
    const hi = Math.min(intervals[i + 1]!, to);
    if (hi >= lo) c += hi - lo + 1;
  }
  return c;
}

export async function runChecks(
  w: RowSource,
  o: CheckOptions & { now: number; ingestIntervals?: { device_id: string; intervals: string }[] | undefined },
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const keys = `SELECT device_id, seq, ts, device_key FROM fact_reading UNION ALL SELECT device_id, seq, ts, device_key FROM fact_event`;
  // duplicates in two steps, no sort and no DISTINCT: per device and block of 64 consecutive seqs, a seq is a bit
  // of a mask, so a block holds a repeat exactly when it has more rows than bits set; only those blocks are then
  // grouped by seq. Per device: the pairs seen more than once, their extra rows (the reconciliation subtracts
  // them) and the three worst.
  const dupDevices = await w.rows(
    `WITH k AS (SELECT device_id, seq, ${seqBlock('seq')} AS b FROM (${keys})),
     repeated AS (
       SELECT device_id, b FROM k GROUP BY device_id, b
       HAVING count(*) > bit_count(bit_or(${bitOf('seq', 64)}))
     )
     SELECT device_id, count(*) AS pairs, sum(c - 1) AS extra, list(seq ORDER BY c DESC, seq)[1:3] AS seqs,
       list(c ORDER BY c DESC, seq)[1:3] AS cs
     FROM (
       SELECT device_id, seq, count(*) AS c FROM k SEMI JOIN repeated USING (device_id, b)
       GROUP BY ALL HAVING count(*) > 1
     ) GROUP BY device_id`,
  );
  const extraOf = new Map(dupDevices.map((r) => [r.device_id as string, n(r.extra)]));

  if (!o.ingestIntervals)
    out.push({
      name: 'reconcile-ingest',
      status: 'skip',
      observed: null,
      detail: 'no ingest dedup state (ingest-dedup.db) to reconcile with',
    });
  else {
    const held = new Map(
      (
        await w.rows(
          `SELECT device_id, min(seq) AS lo, max(seq) AS hi, count(*) AS rows FROM (${keys}) GROUP BY device_id`,
        )
      ).map((r) => [
        r.device_id as string,
        { lo: r.lo, hi: r.hi, n: n(r.rows) - (extraOf.get(r.device_id as string) ?? 0) },
      ]),
    );
    let accepted = 0;
    let archived = 0;
    const off: string[] = [];
    for (const { device_id, intervals } of o.ingestIntervals) {
      const h = held.get(device_id);
      if (!h) continue;
      const a = countInRange(JSON.parse(intervals) as number[], n(h.lo), n(h.hi));
      accepted += a;
      archived += h.n;
      if (a !== h.n && off.length < 3) off.push(`${device_id}: ingest ${a}, warehouse ${h.n}`);
    }
    const diff = accepted - archived;
    out.push({
      name: 'reconcile-ingest',
      status: diff === 0 ? 'pass' : 'fail',
      observed: diff,
      detail:
        diff === 0
          ? `${archived} readings and events of ${held.size} devices, as many as the ingest accepted in their seq ranges`
          : `the ingest accepted ${accepted} readings and events in the devices' archived seq ranges, the warehouse holds ${archived} (${diff > 0 ? `${diff} missing` : `${-diff} more`})${off.length ? `, e.g. ${off.join('; ')}` : ''}`,
    });
  }

  const dup = dupDevices
    .flatMap((r) =>
      (r.seqs as unknown[]).map((seq, i) => ({
        device_id: r.device_id as string,
        seq: n(seq),
        c: n((r.cs as unknown[])[i]),
      })),
    )
    .sort((a, b) => b.c - a.c || (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0) || a.seq - b.seq);
  const dupCount = dupDevices.reduce((sum, r) => sum + n(r.pairs), 0);
  out.push({
    name: 'unique-device-seq',
    status: dupCount === 0 ? 'pass' : 'fail',
    observed: dupCount,
    detail:
      dupCount === 0
        ? 'every (device_id, seq) once'
        : `${dupCount} (device_id, seq) pairs more than once${examples(dup, (r) => `${r.device_id}#${r.seq} ×${r.c}`)}`,
  });

  // the count and the first three in one pass (count(*) OVER () is taken before the LIMIT)
  const nulls = await w.rows(
    `SELECT device_id, seq, count(*) OVER () AS total FROM (${keys}) WHERE device_id IS NULL OR seq IS NULL OR ts IS NULL OR device_key IS NULL LIMIT 3`,
  );
  const nullCount = n(nulls[0]?.total);
  out.push({
    name: 'non-null-keys',
    status: nullCount === 0 ? 'pass' : 'fail',
    observed: nullCount,
    detail:
      nullCount === 0
        ? 'every fact has device_id, seq, ts and device_key'
        : `${nullCount} facts without a key${examples(nulls, (r) => `${r.device_id}#${r.seq}`)}`,
  });

  const rangeConds = Object.entries(o.ranges ?? {}).map(
    ([s, [lo, hi]]) => `(sensor = '${s.replace(/'/g, "''")}' AND (value < ${Number(lo)} OR value > ${Number(hi)}))`,
  );
  const aggBad = `SELECT count(*) FROM agg_health_hourly WHERE anomaly_rate NOT BETWEEN 0 AND 1 OR uptime NOT BETWEEN 0 AND 1 OR completeness NOT BETWEEN 0 AND 1`;
  const outOfRange = rangeConds.length
    ? await w.rows(
        `SELECT sensor, device_id, seq, value, count(*) OVER () AS total FROM fact_reading WHERE ${rangeConds.join(' OR ')} ORDER BY device_id, seq LIMIT 3`,
      )
    : [];
  const outCount = n(outOfRange[0]?.total);
  const aggCount = n((await w.rows(`SELECT (${aggBad}) AS c`))[0]?.c);
  out.push({
    name: 'value-ranges',
    status: outCount + aggCount === 0 ? 'pass' : 'fail',
    observed: outCount + aggCount,
    detail:
      outCount + aggCount === 0
        ? `readings within ${
            rangeConds.length
              ? Object.entries(o.ranges!)
                  .map(([s, [lo, hi]]) => `${s} [${lo}, ${hi}]`)
                  .join(', ')
              : '(no sensor ranges configured)'
          }; rates and fractions in [0, 1]`
        : `${outCount} readings out of range${examples(outOfRange, (r) => `${r.device_id}#${r.seq} ${r.sensor}=${r.value}`)}${aggCount ? `; ${aggCount} hourly aggregates with a rate outside [0, 1]` : ''}`,
  });

  const maxAge = o.maxStalenessMs === undefined ? 15 * 60_000 : o.maxStalenessMs;
  const newest = (await w.rows(`SELECT epoch_ms(max(arrived_at)) AS t FROM fact_reading`))[0]?.t;
  if (maxAge === null)
    out.push({ name: 'freshness', status: 'skip', observed: null, detail: 'no freshness bound configured' });
  else if (newest === null || newest === undefined)
    out.push({ name: 'freshness', status: 'fail', observed: null, detail: 'no readings in the warehouse' });
  else {
    const age = o.now - n(newest);
    out.push({
      name: 'freshness',
      status: age <= maxAge ? 'pass' : 'fail',
      observed: age,
      detail: `newest reading arrived ${Math.round(age / 1000)} s ago (${new Date(n(newest)).toISOString()}); bound ${Math.round(maxAge / 1000)} s`,
    });
  }

  const scd = await w.rows(`SELECT device_id, count(*) FILTER (WHERE is_current) AS current,
      count(*) FILTER (WHERE valid_to IS NOT NULL AND valid_to <> next_from) AS gaps
    FROM (SELECT *, lead(valid_from) OVER (PARTITION BY device_id ORDER BY version) AS next_from FROM dim_device)
    GROUP BY device_id HAVING count(*) FILTER (WHERE is_current) <> 1 OR count(*) FILTER (WHERE valid_to IS NOT NULL AND valid_to <> next_from) > 0 ORDER BY device_id`);
  out.push({
    name: 'scd2-ranges',
    status: scd.length === 0 ? 'pass' : 'fail',
    observed: scd.length,
    detail:
      scd.length === 0
        ? 'every device: contiguous versions, exactly one current'
        : `${scd.length} devices with overlapping or broken versions${examples(scd, (r) => `${r.device_id} (current ${r.current}, gaps ${r.gaps})`)}`,
  });
  return out;
}

/** A readable report of check results, one line each, failures first. */
export function formatChecks(results: readonly CheckResult[]): string {
  const order = { fail: 0, skip: 1, pass: 2 } as const;
  const w = Math.max(...results.map((r) => r.name.length));
  return [...results]
    .sort((a, b) => order[a.status] - order[b.status])
    .map((r) => `${r.status.toUpperCase().padEnd(4)}  ${r.name.padEnd(w)}  ${r.detail}`)
    .join('\n');
}
