/** What the maintenance tests share: the shipped RUL model on a real ORT session, windows as device messages. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { SqliteAlertStore } from '../../../cloud/maintenance/alert-store.ts';
import { MaintenanceService, type MaintenanceServiceOptions } from '../../../cloud/maintenance/maintenance-service.ts';
import { loadRulModel } from '../../../cloud/maintenance/rul-model.ts';
import { DEFAULT_RUL_DIR } from '../../../cloud/parts/maintenance.ts';
import { packagePath } from '../../../lib/package-root.ts';
import type { Manifest } from '../../../protocol/manifest.ts';
import type { TelemetryMessage } from '../../../protocol/messages.ts';

export const DEFAULT_KEY = readFileSync(packagePath('models', 'default', 'keys', 'edgeloop-default.pub'), 'utf8');
export const MANIFEST = JSON.parse(readFileSync(join(DEFAULT_RUL_DIR, 'manifest.json'), 'utf8')) as Manifest;

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-maint-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function service(
  opts: Partial<Omit<MaintenanceServiceOptions, 'manifest' | 'runner' | 'store'>> & { dir?: string } = {},
): Promise<MaintenanceService> {
  const { dir = tempDir(), ...rest } = opts;
  const { manifest, runner } = await loadRulModel(DEFAULT_RUL_DIR, [DEFAULT_KEY]);
  const svc = new MaintenanceService({
    manifest,
    runner,
    store: new SqliteAlertStore({ path: join(dir, 'maintenance.db') }),
    ...rest,
  });
  await svc.start();
  onTestFinished(() => svc.close());
  return svc;
}

let seq = 0;
/** One telemetry message per cycle of a window row (window × sensors, row-major), cycle k at t0 + k * stepMs. */
export function windowMessages(
  deviceId: string,
  row: readonly number[],
  t0: number,
  stepMs = 1000,
): TelemetryMessage[] {
  const sensors = (MANIFEST.inputs as { sensors: string[] }).sensors;
  const cycles = row.length / sensors.length;
  const out: TelemetryMessage[] = [];
  for (let k = 0; k < cycles; k++) {
    const readings = sensors.map((sensor, j) => ({
      seq: ++seq,
      sensor,
      ts: t0 + k * stepMs,
      value: row[k * sensors.length + j]!,
    }));
    out.push({ v: 1, type: 'telemetry', deviceId, seq: readings[0]!.seq, sentAt: t0 + k * stepMs, readings });
  }
  return out;
}
