/**
 * Wire messages (JSON, UTF-8). Every message carries the schema version `v`, its `type`, the `deviceId` and a
 * per-device `seq`. Sequence numbers are assigned by the agent when a record is accepted into its outbox, survive
 * restarts, and are unique per device across readings and events: ingest deduplicates on (deviceId, seq) of each
 * record, so a batch that is re-sent after a crash, even re-cut differently, is counted once.
 *
 * Decoding is hand-written (not a schema library) because ingest runs it for every message at 10^5 readings/s;
 * errors name the field that was wrong.
 */
import { EdgeloopError } from './errors.ts';
import { isValidId } from './topics.ts';

export const SCHEMA_VERSION = 1;
/** AWS IoT Core's payload limit; the agent cuts batches below it. */
export const MAX_MQTT_PAYLOAD_BYTES = 128 * 1024;
/** Kinesis' record limit. */
export const MAX_STREAM_RECORD_BYTES = 1024 * 1024;

export interface Reading {
  /** per-device sequence number of this reading */
  seq: number;
  /** sensor id */
  sensor: string;
  /** device timestamp, ms since the Unix epoch */
  ts: number;
  value: number;
}

export interface TelemetryMessage {
  v: 1;
  type: 'telemetry';
  deviceId: string;
  /** smallest seq in `readings` */
  seq: number;
  /** when the agent sent the batch (device clock, ms) */
  sentAt: number;
  readings: Reading[];
}

export interface ModelRef {
  name: string;
  version: string;
}

export interface AnomalyEvent {
  seq: number;
  /** device time of the event (end of the window), ms */
  ts: number;
  kind: 'anomaly' | 'alert';
  severity: 'info' | 'warning' | 'critical';
  model?: ModelRef;
  score?: number;
  threshold?: number;
  sensors?: string[];
  window?: { start: number; end: number };
  /** free-form context: the window's last values, per-sensor contribution, a message */
  context?: Record<string, unknown>;
}

export interface EventsMessage {
  v: 1;
  type: 'events';
  deviceId: string;
  seq: number;
  sentAt: number;
  events: AnomalyEvent[];
}

export interface StatusMessage {
  v: 1;
  type: 'status';
  deviceId: string;
  /** last seq assigned by the agent (0 before the first record) */
  seq: number;
  ts: number;
  online: boolean;
  agentVersion?: string;
  models?: ModelRef[];
  outbox?: { depth: number; bytes: number; oldestAgeMs: number };
  drops?: { telemetry: number; events: number };
  rejected?: number;
  inference?: { windows: number; anomalies: number; anomalyRate: number; p50Ms: number; p95Ms: number; p99Ms: number };
  lastError?: string;
  /** where the device is installed (a site name); optional, for the fleet warehouse's dim_device */
  site?: string;
  /** the device's hardware model, e.g. "rpi4-4gb"; optional, for dim_device */
  hardware?: string;
  /** a hash of the agent's effective configuration; optional, for dim_device */
  configHash?: string;
  /** candidates the agent runs in shadow beside its active models (absent when none; older agents never send it) */
  shadow?: ShadowReport[];
}

/** Score quantiles over the recent windows of one model (nearest rank). */
export interface ScoreQuantiles {
  p05: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
}

/**
 * What a shadow candidate did on the device, counted since it was loaded: `windows` is the number of windows both
 * the active model and the candidate scored (paired by window end), `agreements` those where both made the same
 * anomaly decision; the anomaly counts are over the same windows. Nothing the candidate decides is acted upon.
 */
export interface ShadowReport {
  /** the manifest name (the same name as the active model it shadows) */
  name: string;
  version: string;
  /** the active model's version it was compared with */
  activeVersion: string;
  windows: number;
  agreements: number;
  /** windows the candidate would have flagged */
  anomalies: number;
  /** windows the active model flagged, over the same windows */
  activeAnomalies: number;
  /** the candidate's inference latency per batch, ms */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  scores: { active: ScoreQuantiles; shadow: ScoreQuantiles };
}

export type ModelReportState =
  | 'received'
  | 'downloading'
  | 'downloaded'
  | 'verified'
  | 'active'
  | 'failed'
  | 'rolled-back';

