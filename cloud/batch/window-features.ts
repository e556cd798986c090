/**
 * The processor's window features recomputed in SQL from the raw archive (pure: builds SQL, no I/O).
 *
 * The definitions are the processor's own: a FeatureAggregator built from the same `aggregation` options resolves
 * the window specs (size, slide, name) and the statistics, and feature names are built as the processor builds
 * them (`featureNamePart(sensor)` + `_<stat>_<window>`), so a change of window definitions in the processor's
 * configuration is a change here too. What differs, on purpose: a backfill sees every archived reading of a
 * window, so readings the live processor dropped as late (beyond `allowedLatenessMs`) count here; and it emits
 * one row per window that holds at least one reading, where the live processor repeats the latest closed window
 * in every record it writes.
 *
 * The computation: readings are grouped into panes of each distinct slide (count, sum, sum of squares, min, max,
 * last by ts); a window [end - size, end) combines the size/slide panes before `end`. Population std is
 * sqrt(max(0, sumsq/n - mean²)) (the processor's Welford update gives the same value up to rounding, ~1e-12
 * relative on these magnitudes). Sums are compensated (fsum, Kahan): DuckDB adds in parallel in no fixed order,
 * and compensation makes a split unit, a rerun or another thread count give the same bits. One output row per (device, window end): `entity_id`, `event_time` (the window
 * end, UTC), `write_time`, then one DOUBLE column per sensor × window × statistic.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { FeatureAggregator, featureNamePart, type FeatureAggregatorOptions } from '../processor/feature-aggregator.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import { columnName } from '../feature-store/parquet-schema.ts';

export interface WindowDef {
  sizeMs: number;
  slideMs: number;
  name: string;
}

export interface WindowFeatureSpec {
  windows: readonly WindowDef[];
  stats: readonly string[];
  /** sensors that get window features (undefined: all) */
  windowSensors: readonly string[] | undefined;
}

/** The processor's window definitions for these aggregation options (validated by the processor's own code). */
export function windowFeatureSpec(aggregation: FeatureAggregatorOptions = {}): WindowFeatureSpec {
  const agg = new FeatureAggregator(aggregation);
  return {
    windows: agg.windows.map((w) => ({ sizeMs: w.sizeMs, slideMs: w.slideMs, name: w.name })),
    stats: agg.windowStats,
    windowSensors: aggregation.windowSensors,
  };
}

