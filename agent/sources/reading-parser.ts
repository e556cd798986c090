/**
 * Parsing of input readings (pure). A reading is `{"sensor": "temperature", "value": 21.5, "ts": 1732550400000}`;
 * `ts` is the device timestamp in ms since the Unix epoch or an ISO 8601 string, and defaults to the time of
 * arrival. `id` is accepted as an alias of `sensor`. A malformed line is rejected with a reason naming the field;
 * the lines around it are kept.
 */
import { isValidSensorId, SENSOR_ID_RULE } from '../../protocol/messages.ts';
import type { OutboxReading } from '../outbox/sqlite-outbox.ts';

export interface RejectedLine {
  /** 1-based line number within the request, stream chunk or file */
  line: number;
  reason: string;
}

export interface ParsedLines {
  readings: OutboxReading[];
  rejected: RejectedLine[];
}

/** Longest accepted line, bytes; longer lines are rejected without being parsed. */
export const MAX_LINE_BYTES = 64 * 1024;

/** Validate one decoded value as a reading; returns the reading or a reason. */
export function toReading(x: unknown, now: number): OutboxReading | string {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'expected a JSON object {"sensor","value","ts"}';
  const o = x as Record<string, unknown>;
  const sensor = o.sensor ?? o.id;
  // the cloud's rule: a reading the device accepted must not be refused at ingest
  if (!isValidSensorId(sensor)) return `sensor: expected ${SENSOR_ID_RULE}, got ${short(sensor)}`;
  const value = o.value;
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `value: expected a finite number, got ${short(value)}`;
  let ts: number;
  if (o.ts === undefined || o.ts === null) ts = now;
  else if (typeof o.ts === 'number' && Number.isFinite(o.ts) && o.ts >= 0) ts = o.ts;
  else if (typeof o.ts === 'string' && !Number.isNaN(Date.parse(o.ts))) ts = Date.parse(o.ts);
  else return `ts: expected ms since the epoch or an ISO 8601 time, got ${short(o.ts)}`;
  return { sensor, ts, value };
}

/** Parse one line of JSON; blank lines are skipped (undefined). */
export function parseLine(line: string, now: number): OutboxReading | string | undefined {
  const t = line.trim();
  if (t.length === 0) return undefined;
  if (t.length > MAX_LINE_BYTES) return `line longer than ${MAX_LINE_BYTES} bytes`;
  let x: unknown;
  try {
    x = JSON.parse(t);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  return toReading(x, now);
}

/**
 * Parse a body: NDJSON (one reading per line), or one JSON document that is a reading, an array of readings, or
 * `{"readings": [...]}`. Array positions count as line numbers.
 */
export function parseBody(text: string, now: number, ndjson: boolean): ParsedLines {
  const out: ParsedLines = { readings: [], rejected: [] };
  if (!ndjson) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      ndjson = true; // several JSON lines sent as application/json: read them as NDJSON
    }
    if (!ndjson) {
      const items = Array.isArray(doc)
        ? doc
        : typeof doc === 'object' && doc !== null && Array.isArray((doc as { readings?: unknown }).readings)
          ? (doc as { readings: unknown[] }).readings
          : [doc];
      items.forEach((item, i) => {
        const r = toReading(item, now);
        if (typeof r === 'string') out.rejected.push({ line: i + 1, reason: r });
        else out.readings.push(r);
      });
      return out;
    }
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const r = parseLine(lines[i]!, now);
    if (r === undefined) continue;
    if (typeof r === 'string') out.rejected.push({ line: i + 1, reason: r });
    else out.readings.push(r);
  }
  return out;
}

function short(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}