export interface ModelReportMessage {
  v: 1;
  type: 'model-report';
  deviceId: string;
  seq: number;
  ts: number;
  model: string;
  version: string;
  state: ModelReportState;
  reason?: string;
  rolloutId?: string;
  /** "shadow": the report is about a shadow assignment (absent: the active model) */
  role?: ModelRole;
}

/** What a desired-model message asks for: run the model (active), or run it beside the active one (shadow). */
export type ModelRole = 'active' | 'shadow';

/** Retained desired-model message on the fleet or per-device model topic. */
export interface ModelDesiredMessage {
  v: 1;
  type: 'model-desired';
  name: string;
  version: string;
  /** where the agent downloads the ONNX file (HTTP(S) URL, range requests supported) */
  artifactUrl: string;
  /** the signed manifest (protocol/manifest.ts) */
  manifest: unknown;
  rolloutId?: string;
  /** seq of the desired state, increasing per publisher; lets agents ignore stale retained messages */
  seq: number;
  ts: number;
  /**
   * absent or "active": install and activate. "shadow": only on the device's shadow topic
   * (Topics.deviceShadow), which agents without shadow support do not subscribe to.
   */
  role?: ModelRole;
}

export type DeviceMessage = TelemetryMessage | EventsMessage | StatusMessage | ModelReportMessage;
export type WireMessage = DeviceMessage | ModelDesiredMessage;

const REPORT_STATES: ReadonlySet<string> = new Set([
  'received',
  'downloading',
  'downloaded',
  'verified',
  'active',
  'failed',
  'rolled-back',
]);

