/**
 * Rebuilding dim_device (SCD Type 2, scd2.ts) inside a refresh, and re-keying the facts whose version changed.
 *
 * Runs after the status and model-report partitions are loaded and before the reading and event partitions are:
 * the facts about to be loaded get their device_key as they are inserted (warehouse.ts joins them to dim_device),
 * so only facts already in the warehouse are updated, and only those of a device whose versions changed from the
 * first changed instant on. A device's first version opens at its first fact, so the facts about to be loaded
 * count: `pending` names their files, which are read here for each device's earliest ts.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { micros, sqlString } from '../feature-store/parquet-offline-store.ts';
import { buildDeviceVersions, DEVICE_ATTRIBUTES, type DeviceObservation, type DeviceVersion } from './scd2.ts';

export interface DimDeviceInput {
  conn: DuckDBConnection;
  rows(sql: string): Promise<Record<string, unknown>[]>;
  /** archive files of readings and events about to be loaded */
  pending: string[];
  /** `partition` values of fact_reading and fact_event whose rows are about to be replaced or removed */
  replaced: { table: 'fact_reading' | 'fact_event'; partition: string }[];
}

/** Rebuild dim_device; re-key (and mark in touched_hours) the existing facts of changed devices. Returns how many changed. */
export async function rebuildDimDevice(db: DimDeviceInput): Promise<number> {
  const { conn } = db;
  const next = buildDeviceVersions(await observations(db), await firstSeen(db));
  const before = groupVersions(await currentVersions(db));
  const after = groupVersions(next);
  await conn.run('CREATE OR REPLACE TEMP TABLE rekey (device_id VARCHAR PRIMARY KEY, from_ts TIMESTAMPTZ)');
  const rekey: string[] = [];
  for (const [id, versions] of after) {
    const from = firstDifference(before.get(id) ?? [], versions);
    if (from !== undefined) rekey.push(`(${sqlString(id)}, make_timestamptz(${Math.round(from * 1000)}::BIGINT))`);
  }
  for (let i = 0; i < rekey.length; i += 500)
    await conn.run(`INSERT INTO rekey VALUES ${rekey.slice(i, i + 500).join(', ')}`);
  await conn.run('DELETE FROM dim_device');
  const app = await conn.createAppender('dim_device');
  const s = (v: string | null): void => (v === null ? app.appendNull() : app.appendVarchar(v));
  for (const v of next) {
    app.appendVarchar(v.deviceKey);
    app.appendVarchar(v.deviceId);
    app.appendInteger(v.version);
    s(v.site);
    s(v.hardware);
    s(v.agentVersion);
    s(v.modelName);
    s(v.modelVersion);
    s(v.configHash);
    app.appendTimestampTZ(micros(v.validFrom));
    if (v.validTo === null) app.appendNull();
    else app.appendTimestampTZ(micros(v.validTo));
    app.appendBoolean(v.isCurrent);
    app.endRow();
  }
  app.closeSync();
  if (rekey.length > 0) {
    for (const t of ['fact_reading', 'fact_event']) {
      const stale = `${t}.device_id IN (SELECT device_id FROM rekey) AND ${t}.ts >= (SELECT r.from_ts FROM rekey r WHERE r.device_id = ${t}.device_id)`;
      await conn.run(`INSERT OR IGNORE INTO touched_hours SELECT DISTINCT hour FROM ${t} WHERE ${stale}`);
      await conn.run(
        `UPDATE ${t} SET device_key = d.device_key FROM dim_device d
         WHERE d.device_id = ${t}.device_id AND ${t}.ts >= d.valid_from AND (d.valid_to IS NULL OR ${t}.ts < d.valid_to) AND ${stale}`,
      );
    }
  }
  return rekey.length;
}

/**
 * The joins that give each fact `f` the version of its device valid at its ts, as `coalesce(d1.device_key,
 * dn.device_key)`. A device with one version (most of a fleet) is matched on its id alone: its version opens at its
 * first fact, so it covers every fact. Only the devices with several versions are matched on the range (a range
 * condition costs about as much as the rest of a load); the open end is `infinity`, not an `IS NULL OR`.
 */
export const DEVICE_VERSION_AT_TS = `LEFT JOIN (SELECT device_id, any_value(device_key) AS device_key FROM dim_device GROUP BY device_id HAVING count(*) = 1) d1
    ON d1.device_id = f.device_id
  LEFT JOIN (SELECT device_id, device_key, valid_from, coalesce(valid_to, 'infinity'::TIMESTAMPTZ) AS valid_to
      FROM dim_device WHERE device_id IN (SELECT device_id FROM dim_device GROUP BY device_id HAVING count(*) > 1)) dn
    ON dn.device_id = f.device_id AND f.ts >= dn.valid_from AND f.ts < dn.valid_to`;

