/**
 * The training data of a retraining job, selected from the cloud's own history: the raw archive
 * (cloud/archive/, Hive-partitioned Parquet of every accepted message), read with DuckDB.
 *
 * - range: readings whose device time is in [from, to);
 * - cohort: the devices of the drifted subject (a device; a site or hardware kind from the devices' status rows;
 *   a model version `name@version` from the model their status reports); no cohort: every device;
 * - exclusions: every anomaly or alert event of those devices (the `events` table) excludes the steps within
 *   `guardMs` of it (default: one window's span at the device's median step), and so does every labelled interval
 *   passed in (`labels`: operator labels, ground truth); a drift-triggered job keeps the champion's own anomaly
 *   events (`keepEventsOf`): they are the false alarms of the stale model, and excluding them would leave out the
 *   new regime it has to learn;
 * - steps: a device timestamp with a reading of every model sensor (the agent's window assembler sees the same
 *   step); a timestamp missing a sensor is dropped and counted.
 *
 * The result is cut by training-data.ts into training segments and the hold-out slice (the last part in time).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EdgeloopError } from '../../protocol/errors.ts';
import { sqlString } from '../feature-store/parquet-offline-store.ts';
import type { DeviceSteps, Interval } from './training-data.ts';
import { medianStep } from './training-data.ts';

export type CohortKind = 'device' | 'site' | 'hardware' | 'model';

export interface Cohort {
  kind: CohortKind;
  id: string;
}

export interface LabelInterval extends Interval {
  /** a label of one device; without it the interval is excluded for every device */
  deviceId?: string | undefined;
}

export interface SelectQuery {
  /** the raw archive's root (`<dataDir>/archive`) */
  archiveDir: string;
  /** model sensors, in manifest order */
  sensors: readonly string[];
  /** device-time range [from, to), ms */
  from: number;
  to: number;
  cohort?: Cohort | undefined;
  /** rows per model window: the default exclusion guard is one window's span */
  window: number;
  /** exclusion around an event, ms; default window × the device's median step */
  guardMs?: number | undefined;
  labels?: readonly LabelInterval[] | undefined;
  /**
   * anomaly events of this model version are not exclusions (a drift-triggered job: after a drift the champion's
   * own judgement is what is in question, and its events on the new regime are the false alarms the job repairs;
   * alerts, other models' events and labels still exclude)
   */
  keepEventsOf?: { name: string; version: string } | undefined;
}

export interface Selection {
  devices: DeviceSteps[];
  /** excluded intervals per device (events and labels) */
  excluded: Map<string, Interval[]>;
  /** events found in the range (anomaly and alert) */
  events: number;
  /** device timestamps dropped because a sensor had no reading at them */
  incompleteSteps: number;
}

function hasParquet(dir: string): boolean {
  if (!existsSync(dir)) return false;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.parquet')) return true;
  }
  return false;
}

const glob = (dir: string, table: string): string =>
  `read_parquet(${sqlString(join(dir, table, '**', '*.parquet'))}, hive_partitioning = true, union_by_name = true)`;

const tsRange = (from: number, to: number): string =>
  `ts >= to_timestamp(${Math.floor(from)} / 1000.0) AND ts < to_timestamp(${Math.ceil(to)} / 1000.0)`;