function fail(field: string, expected: string, got: unknown): never {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 60);
  throw new EdgeloopError('EL_ERR_MESSAGE_INVALID', `${field}: expected ${expected}, got ${shown}`, {
    details: { field },
  });
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
function seqOk(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
function tsOk(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

/**
 * Sensor ids: 1-128 characters of letters, combining marks, digits, punctuation, symbols and the ASCII space
 * ("Air temperature [K]", "Volume Flow RateRMS", "temp.1"). Control characters (NUL included), format characters
 * (bidi overrides, zero-width joiners), lone surrogates, private-use code points and other separators are refused:
 * they make ids that look alike but differ, or that break logs, CSV and SQL downstream.
 */
const SENSOR_ID_RE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u;
/** Sensor ids already checked; a fleet uses few distinct ids, so the cache is small and cleared when full. */
const checkedSensorIds = new Set<string>();

export function isValidSensorId(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  if (checkedSensorIds.has(s)) return true;
  if (s.length === 0 || s.length > 128 || !SENSOR_ID_RE.test(s)) return false;
  if (checkedSensorIds.size >= 4096) checkedSensorIds.clear();
  checkedSensorIds.add(s);
  return true;
}

export const SENSOR_ID_RULE = '1-128 letters, digits, punctuation, symbols or spaces (no control or format characters)';

/** Deepest nesting accepted inside free-form parts (an event's `context`, a status message): objects and arrays. */
export const MAX_FREE_FORM_DEPTH = 6;

/** Whether objects/arrays nest more than `limit` levels in x (x itself is level 1); stops at the first too deep. */
function depthOver(x: unknown, limit: number, depth = 0): boolean {
  if (typeof x !== 'object' || x === null) return false;
  if (depth + 1 > limit) return true;
  for (const k in x) if (depthOver((x as Record<string, unknown>)[k], limit, depth + 1)) return true;
  return false;
}

function header(m: Record<string, unknown>): void {
  if (m.v !== SCHEMA_VERSION) fail('v', `schema version ${SCHEMA_VERSION}`, m.v);
  if (typeof m.deviceId !== 'string' || !isValidId(m.deviceId)) fail('deviceId', 'a device id', m.deviceId);
  if (!seqOk(m.seq)) fail('seq', 'a non-negative integer', m.seq);
}

/** Validate a decoded object as a device message; returns it typed, or throws EL_ERR_MESSAGE_INVALID. */
export function validateDeviceMessage(m: unknown): DeviceMessage {
  if (!isObj(m)) fail('message', 'a JSON object', m);
  switch (m.type) {
    case 'telemetry': {
      header(m);
      if (!tsOk(m.sentAt)) fail('sentAt', 'a timestamp in ms', m.sentAt);
      const rs = m.readings;
      if (!Array.isArray(rs) || rs.length === 0) fail('readings', 'a non-empty array', rs);
      let minSeq = Infinity;
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i] as Record<string, unknown>;
        if (!isObj(r)) fail(`readings[${i}]`, 'an object', r);
        if (!seqOk(r.seq)) fail(`readings[${i}].seq`, 'a non-negative integer', r.seq);
        if (r.seq < minSeq) minSeq = r.seq;
        if (!isValidSensorId(r.sensor)) fail(`readings[${i}].sensor`, `a sensor id (${SENSOR_ID_RULE})`, r.sensor);
        if (!tsOk(r.ts)) fail(`readings[${i}].ts`, 'a timestamp in ms', r.ts);
        if (typeof r.value !== 'number' || !Number.isFinite(r.value))
          fail(`readings[${i}].value`, 'a finite number', r.value);
      }
      if (m.seq !== minSeq) fail('seq', `the smallest readings[].seq (${minSeq})`, m.seq);
      return m as unknown as TelemetryMessage;
    }
    case 'events': {
      header(m);
      if (!tsOk(m.sentAt)) fail('sentAt', 'a timestamp in ms', m.sentAt);
      const es = m.events;
      if (!Array.isArray(es) || es.length === 0) fail('events', 'a non-empty array', es);
      let minSeq = Infinity;
      for (let i = 0; i < es.length; i++) {
        const e = es[i] as Record<string, unknown>;
        if (!isObj(e)) fail(`events[${i}]`, 'an object', e);
        if (!seqOk(e.seq)) fail(`events[${i}].seq`, 'a non-negative integer', e.seq);
        if (e.seq < minSeq) minSeq = e.seq;
        if (!tsOk(e.ts)) fail(`events[${i}].ts`, 'a timestamp in ms', e.ts);
        if (e.kind !== 'anomaly' && e.kind !== 'alert') fail(`events[${i}].kind`, '"anomaly" or "alert"', e.kind);
        if (e.severity !== 'info' && e.severity !== 'warning' && e.severity !== 'critical')
          fail(`events[${i}].severity`, '"info", "warning" or "critical"', e.severity);
        if (e.score !== undefined && (typeof e.score !== 'number' || !Number.isFinite(e.score)))
          fail(`events[${i}].score`, 'a finite number', e.score);
        if (e.context !== undefined && !isObj(e.context)) fail(`events[${i}].context`, 'an object', e.context);
        if (depthOver(e, MAX_FREE_FORM_DEPTH))
          fail(`events[${i}]`, `an event nested at most ${MAX_FREE_FORM_DEPTH} levels deep`, '(deeper)');
      }
      if (m.seq !== minSeq) fail('seq', `the smallest events[].seq (${minSeq})`, m.seq);
      return m as unknown as EventsMessage;
    }
    case 'status': {
      header(m);
      if (!tsOk(m.ts)) fail('ts', 'a timestamp in ms', m.ts);
      if (typeof m.online !== 'boolean') fail('online', 'a boolean', m.online);
      if (depthOver(m, MAX_FREE_FORM_DEPTH))
        fail('message', `a status object nested at most ${MAX_FREE_FORM_DEPTH} levels`, '(deeper)');
      return m as unknown as StatusMessage;
    }
    case 'model-report': {
      header(m);
      if (!tsOk(m.ts)) fail('ts', 'a timestamp in ms', m.ts);
      if (typeof m.model !== 'string' || !isValidId(m.model)) fail('model', 'a model name', m.model);
      if (typeof m.version !== 'string' || m.version.length === 0) fail('version', 'a version string', m.version);
      if (typeof m.state !== 'string' || !REPORT_STATES.has(m.state))
        fail('state', [...REPORT_STATES].join('|'), m.state);
      if (m.role !== undefined && m.role !== 'active' && m.role !== 'shadow')
        fail('role', '"active" or "shadow"', m.role);
      return m as unknown as ModelReportMessage;
    }
    default:
      return fail('type', '"telemetry", "events", "status" or "model-report"', m.type);
  }
}

