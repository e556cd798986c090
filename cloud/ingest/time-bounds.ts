/**
 * Timestamp bounds (pure). A device timestamp far from the time a message arrives is a clock fault, not data: one
 * reading stamped in the year 3000 would move the device's watermark there and make every later reading "late".
 * Readings and events outside [arrival - maxPastMs, arrival + maxFutureMs] are split off the message (they go
 * to the dead-letter store with reason `ts-out-of-range`); the rest of the message goes on. Status and
 * model-report messages are state snapshots: only the future bound applies to them, and they are kept or refused
 * whole.
 */
import type { DeviceMessage, EventsMessage, TelemetryMessage } from '../../protocol/messages.ts';

export interface TimeBounds {
  /** how far a device timestamp may be ahead of arrival, ms; Infinity = no bound */
  maxFutureMs: number;
  /** how far a reading or event may be behind arrival, ms; Infinity = no bound */
  maxPastMs: number;
}

export interface TimeSplit {
  /** what stays: the message itself when nothing is out of range, a copy without those records, or undefined */
  kept: DeviceMessage | undefined;
  /** the out-of-range records as a message of their own (same header, seq = their smallest), or undefined */
  refused: DeviceMessage | undefined;
  /** the first refused timestamp and its field, for the dead letter's detail */
  first?: { field: string; ts: number };
}

function splitRecords<T extends { seq: number; ts: number }>(
  items: readonly T[],
  lo: number,
  hi: number,
  name: string,
) {
  let bad: number[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const ts = items[i]!.ts;
    if (ts < lo || ts > hi) (bad ??= []).push(i);
  }
  if (!bad) return undefined;
  const badSet = new Set(bad);
  const kept: T[] = [];
  const refused: T[] = [];
  for (let i = 0; i < items.length; i++) (badSet.has(i) ? refused : kept).push(items[i]!);
  const i0 = bad[0]!;
  return { kept, refused, first: { field: `${name}[${i0}].ts`, ts: items[i0]!.ts } };
}

const minSeq = (xs: ReadonlyArray<{ seq: number }>): number => xs.reduce((m, x) => (x.seq < m ? x.seq : m), Infinity);

/** Split `m` by the bounds around `arrivedAt` (ms). */
export function splitByTimeBounds(m: DeviceMessage, arrivedAt: number, b: TimeBounds): TimeSplit {
  const lo = arrivedAt - b.maxPastMs;
  const hi = arrivedAt + b.maxFutureMs;
  if (m.type === 'status' || m.type === 'model-report') {
    return m.ts > hi
      ? { kept: undefined, refused: m, first: { field: 'ts', ts: m.ts } }
      : { kept: m, refused: undefined };
  }
  if (m.type === 'telemetry') {
    const s = splitRecords(m.readings, lo, hi, 'readings');
    if (!s) return { kept: m, refused: undefined };
    const part = (rs: TelemetryMessage['readings']): TelemetryMessage | undefined =>
      rs.length === 0 ? undefined : { ...m, seq: minSeq(rs), readings: rs };
    return { kept: part(s.kept), refused: part(s.refused), first: s.first };
  }
  const s = splitRecords(m.events, lo, hi, 'events');
  if (!s) return { kept: m, refused: undefined };
  const part = (es: EventsMessage['events']): EventsMessage | undefined =>
    es.length === 0 ? undefined : { ...m, seq: minSeq(es), events: es };
  return { kept: part(s.kept), refused: part(s.refused), first: s.first };
}
