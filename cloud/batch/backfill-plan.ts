/**
 * How a backfill splits its range into units of work (pure logic, no I/O).
 *
 * The range is cut at UTC days (a day is the offline store's partition: a day's output is committed as one).
 * Within a day, devices are packed in id order into units of about `targetRows` readings (contiguous ids, so a
 * unit reads few row groups: archive files are sorted by device_id). A **skewed** device, one with at least
 * `skewFactor` × the median device's readings that day, or more than `targetRows` on its own, gets units of its
 * own: its day is cut at hour boundaries by its per-hour counts, and an hour that alone holds more than
 * `targetRows` is cut evenly in time (boundaries aligned to `alignMs`, a multiple of every window slide, so no
 * window pane straddles two units). So every unit is about `targetRows`, whatever the fleet's distribution, and
 * a pool of workers finishes a Zipf-skewed fleet in about the time of a uniform one of the same size.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** Readings of one device in one UTC hour. */
export interface DeviceHourCount {
  device: string;
  /** start of the hour, ms */
  hour: number;
  rows: number;
}

export interface PlanOptions {
  /** readings per unit, about. Default 2 000 000. */
  targetRows?: number;
  /** a device with this many times the median's readings is split. Default 100. */
  skewFactor?: number;
  /** sub-range boundaries are multiples of this, ms. Default 60 000. */
  alignMs?: number;
}

export interface BackfillUnit {
  /** stable id within the plan: `<date>/<n>` */
  id: string;
  /** `YYYY-MM-DD` of the windows' ends */
  date: string;
  /** windows ending in [from, to), ms */
  from: number;
  to: number;
  /** contiguous device ids, inclusive (first === last for a split device) */
  first: string;
  last: string;
  /** readings in the unit's range (planning estimate) */
  rows: number;
  /** true when the unit is a sub-range of one skewed device */
  split: boolean;
}

export interface BackfillPlan {
  units: BackfillUnit[];
  /** devices split into sub-ranges, per date */
  skewed: { date: string; device: string; rows: number; medianRows: number; units: number }[];
}

export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The units of a backfill of windows ending in [from, to) (UTC days), from per-device, per-hour counts. */
export function planBackfill(
  counts: readonly DeviceHourCount[],
  range: { from: number; to: number },
  o: PlanOptions = {},
): BackfillPlan {
  const target = o.targetRows ?? 2_000_000;
  const skewFactor = o.skewFactor ?? 100;
  const align = o.alignMs ?? 60_000;
  if (!(target >= 1) || !(skewFactor > 1) || !(align >= 1) || (HOUR_MS % align !== 0 && align % HOUR_MS !== 0))
    throw new EdgeloopError(
      'EL_ERR_BATCH_INVALID',
      `planBackfill: targetRows >= 1, skewFactor > 1 and alignMs dividing an hour (or a multiple of one) are required, got ${JSON.stringify({ target, skewFactor, align })}`,
    );
  if (!(range.from < range.to) || range.from % DAY_MS !== 0 || range.to % DAY_MS !== 0)
    throw new EdgeloopError(
      'EL_ERR_BATCH_RANGE',
      `planBackfill: the range must be whole UTC days with from < to, got ${new Date(range.from).toISOString()} .. ${new Date(range.to).toISOString()}`,
    );
  const units: BackfillUnit[] = [];
  const skewed: BackfillPlan['skewed'] = [];
  for (let day = range.from; day < range.to; day += DAY_MS) {
    const date = utcDate(day);
    const perDevice = new Map<string, Map<number, number>>();
    for (const c of counts) {
      if (c.hour < day || c.hour >= day + DAY_MS || c.rows <= 0) continue;
      let h = perDevice.get(c.device);
      if (!h) perDevice.set(c.device, (h = new Map()));
      h.set(c.hour, (h.get(c.hour) ?? 0) + c.rows);
    }
    const totals = new Map([...perDevice].map(([d, h]) => [d, [...h.values()].reduce((a, b) => a + b, 0)]));
    const med = median([...totals.values()]);
    const devices = [...totals.keys()].sort();
    let n = 0;
    const push = (u: Omit<BackfillUnit, 'id' | 'date'>): void => {
      units.push({ id: `${date}/${String(n++).padStart(4, '0')}`, date, ...u });
    };
    let bucket: { first: string; last: string; rows: number } | undefined;
    const closeBucket = (): void => {
      if (bucket) push({ from: day, to: day + DAY_MS, ...bucket, split: false });
      bucket = undefined;
    };
    for (const device of devices) {
      const rows = totals.get(device)!;
      const isSkewed = rows > target || (med > 0 && rows >= skewFactor * med);
      if (!isSkewed) {
        if (bucket && bucket.rows + rows > target) closeBucket();
        if (bucket) {
          bucket.last = device;
          bucket.rows += rows;
        } else bucket = { first: device, last: device, rows };
        continue;
      }
      // a skewed device ends the current bucket (buckets are contiguous id ranges) and gets its own units
      closeBucket();
      const before = units.length;
      for (const r of splitDevice(perDevice.get(device)!, day, target, align))
        push({ ...r, first: device, last: device, split: true });
      skewed.push({ date, device, rows, medianRows: med, units: units.length - before });
    }
    closeBucket();
  }
  return { units, skewed };
}

/** Time sub-ranges of one device's day holding about `target` readings each. */
function splitDevice(
  hours: Map<number, number>,
  day: number,
  target: number,
  align: number,
): { from: number; to: number; rows: number }[] {
  const out: { from: number; to: number; rows: number }[] = [];
  let cur: { from: number; to: number; rows: number } | undefined;
  const step = Math.max(align, HOUR_MS);
  for (let h = day; h < day + DAY_MS; h += step) {
    let rows = 0;
    for (let x = h; x < h + step; x += HOUR_MS) rows += hours.get(x) ?? 0;
    if (rows > target && align < HOUR_MS) {
      if (cur) out.push(cur);
      cur = undefined;
      // an hour too big on its own: even cuts in time, aligned
      const k = Math.min(Math.ceil(rows / target), HOUR_MS / align);
      const slots = HOUR_MS / align;
      for (let i = 0; i < k; i++) {
        const a = h + Math.floor((i * slots) / k) * align;
        const b = h + Math.floor(((i + 1) * slots) / k) * align;
        out.push({ from: a, to: b, rows: Math.round((rows * (b - a)) / HOUR_MS) });
      }
      continue;
    }
    if (cur && cur.rows + rows > target) {
      out.push(cur);
      cur = undefined;
    }
    if (cur) {
      cur.to = h + step;
      cur.rows += rows;
    } else cur = { from: h, to: h + step, rows };
  }
  // ranges without readings stay: a sliding window ending there still holds the readings before it
  if (cur) out.push(cur);
  return out;
}