/** the device_key a fact gets from DEVICE_VERSION_AT_TS */
export const DEVICE_KEY_AT_TS = 'coalesce(d1.device_key, dn.device_key)';

async function observations(db: DimDeviceInput): Promise<DeviceObservation[]> {
  const obs: DeviceObservation[] = [];
  for (const r of await db.rows(
    `SELECT device_id, epoch_ms(ts) AS t, seq, agent_version, model_name, model_version, site, hardware, config_hash FROM stg_status`,
  )) {
    const attrs: DeviceObservation['attrs'] = {};
    if (r.agent_version !== null) attrs.agentVersion = r.agent_version as string;
    if (r.model_name !== null) {
      attrs.modelName = r.model_name as string;
      attrs.modelVersion = r.model_version as string;
    }
    if (r.site !== null) attrs.site = r.site as string;
    if (r.hardware !== null) attrs.hardware = r.hardware as string;
    if (r.config_hash !== null) attrs.configHash = r.config_hash as string;
    obs.push({ deviceId: r.device_id as string, ts: Number(r.t), seq: Number(r.seq), attrs });
  }
  for (const r of await db.rows(
    `SELECT device_id, epoch_ms(ts) AS t, seq, model, version FROM stg_model_report WHERE state = 'active'`,
  )) {
    obs.push({
      deviceId: r.device_id as string,
      ts: Number(r.t),
      seq: Number(r.seq),
      attrs: { modelName: r.model as string, modelVersion: r.version as string },
    });
  }
  return obs;
}

/** each device's earliest reading or event: in the warehouse (but for replaced partitions) or about to be loaded */
async function firstSeen(db: DimDeviceInput): Promise<Map<string, number>> {
  const sources = ['fact_reading', 'fact_event'].map((t) => {
    const gone = db.replaced.filter((r) => r.table === t).map((r) => sqlString(r.partition));
    return `SELECT device_id, ts FROM ${t}${gone.length > 0 ? ` WHERE partition NOT IN (${gone.join(', ')})` : ''}`;
  });
  if (db.pending.length > 0)
    sources.push(
      `SELECT device_id, ts FROM read_parquet([${db.pending.map(sqlString).join(', ')}], union_by_name = true)`,
    );
  const seen = new Map<string, number>();
  for (const r of await db.rows(
    `SELECT device_id, epoch_ms(min(ts)) AS t FROM (${sources.join(' UNION ALL ')}) GROUP BY device_id`,
  ))
    seen.set(r.device_id as string, Number(r.t));
  return seen;
}

async function currentVersions(db: DimDeviceInput): Promise<DeviceVersion[]> {
  return (
    await db.rows(
      'SELECT device_key, device_id, version, epoch_ms(valid_from) AS vf, epoch_ms(valid_to) AS vt, site, hardware, agent_version, model_name, model_version, config_hash FROM dim_device',
    )
  ).map(
    (r) =>
      ({
        deviceKey: r.device_key,
        deviceId: r.device_id,
        version: r.version,
        validFrom: Number(r.vf),
        validTo: r.vt === null ? null : Number(r.vt),
        isCurrent: r.vt === null,
        site: r.site,
        hardware: r.hardware,
        agentVersion: r.agent_version,
        modelName: r.model_name,
        modelVersion: r.model_version,
        configHash: r.config_hash,
      }) as DeviceVersion,
  );
}

function groupVersions(vs: Iterable<DeviceVersion>): Map<string, DeviceVersion[]> {
  const m = new Map<string, DeviceVersion[]>();
  for (const v of vs) {
    const l = m.get(v.deviceId);
    if (l) l.push(v);
    else m.set(v.deviceId, [v]);
  }
  for (const l of m.values()) l.sort((a, b) => a.version - b.version);
  return m;
}

/** what makes two versions differ: their range and every attribute */
const ATTRS = ['validFrom', 'validTo', ...DEVICE_ATTRIBUTES] as const;

/** The earliest instant from which two version lists of a device differ; undefined when they are equal. */
export function firstDifference(a: readonly DeviceVersion[], b: readonly DeviceVersion[]): number | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x && y && ATTRS.every((k) => x[k] === y[k])) continue;
    return Math.min(x?.validFrom ?? Infinity, y?.validFrom ?? Infinity);
  }
  return undefined;
}