const TELEMETRY_KEYS: ReadonlySet<string> = new Set(['v', 'type', 'deviceId', 'seq', 'sentAt', 'readings']);
const READING_KEYS: ReadonlySet<string> = new Set(['seq', 'sensor', 'ts', 'value']);
const EVENTS_KEYS: ReadonlySet<string> = new Set(['v', 'type', 'deviceId', 'seq', 'sentAt', 'events']);
const EVENT_KEYS: ReadonlySet<string> = new Set([
  'seq',
  'ts',
  'kind',
  'severity',
  'model',
  'score',
  'threshold',
  'sensors',
  'window',
  'context',
]);
const REPORT_KEYS: ReadonlySet<string> = new Set([
  'v',
  'type',
  'deviceId',
  'seq',
  'ts',
  'model',
  'version',
  'state',
  'reason',
  'rolloutId',
  'role',
]);

function stripObject(o: Record<string, unknown>, known: ReadonlySet<string>, path: string, out: string[]): void {
  for (const k in o) {
    if (known.has(k)) continue;
    delete o[k];
    if (out.length < 8) out.push(`${path}${k}`);
    else if (out.length === 8) out.push('…');
  }
}

/**
 * Remove fields the protocol does not define from a validated telemetry, events or model-report message, in
 * place, so that what reaches the stream is the protocol's content and nothing a sender smuggled beside it.
 * Returns the removed paths (at most 8 named). Status messages are an open snapshot (newer agents report more)
 * and keep their fields: validation bounds their nesting instead.
 */
export function stripUnknownFields(m: DeviceMessage): string[] {
  const out: string[] = [];
  const o = m as unknown as Record<string, unknown>;
  if (m.type === 'telemetry') {
    stripObject(o, TELEMETRY_KEYS, '', out);
    const rs = m.readings as unknown as Array<Record<string, unknown>>;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      // the common case, exactly the four fields, costs one key count
      if (Object.keys(r).length !== 4 || !('seq' in r && 'sensor' in r && 'ts' in r && 'value' in r)) {
        stripObject(r, READING_KEYS, `readings[${i}].`, out);
      }
    }
  } else if (m.type === 'events') {
    stripObject(o, EVENTS_KEYS, '', out);
    const es = m.events as unknown as Array<Record<string, unknown>>;
    for (let i = 0; i < es.length; i++) stripObject(es[i]!, EVENT_KEYS, `events[${i}].`, out);
  } else if (m.type === 'model-report') {
    stripObject(o, REPORT_KEYS, '', out);
  }
  return out;
}

export function validateModelDesired(m: unknown): ModelDesiredMessage {
  if (!isObj(m)) fail('message', 'a JSON object', m);
  if (m.v !== SCHEMA_VERSION) fail('v', `schema version ${SCHEMA_VERSION}`, m.v);
  if (m.type !== 'model-desired') fail('type', '"model-desired"', m.type);
  if (typeof m.name !== 'string' || !isValidId(m.name)) fail('name', 'a model name', m.name);
  if (typeof m.version !== 'string' || m.version.length === 0) fail('version', 'a version string', m.version);
  if (typeof m.artifactUrl !== 'string' || m.artifactUrl.length === 0) fail('artifactUrl', 'a URL', m.artifactUrl);
  if (!isObj(m.manifest)) fail('manifest', 'an object', m.manifest);
  if (!seqOk(m.seq)) fail('seq', 'a non-negative integer', m.seq);
  if (m.role !== undefined && m.role !== 'active' && m.role !== 'shadow') fail('role', '"active" or "shadow"', m.role);
  return m as unknown as ModelDesiredMessage;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeMessage(m: WireMessage): Buffer {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

/**
 * Decode and validate a device message from a payload. `limit` defaults to the MQTT payload limit.
 * Throws EL_ERR_MESSAGE_TOO_LARGE or EL_ERR_MESSAGE_INVALID with the reason.
 */
export function decodeDeviceMessage(payload: Uint8Array, limit = MAX_MQTT_PAYLOAD_BYTES): DeviceMessage {
  if (payload.byteLength > limit) {
    throw new EdgeloopError(
      'EL_ERR_MESSAGE_TOO_LARGE',
      `payload is ${payload.byteLength} bytes, over the ${limit}-byte limit`,
      { details: { bytes: payload.byteLength, limit } },
    );
  }
  let text: string;
  try {
    text = decoder.decode(payload);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MESSAGE_INVALID', 'payload is not valid UTF-8', { cause });
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MESSAGE_INVALID', `payload is not JSON: ${(cause as Error).message}`, { cause });
  }
  return validateDeviceMessage(obj);
}

export function byteLength(s: string): number {
  return encoder.encode(s).byteLength;
}
