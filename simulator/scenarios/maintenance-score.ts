/**
 * Scores the live maintenance path against the scenario's ground truth. Pure. A device's true RUL after its k-th
 * cycle sent is `rulAfterLast + (cycles - k)`. Figures:
 * - RMSE of the served RUL at each device's last reading (the served prediction once every cycle it sent was
 *   scored), over every device, and over the devices that failed (true RUL 0 at their last reading);
 * - maintenance alerts of the devices that failed: the lead time (cycles between the first `firing` alert and the
 *   failure), how many failed without an alert (missed), and how many were alerted more than `horizon` cycles
 *   before failure (early).
 */

export interface ServedRul {
  deviceId: string;
  status: 'ok' | 'warming-up';
  rul: number | null;
  p10: number | null;
  p90: number | null;
  /** cycles the maintenance part had seen */
  cycles: number;
}

export interface AlertSeen {
  deviceId: string;
  state: 'firing' | 'resolved';
  /** cycles the device had sent when the alert changed state */
  cycles: number;
}

export interface LiveTruth {
  deviceId: string;
  cycles: number;
  rulAfterLast: number;
  failsAtEnd: boolean;
  /** cycles the device actually sent in the run (fewer than `cycles` when the run ended first) */
  sent: number;
}

export interface DeviceMaintenanceRow {
  deviceId: string;
  sent: number;
  /** cycles the maintenance part had seen of them */
  seen: number;
  failed: boolean;
  trueRul: number;
  rul: number | null;
  p10: number | null;
  p90: number | null;
  /** cycles from the first firing alert to failure (failed devices), or to the end of the run */
  alertLeadCycles: number | null;
}

export interface MaintenanceScore {
  devices: number;
  /** devices with a served prediction */
  scored: number;
  /** devices whose every sent cycle had reached the maintenance part */
  complete: number;
  rmseAtLastReading: number | null;
  rmseAtFailure: number | null;
  /** share of scored devices whose true RUL lies in [p10, p90] */
  coverage: number | null;
  alerts: {
    horizon: number;
    failed: number;
    alerted: number;
    missed: number;
    /** alerted more than `horizon` cycles before failure */
    early: number;
    leadCycles: { mean: number; min: number; max: number } | null;
    /** lead time in seconds at the run's cycle rate */
    leadSecondsMean: number | null;
    /** devices that did not fail in the run but had an alert */
    alertedWithoutFailure: number;
  };
  perDevice: DeviceMaintenanceRow[];
}

export function scoreMaintenance(
  truth: readonly LiveTruth[],
  served: readonly ServedRul[],
  alerts: readonly AlertSeen[],
  opts: { horizon: number; cyclesPerSec: number },
): MaintenanceScore {
  const byId = new Map(served.map((s) => [s.deviceId, s]));
  const firstFiring = new Map<string, number>();
  for (const a of alerts) {
    if (a.state !== 'firing') continue;
    const prev = firstFiring.get(a.deviceId);
    if (prev === undefined || a.cycles < prev) firstFiring.set(a.deviceId, a.cycles);
  }
  const rows: DeviceMaintenanceRow[] = truth.map((t) => {
    const s = byId.get(t.deviceId);
    const seen = s?.cycles ?? 0;
    const failed = t.failsAtEnd && t.sent >= t.cycles;
    const at = firstFiring.get(t.deviceId);
    const remainingAfter = (k: number): number => t.rulAfterLast + (t.cycles - k);
    return {
      deviceId: t.deviceId,
      sent: t.sent,
      seen,
      failed,
      trueRul: remainingAfter(seen),
      rul: s?.status === 'ok' ? s.rul : null,
      p10: s?.status === 'ok' ? s.p10 : null,
      p90: s?.status === 'ok' ? s.p90 : null,
      alertLeadCycles: at === undefined ? null : remainingAfter(at),
    };
  });
  const scored = rows.filter((r) => r.rul !== null);
  const rmse = (rs: DeviceMaintenanceRow[]): number | null =>
    rs.length === 0 ? null : Math.sqrt(rs.reduce((a, r) => a + (r.rul! - r.trueRul) ** 2, 0) / rs.length);
  const failed = rows.filter((r) => r.failed);
  const leads = failed.filter((r) => r.alertLeadCycles !== null).map((r) => r.alertLeadCycles!);
  const mean = leads.length ? leads.reduce((a, b) => a + b, 0) / leads.length : null;
  return {
    devices: rows.length,
    scored: scored.length,
    complete: rows.filter((r) => r.seen >= r.sent).length,
    rmseAtLastReading: rmse(scored),
    rmseAtFailure: rmse(scored.filter((r) => r.failed)),
    coverage: scored.length
      ? scored.filter((r) => r.trueRul >= r.p10! && r.trueRul <= r.p90!).length / scored.length
      : null,
    alerts: {
      horizon: opts.horizon,
      failed: failed.length,
      alerted: leads.length,
      missed: failed.length - leads.length,
      early: leads.filter((l) => l > opts.horizon).length,
      leadCycles: leads.length ? { mean: mean!, min: Math.min(...leads), max: Math.max(...leads) } : null,
      leadSecondsMean: mean === null ? null : mean / opts.cyclesPerSec,
      alertedWithoutFailure: rows.filter((r) => !r.failed && r.alertLeadCycles !== null).length,
    },
    perDevice: rows,
  };
}
