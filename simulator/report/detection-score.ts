/**
 * Anomaly detection scored against ground truth, event-wise: an anomaly event of a device is a true positive when
 * its device time falls inside one of that device's injected faults (from start to end + tolerance); a fault is
 * detected when at least one event matches it. Precision = true-positive events / events; recall = detected
 * faults / faults. Dropouts produce no data to score, so they are reported but left out of recall. Pure.
 */
import type { InjectedFault } from '../faults/data-faults.ts';

export interface ObservedEvent {
  deviceId: string;
  ts: number;
  kind?: string;
  score?: number | undefined;
  sensors?: string[] | undefined;
}

export interface DetectionScore {
  events: number;
  faults: number;
  scoredFaults: number;
  detectedFaults: number;
  truePositiveEvents: number;
  falsePositiveEvents: number;
  /** NaN when there were no events */
  precision: number;
  /** NaN when no fault was scorable */
  recall: number;
  f1: number;
  /** mean of (first matching event ts - fault start), ms */
  meanTimeToDetectMs: number;
  toleranceMs: number;
  perKind: Record<string, { faults: number; detected: number }>;
}

export const UNSCORED_KINDS: ReadonlySet<string> = new Set(['dropout']);

export function scoreDetection(
  faults: readonly InjectedFault[],
  events: readonly ObservedEvent[],
  toleranceMs = 5000,
): DetectionScore {
  const byDevice = new Map<string, InjectedFault[]>();
  for (const f of faults) {
    let l = byDevice.get(f.deviceId);
    if (!l) byDevice.set(f.deviceId, (l = []));
    l.push(f);
  }
  const firstHit = new Map<InjectedFault, number>();
  let tp = 0;
  for (const e of events) {
    let hit = false;
    for (const f of byDevice.get(e.deviceId) ?? []) {
      if (e.ts >= f.start && e.ts <= f.end + toleranceMs) {
        hit = true;
        const prev = firstHit.get(f);
        if (prev === undefined || e.ts < prev) firstHit.set(f, e.ts);
      }
    }
    if (hit) tp++;
  }
  const perKind: Record<string, { faults: number; detected: number }> = {};
  let scored = 0;
  let detected = 0;
  let ttd = 0;
  for (const f of faults) {
    const k = (perKind[f.kind] ??= { faults: 0, detected: 0 });
    k.faults++;
    const hitAt = firstHit.get(f);
    if (hitAt !== undefined) {
      k.detected++;
    }
    if (UNSCORED_KINDS.has(f.kind)) continue;
    scored++;
    if (hitAt !== undefined) {
      detected++;
      ttd += Math.max(0, hitAt - f.start);
    }
  }
  const precision = events.length ? tp / events.length : Number.NaN;
  const recall = scored ? detected / scored : Number.NaN;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : Number.NaN;
  return {
    events: events.length,
    faults: faults.length,
    scoredFaults: scored,
    detectedFaults: detected,
    truePositiveEvents: tp,
    falsePositiveEvents: events.length - tp,
    precision,
    recall,
    f1,
    meanTimeToDetectMs: detected ? ttd / detected : Number.NaN,
    toleranceMs,
    perKind,
  };
}