/** The longest window, ms: a range's windows need this much data before the range starts. */
export function lookbackMs(spec: WindowFeatureSpec): number {
  return Math.max(...spec.windows.map((w) => w.sizeMs));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Sub-range boundaries must be multiples of every slide (and of a minute), so no pane straddles two ranges. */
export function alignmentMs(spec: WindowFeatureSpec): number {
  return spec.windows.reduce((l, w) => (l * w.slideMs) / gcd(l, w.slideMs), 60_000);
}

export interface FeatureColumnDef {
  /** the processor's feature name */
  feature: string;
  /** the Parquet column (offline store naming: parquet-schema.ts columnName) */
  column: string;
  sensor: string;
  window: WindowDef;
  stat: string;
}

/** The feature columns for these sensors, in a fixed order (sensor, window, stat); sensors the processor would skip are left out. */
export function featureColumns(
  spec: WindowFeatureSpec,
  sensors: readonly string[],
  keywords: ReadonlySet<string>,
): FeatureColumnDef[] {
  const taken = new Set(['entity_id', 'event_time', 'write_time', 'date']);
  const out: FeatureColumnDef[] = [];
  for (const sensor of [...sensors].sort()) {
    if (spec.windowSensors && !spec.windowSensors.includes(sensor)) continue;
    const base = featureNamePart(sensor);
    if (base === undefined) continue;
    for (const window of spec.windows) {
      for (const stat of spec.stats) {
        const feature = `${base}_${stat}_${window.name}`;
        if (feature.length > 64) continue;
        const column = columnName(feature, taken, keywords);
        taken.add(column);
        out.push({ feature, column, sensor, window, stat });
      }
    }
  }
  return out;
}

export interface WindowQuery {
  /** Parquet files of the archive's readings table to read */
  files: readonly string[];
  /** windows whose end is in [from, to), ms */
  from: number;
  to: number;
  /** only these devices (undefined: all in the files) */
  devices?: readonly string[] | undefined;
  /** or a contiguous range of device ids, inclusive */
  deviceRange?: { first: string; last: string } | undefined;
  columns: readonly FeatureColumnDef[];
  /** write_time of every row, ms */
  writeTime: number;
}

const ts = (ms: number): string => `make_timestamptz(${Math.round(ms * 1000)}::BIGINT)`;

/** The SELECT that computes the window feature rows of one range (see the file comment). */
export function windowFeatureSql(spec: WindowFeatureSpec, q: WindowQuery): string {
  if (q.files.length === 0) throw new EdgeloopError('EL_ERR_BATCH_INVALID', 'windowFeatureSql: no files');
  if (q.columns.length === 0) throw new EdgeloopError('EL_ERR_BATCH_INVALID', 'windowFeatureSql: no feature columns');
  const sensors = [...new Set(q.columns.map((c) => c.sensor))];
  const start = q.from - lookbackMs(spec);
  const where = [
    `ts >= ${ts(start)}`,
    `ts < ${ts(q.to)}`,
    `sensor IN (${sensors.map(sqlString).join(', ')})`,
    ...(q.devices ? [`device_id IN (${q.devices.map(sqlString).join(', ')})`] : []),
    ...(q.deviceRange
      ? [`device_id >= ${sqlString(q.deviceRange.first)}`, `device_id <= ${sqlString(q.deviceRange.last)}`]
      : []),
  ].join(' AND ');
  const slides = [...new Set(spec.windows.map((w) => w.slideMs))];
  const ctes: string[] = [
    `r AS (SELECT device_id, sensor, epoch_ms(ts) AS t, value FROM read_parquet([${q.files.map(sqlString).join(', ')}]) WHERE ${where})`,
  ];
  for (const slide of slides) {
    ctes.push(
      `p${slide} AS (SELECT device_id, sensor, t // ${slide} * ${slide} AS ps, count(*) AS n, fsum(value) AS s, fsum(value * value) AS sq,
        min(value) AS mn, max(value) AS mx, arg_max(value, t) AS lv, max(t) AS lt FROM r GROUP BY ALL)`,
    );
  }
  const perWindow = spec.windows.map((w) => {
    const k = w.sizeMs / w.slideMs;
    const stats = (n: string, s: string, sq: string, mn: string, mx: string, lv: string): string =>
      `${n} AS n, ${s} / ${n} AS mean, sqrt(greatest(0, ${sq} / ${n} - (${s} / ${n}) * (${s} / ${n}))) AS std, ${mn} AS mn, ${mx} AS mx, ${lv} AS lv`;
    // a tumbling window is one pane: no second aggregation
    if (k === 1)
      return `w_${w.name} AS (SELECT device_id, sensor, ps + ${w.slideMs} AS e, ${stats('n', 's', 'sq', 'mn', 'mx', 'lv')}
        FROM p${w.slideMs} WHERE ps + ${w.slideMs} >= ${q.from} AND ps + ${w.slideMs} < ${q.to})`;
    return `w_${w.name} AS (SELECT device_id, sensor, e, ${stats('sum(n)', 'fsum(s)', 'fsum(sq)', 'min(mn)', 'max(mx)', 'arg_max(lv, lt)')}
        FROM (SELECT device_id, sensor, ps + i * ${w.slideMs} AS e, n, s, sq, mn, mx, lv, lt FROM p${w.slideMs}, range(1, ${k + 1}) AS k(i))
        WHERE e >= ${q.from} AND e < ${q.to} GROUP BY ALL)`;
  });
  ctes.push(...perWindow);
  const statExpr: Record<string, string> = { count: 'n', mean: 'mean', std: 'std', min: 'mn', max: 'mx', last: 'lv' };
  const union = spec.windows
    .map((w) => `SELECT '${w.name}' AS wn, device_id, sensor, e, n, mean, std, mn, mx, lv FROM w_${w.name}`)
    .join(' UNION ALL ');
  const pivots = q.columns.map(
    (c) =>
      `max(CASE WHEN wn = '${c.window.name}' AND sensor = ${sqlString(c.sensor)} THEN CAST(${statExpr[c.stat]} AS DOUBLE) END) AS ${c.column}`,
  );
  return `WITH ${ctes.join(',\n')}
SELECT device_id AS entity_id, make_timestamptz(e * 1000) AS event_time, ${ts(q.writeTime)} AS write_time, ${pivots.join(', ')}
FROM (${union}) GROUP BY device_id, e ORDER BY entity_id, event_time`;
}