export async function selectTrainingData(q: SelectQuery): Promise<Selection> {
  if (!(q.to > q.from))
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_CONFIG',
      `the data range is empty: from ${q.from} is not before to ${q.to}`,
    );
  if (!hasParquet(join(q.archiveDir, 'readings'))) {
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_NO_DATA',
      `no readings in the raw archive ${q.archiveDir} (is the archive part on? archive.enabled)`,
    );
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const devices = await cohortDevices(conn, q);
    if (devices !== undefined && devices.length === 0) {
      throw new EdgeloopError(
        'EL_ERR_RETRAIN_NO_DATA',
        `no device of the cohort ${q.cohort!.kind} ${q.cohort!.id} has a status row in the archive`,
      );
    }
    const inDevices = devices ? `AND device_id IN (${devices.map(sqlString).join(', ')})` : '';
    const k = q.sensors.length;
    const cols = q.sensors.map((s, i) => `max(value) FILTER (WHERE sensor = ${sqlString(s)}) AS v${i}`).join(', ');
    const sql = `
      SELECT device_id, CAST(epoch_ms(ts) AS DOUBLE) AS t, count(DISTINCT sensor) AS n, ${cols}
      FROM ${glob(q.archiveDir, 'readings')}
      WHERE ${tsRange(q.from, q.to)} ${inDevices} AND sensor IN (${q.sensors.map(sqlString).join(', ')})
      GROUP BY device_id, t ORDER BY device_id, t`;
    const rows = (await conn.runAndReadAll(sql)).getRows();
    const byDevice = new Map<string, { ts: number[]; values: number[] }>();
    let incomplete = 0;
    for (const r of rows) {
      if (Number(r[2]) < k) {
        incomplete++;
        continue;
      }
      const id = String(r[0]);
      let d = byDevice.get(id);
      if (!d) byDevice.set(id, (d = { ts: [], values: [] }));
      d.ts.push(Number(r[1]));
      for (let i = 0; i < k; i++) d.values.push(Number(r[3 + i]));
    }
    const steps: DeviceSteps[] = [...byDevice].map(([deviceId, d]) => ({
      deviceId,
      ts: Float64Array.from(d.ts),
      values: Float64Array.from(d.values),
    }));
    const excluded = new Map<string, Interval[]>();
    let events = 0;
    if (hasParquet(join(q.archiveDir, 'events'))) {
      const guards = new Map(steps.map((d) => [d.deviceId, q.guardMs ?? q.window * medianStep(d.ts)]));
      const widest = Math.max(0, ...guards.values());
      const ev = (
        await conn.runAndReadAll(
          `SELECT device_id, CAST(epoch_ms(ts) AS DOUBLE) FROM ${glob(q.archiveDir, 'events')}
           WHERE ${tsRange(q.from - widest, q.to + widest)} ${inDevices}${
             q.keepEventsOf
               ? ` AND NOT (kind = 'anomaly' AND model_name = ${sqlString(q.keepEventsOf.name)} AND model_version = ${sqlString(q.keepEventsOf.version)})`
               : ''
           }`,
        )
      ).getRows();
      for (const [id, t] of ev) {
        const g = guards.get(String(id));
        if (g === undefined) continue;
        events++;
        push(excluded, String(id), { from: Number(t) - g, to: Number(t) + g });
      }
    }
    for (const l of q.labels ?? []) {
      for (const d of steps) if (l.deviceId === undefined || l.deviceId === d.deviceId) push(excluded, d.deviceId, l);
    }
    return { devices: steps, excluded, events, incompleteSteps: incomplete };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function push(m: Map<string, Interval[]>, id: string, i: Interval): void {
  let l = m.get(id);
  if (!l) m.set(id, (l = []));
  l.push({ from: i.from, to: i.to });
}

/** The cohort's devices, from the archive's status rows; undefined = every device. */
async function cohortDevices(
  conn: Awaited<ReturnType<DuckDBInstance['connect']>>,
  q: SelectQuery,
): Promise<string[] | undefined> {
  const c = q.cohort;
  if (!c) return undefined;
  if (c.kind === 'device') return [c.id];
  if (!hasParquet(join(q.archiveDir, 'status'))) return [];
  let where: string;
  if (c.kind === 'site') where = `site = ${sqlString(c.id)}`;
  else if (c.kind === 'hardware') where = `hardware = ${sqlString(c.id)}`;
  else {
    const at = c.id.lastIndexOf('@');
    if (at <= 0)
      throw new EdgeloopError('EL_ERR_RETRAIN_CONFIG', `a model cohort is "name@version", got ${JSON.stringify(c.id)}`);
    where = `model_name = ${sqlString(c.id.slice(0, at))} AND model_version = ${sqlString(c.id.slice(at + 1))}`;
  }
  const rows = (
    await conn.runAndReadAll(
      `SELECT DISTINCT device_id FROM ${glob(q.archiveDir, 'status')} WHERE ${where} ORDER BY device_id`,
    )
  ).getRows();
  return rows.map((r) => String(r[0]));
}
