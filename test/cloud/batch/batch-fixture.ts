/**
 * Fleets for the batch tests, from the simulator's seeded signal model (never hand-written values): telemetry of
 * `devices` devices, one message per `everyMs` with one reading per sensor, seqs in device-time order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { Prng } from '../../../simulator/prng.ts';
import { DEFAULT_SENSORS, SignalModel } from '../../../simulator/signal-model.ts';
import type { DeviceMessage } from '../../../protocol/messages.ts';

export const DAY = 86_400_000;
/** 22:00 UTC two days ago: a fleet of a few hours crosses midnight (two UTC days) and stays within the ingest's bounds */
export const D0 = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
export const T0 = D0 + 22 * 3_600_000;

export function tempDir(prefix = 'edgeloop-batch-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function deviceId(i: number): string {
  return `dev-${String(i).padStart(3, '0')}`;
}

/** Telemetry of one device over [from, to): one message every `everyMs`, one reading per sensor. */
export function deviceTelemetry(id: string, from: number, to: number, everyMs: number, sensors = 2): DeviceMessage[] {
  const model = new SignalModel(DEFAULT_SENSORS.slice(0, sensors), new Prng(`batch:${id}`), from);
  const out: DeviceMessage[] = [];
  let seq = 1;
  const v = new Float64Array(sensors);
  for (let t = from; t < to; t += everyMs) {
    model.sample(t, v);
    const readings = model.sensors.map((s, i) => ({
      seq: seq + i,
      sensor: s.name,
      ts: t,
      value: Number(v[i]!.toFixed(s.decimals)),
    }));
    out.push({ v: 1, type: 'telemetry', deviceId: id, seq, sentAt: t, readings });
    seq += sensors;
  }
  return out;
}

/** `n` devices over [T0, T0 + hours): device 0 sends every `heavyEveryMs`, the rest every `everyMs`. */
export function fleet(n: number, hours: number, everyMs: number, heavyEveryMs = everyMs): DeviceMessage[] {
  const out: DeviceMessage[] = [];
  for (let i = 0; i < n; i++)
    out.push(...deviceTelemetry(deviceId(i), T0, T0 + hours * 3_600_000, i === 0 ? heavyEveryMs : everyMs));
  return out;
}
