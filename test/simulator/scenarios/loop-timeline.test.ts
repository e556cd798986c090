import { describe, expect, it } from 'vitest';
import type { InjectedFault } from '../../../simulator/faults/data-faults.ts';
import { formatLoopReport, LoopTimeline } from '../../../simulator/report/loop-timeline.ts';
import type { StatusMessage } from '../../../protocol/messages.ts';

const T0 = 1_000_000;
const status = (deviceId: string, ts: number, windows: number, anomalies: number, version: string): StatusMessage => ({
  v: 1,
  type: 'status',
  deviceId,
  seq: 0,
  ts,
  online: true,
  models: [{ name: 'anomaly', version }],
  inference: { windows, anomalies, anomalyRate: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0 },
});
const fault = (deviceId: string, start: number, end: number): InjectedFault => ({
  id: `${deviceId}-${start}`,
  deviceId,
  kind: 'spike',
  sensors: ['torque'],
  start,
  end,
  magnitude: 10,
  action: null,
  failureMode: null,
});

describe('LoopTimeline', () => {
  it('splits the run at onset and at the fleet on the new model, and scores each phase by hand-computed figures', () => {
    const min = 60_000;
    const t = new LoopTimeline({ startedAt: T0, warmupMs: min, devices: ['a', 'b'], model: 'anomaly' });
    // before (1..10 min): 100 windows per device per 5 min, nothing flagged
    for (const d of ['a', 'b']) {
      t.status(status(d, T0 + 1 * min, 0, 0, '1.0.0'));
      t.status(status(d, T0 + 5 * min, 100, 0, '1.0.0'));
      t.status(status(d, T0 + 9 * min, 200, 1, '1.0.0'));
    }
    t.milestone('onset', T0 + 10 * min);
    t.milestone('drift.detected', T0 + 13 * min, 'site:b input');
    // during: device a is shifted, flags 40 of 100
    t.status(status('a', T0 + 15 * min, 300, 41, '1.0.0'));
    t.status(status('b', T0 + 15 * min, 300, 1, '1.0.0'));
    expect(t.allOn('1.1.0')).toBe(false);
    t.status(status('a', T0 + 20 * min, 400, 41, '1.1.0'));
    // b restarted with the new model: its counters start again at zero
    t.status(status('b', T0 + 20 * min, 50, 0, '1.1.0'));
    expect(t.allOn('1.1.0')).toBe(true);
    t.milestone('fleet.on-new-model', T0 + 20 * min, '1.1.0');
    t.status(status('a', T0 + 30 * min, 500, 42, '1.1.0'));
    t.status(status('b', T0 + 30 * min, 150, 0, '1.1.0'));
    // events: one true positive before (inside a fault), one false alarm before, 3 false alarms during, 1 after
    t.event({ deviceId: 'a', ts: T0 + 3 * min });
    t.event({ deviceId: 'b', ts: T0 + 8 * min });
    for (const k of [11, 12, 14]) t.event({ deviceId: 'a', ts: T0 + k * min });
    t.event({ deviceId: 'a', ts: T0 + 25 * min });
    const faults = [
      fault('a', T0 + 3 * min - 1000, T0 + 3 * min + 1000),
      fault('b', T0 + 22 * min, T0 + 22 * min + 2000),
    ];
    const r = t.report(faults, T0 + 30 * min);
    expect(r.detectionDelayMs).toBe(3 * min);
    expect(r.detectionToFleetMs).toBe(7 * min);
    const [before, during, after] = r.phases;
    // the status at 1 min falls before the warm-up end (it starts at 1 min: included, delta 0 windows)
    expect(before).toMatchObject({
      phase: 'before',
      from: T0 + min,
      to: T0 + 10 * min,
      windows: 400,
      flaggedWindows: 2,
    });
    expect(before!.detection).toMatchObject({ events: 2, truePositiveEvents: 1, falsePositiveEvents: 1, recall: 1 });
    expect(before!.deviceHours).toBeCloseTo((2 * 9) / 60, 12);
    expect(before!.falseAlarmsPerDeviceHour).toBeCloseTo(1 / ((2 * 9) / 60), 12);
    // during (10..20 min): the reports at 15 min, a 100 windows / 40 flagged and b 100 / 0
    expect(during).toMatchObject({ windows: 200, flaggedWindows: 40 });
    expect(during!.detection.falsePositiveEvents).toBe(3);
    // after (from 20 min): a 100 / 0 and b 50 / 0 (counted from zero after its restart) at 20 min, a 100 / 1 and
    // b 100 / 0 at 30 min
    expect(after).toMatchObject({ windows: 350, flaggedWindows: 1 });
    expect(after!.detection).toMatchObject({ events: 1, faults: 1, detectedFaults: 0, recall: 0 });
    expect(r.falseAlarmRatio).toBeCloseTo(after!.falseAlarmsPerDeviceHour / before!.falseAlarmsPerDeviceHour, 12);
    expect(r.versions).toEqual({ '1.1.0': 2 });
    const text = formatLoopReport(r).join('\n');
    expect(text).toContain('10:00  onset');
    expect(text).toContain('13:00  drift.detected  site:b input');
    expect(text).toContain('onset → detection: 3.0 min; detection → whole fleet on the new model: 7.0 min');
  });
});
