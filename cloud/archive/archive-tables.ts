/**
 * The raw archive's tables and how a stream record becomes their rows (pure logic, no I/O).
 *
 * Every device message the ingest accepted lands in one table, one row per reading / event / snapshot:
 *   readings       device_id, seq, sensor, ts, value, arrived_at
 *   events         device_id, seq, ts, kind, severity, model_name, model_version, score, threshold, sensors, arrived_at
 *   status         device_id, seq, ts, online, agent_version, model_name, model_version, models, site, hardware,
 *                  config_hash, inference_windows, inference_anomalies, inference_p95_ms, arrived_at
 *   model_reports  device_id, seq, ts, model, version, state, rollout_id, reason, arrived_at
 * `ts` is the device time of the row (TIMESTAMPTZ, UTC), `arrived_at` when the stream accepted the record. Rows are
 * partitioned by the UTC date and hour of `ts`: `<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet`.
 * A status message's first model is its `model_name`/`model_version`; `models` holds all of them as JSON.
 */
import type { DeviceMessage } from '../../protocol/messages.ts';

export type ArchiveColumnType = 'VARCHAR' | 'BIGINT' | 'DOUBLE' | 'TIMESTAMPTZ' | 'BOOLEAN';
export type ArchiveValue = string | number | boolean | null;

export interface ArchiveTable {
  name: ArchiveTableName;
  columns: readonly { name: string; type: ArchiveColumnType }[];
}

export const ARCHIVE_TABLE_NAMES = ['readings', 'events', 'status', 'model_reports'] as const;
export type ArchiveTableName = (typeof ARCHIVE_TABLE_NAMES)[number];

const V = 'VARCHAR';
const B = 'BIGINT';
const D = 'DOUBLE';
const T = 'TIMESTAMPTZ';

function cols(spec: string): ArchiveTable['columns'] {
  return spec.split(/\s*,\s*/).map((c) => {
    const [name, type] = c.split(':') as [string, ArchiveColumnType];
    return { name, type };
  });
}

export const ARCHIVE_TABLES: Readonly<Record<ArchiveTableName, ArchiveTable>> = {
  readings: {
    name: 'readings',
    columns: cols(`device_id:${V}, seq:${B}, sensor:${V}, ts:${T}, value:${D}, arrived_at:${T}`),
  },
  events: {
    name: 'events',
    columns: cols(
      `device_id:${V}, seq:${B}, ts:${T}, kind:${V}, severity:${V}, model_name:${V}, model_version:${V}, score:${D}, threshold:${D}, sensors:${V}, arrived_at:${T}`,
    ),
  },
  status: {
    name: 'status',
    columns: cols(
      `device_id:${V}, seq:${B}, ts:${T}, online:BOOLEAN, agent_version:${V}, model_name:${V}, model_version:${V}, models:${V}, site:${V}, hardware:${V}, config_hash:${V}, inference_windows:${B}, inference_anomalies:${B}, inference_p95_ms:${D}, arrived_at:${T}`,
    ),
  },
  model_reports: {
    name: 'model_reports',
    columns: cols(
      `device_id:${V}, seq:${B}, ts:${T}, model:${V}, version:${V}, state:${V}, rollout_id:${V}, reason:${V}, arrived_at:${T}`,
    ),
  },
};

/** One row of a table: values in its column order, and its device time (partition). */
export interface ArchiveRow {
  table: ArchiveTableName;
  ts: number;
  values: ArchiveValue[];
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The archive rows of one validated device message that arrived at `arrivedAt`. */
export function archiveRows(m: DeviceMessage, arrivedAt: number): ArchiveRow[] {
  switch (m.type) {
    case 'telemetry':
      return m.readings.map((r) => ({
        table: 'readings',
        ts: r.ts,
        values: [m.deviceId, r.seq, r.sensor, r.ts, r.value, arrivedAt],
      }));
    case 'events':
      return m.events.map((e) => ({
        table: 'events',
        ts: e.ts,
        values: [
          m.deviceId,
          e.seq,
          e.ts,
          e.kind,
          e.severity,
          str(e.model?.name),
          str(e.model?.version),
          num(e.score),
          num(e.threshold),
          Array.isArray(e.sensors) ? e.sensors.join(',') : null,
          arrivedAt,
        ],
      }));
    case 'status': {
      const first = m.models?.[0];
      return [
        {
          table: 'status',
          ts: m.ts,
          values: [
            m.deviceId,
            m.seq,
            m.ts,
            m.online,
            str(m.agentVersion),
            str(first?.name),
            str(first?.version),
            Array.isArray(m.models) ? JSON.stringify(m.models) : null,
            str(m.site),
            str(m.hardware),
            str(m.configHash),
            num(m.inference?.windows),
            num(m.inference?.anomalies),
            num(m.inference?.p95Ms),
            arrivedAt,
          ],
        },
      ];
    }
    case 'model-report':
      return [
        {
          table: 'model_reports',
          ts: m.ts,
          values: [m.deviceId, m.seq, m.ts, m.model, m.version, m.state, str(m.rolloutId), str(m.reason), arrivedAt],
        },
      ];
  }
}

/** The partition directory of a row: `date=YYYY-MM-DD/hour=HH` (UTC). */
export function partitionOf(ts: number): string {
  const iso = new Date(ts).toISOString();
  return `date=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/** The start of a partition's hour, ms; undefined for a name that is not a partition. */
export function partitionStart(partition: string): number | undefined {
  const m = /^date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})$/.exec(partition);
  return m ? Date.parse(`${m[1]}T${m[2]}:00:00Z`) : undefined;
}
