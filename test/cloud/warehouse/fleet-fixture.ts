/**
 * A small fleet's messages, put through a real LocalStream and the RawArchive into `<dataDir>/archive`, for the
 * warehouse tests. Device time starts at T0 (an hour boundary); readings are one a minute per device.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { Warehouse } from '../../../cloud/warehouse/warehouse.ts';
import { archiveMessages } from '../../helpers/archive-messages.ts';
import {
  type DeviceMessage,
  type EventsMessage,
  type ModelReportMessage,
  type StatusMessage,
  type TelemetryMessage,
} from '../../../protocol/messages.ts';

/** 08:00 UTC yesterday: within the ingest's default 7-day bound, and the fleet's 3 hours stay in one UTC day */
export const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000 + 8 * 3_600_000;
export const MIN = 60_000;

export function tempDir(prefix = 'edgeloop-wh-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A device's readings (one a minute in [fromMin, toMin), value = minute) and anomaly events (30 s after their
 * minute), with seqs from `seq0` in device-time order, one counter for both, as an agent assigns them.
 */
export function timeline(
  deviceId: string,
  fromMin: number,
  toMin: number,
  anomalyMinutes: readonly number[],
  seq0 = 1,
): (TelemetryMessage | EventsMessage)[] {
  const out: (TelemetryMessage | EventsMessage)[] = [];
  let seq = seq0;
  for (let m = fromMin; m < toMin; m++) {
    const ts = T0 + m * MIN;
    out.push({ v: 1, type: 'telemetry', deviceId, seq, sentAt: ts, readings: [{ seq, sensor: 'temp', ts, value: m }] });
    seq++;
    if (anomalyMinutes.includes(m)) {
      out.push({
        v: 1,
        type: 'events',
        deviceId,
        seq,
        sentAt: ts + 30_000,
        events: [{ seq, ts: ts + 30_000, kind: 'anomaly', severity: 'warning', score: 0.9 }],
      });
      seq++;
    }
  }
  return out;
}

export function status(deviceId: string, min: number, seq: number, extra: Partial<StatusMessage> = {}): StatusMessage {
  return { v: 1, type: 'status', deviceId, seq, ts: T0 + min * MIN, online: true, ...extra };
}

export function active(deviceId: string, min: number, seq: number, model: string, version: string): ModelReportMessage {
  return {
    v: 1,
    type: 'model-report',
    deviceId,
    seq,
    ts: T0 + min * MIN,
    model,
    version,
    state: 'active',
    rolloutId: `r-${version}`,
  };
}

export { archiveMessages };

export const A_ANOMALIES = [5, 15, 25, 35, 45, 55, 70, 80, 90];
export const B_ANOMALIES = [10, 130];

/**
 * The fleet: dev-a runs anomaly@1 from minute 0, anomaly@2 from minute 60, anomaly@3 from minute 120 (a status,
 * then two rollouts reported 'active'); dev-b runs anomaly@1 throughout at site plant-b. 180 minutes of readings
 * each; dev-a has 6 anomalies under @1, 3 under @2, 0 under @3; dev-b has 2 (minutes 10 and 130).
 */
export function fleet(): DeviceMessage[] {
  return [
    status('dev-a', 0, 0, {
      agentVersion: '1.4.0',
      models: [{ name: 'anomaly', version: '1' }],
      site: 'plant-a',
      hardware: 'rpi4',
      inference: { windows: 12, anomalies: 1, anomalyRate: 1 / 12, p50Ms: 1.5, p95Ms: 4.25, p99Ms: 6 },
    }),
    status('dev-b', 0, 0, {
      agentVersion: '1.4.0',
      models: [{ name: 'anomaly', version: '1' }],
      site: 'plant-b',
      hardware: 'rpi5',
    }),
    ...timeline('dev-a', 0, 180, A_ANOMALIES),
    ...timeline('dev-b', 0, 180, B_ANOMALIES),
    active('dev-a', 60, 66, 'anomaly', '2'),
    active('dev-a', 120, 129, 'anomaly', '3'),
  ];
}

/** The fleet plus dev-c at plant-a (anomaly@1), which also reported the day before: plant-a has two days, plant-b one. */
export function twoDayFleet(): DeviceMessage[] {
  return [
    ...fleet(),
    status('dev-c', -1440, 0, {
      agentVersion: '1.4.0',
      models: [{ name: 'anomaly', version: '1' }],
      site: 'plant-a',
      hardware: 'rpi4',
    }),
    ...timeline('dev-c', -1440, -1380, [-1430]),
    ...timeline('dev-c', 0, 60, [20], 200),
  ];
}

/** Archive `messages` under `dataDir` and refresh them into `<dataDir>/warehouse.duckdb` (closed again); its path. */
export async function refreshedWarehouse(dataDir: string, messages: DeviceMessage[]): Promise<string> {
  await archiveMessages(dataDir, messages);
  const path = join(dataDir, 'warehouse.duckdb');
  const w = await Warehouse.open({ path, archiveDir: join(dataDir, 'archive'), checks: { maxStalenessMs: null } });
  try {
    await w.refresh();
  } finally {
    w.close();
  }
  return path;
}
