import { describe, expect, it } from 'vitest';
import {
  FeatureAggregator,
  durationName,
  featureNamePart,
  type FeatureAggregatorOptions,
} from '../../../cloud/processor/feature-aggregator.ts';
import { AlertEvaluator, parseAlertRule } from '../../../cloud/processor/alert-rules.ts';
import { decodeRecord } from '../../../cloud/processor/decode-record.ts';
import type { DeviceMessage, EventsMessage, StatusMessage, TelemetryMessage } from '../../../protocol/messages.ts';

let seq = 0;
function tel(deviceId: string, readings: [string, number, number][]): TelemetryMessage {
  const rs = readings.map(([sensor, ts, value]) => ({ seq: ++seq, sensor, ts, value }));
  return { v: 1, type: 'telemetry', deviceId, seq: rs[0]!.seq, sentAt: readings.at(-1)![1], readings: rs };
}
function anomalies(deviceId: string, ts: number[]): EventsMessage {
  return {
    v: 1,
    type: 'events',
    deviceId,
    seq: ++seq,
    sentAt: ts.at(-1)!,
    events: ts.map((t) => ({ seq: ++seq, ts: t, kind: 'anomaly', severity: 'warning' })),
  };
}
function status(deviceId: string, ts: number, models: [string, string][], online = true): StatusMessage {
  return {
    v: 1,
    type: 'status',
    deviceId,
    seq: ++seq,
    ts,
    online,
    models: models.map(([name, version]) => ({ name, version })),
  };
}

function run(opts: FeatureAggregatorOptions, msgs: (DeviceMessage | [DeviceMessage, number])[], device = 'd1') {
  const agg = new FeatureAggregator(opts);
  for (const m of msgs) {
    const [msg, at] = Array.isArray(m) ? m : [m, 1_000_000];
    agg.ingest(msg, at);
  }
  return { agg, f: agg.features(device)?.features ?? {}, eventTime: agg.features(device)?.eventTime };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const pstd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

describe('FeatureAggregator windows', () => {
  const values = Array.from({ length: 60 }, (_, i) => 20 + ((i * 7) % 13));
  const minute = values.map((v, i) => ['temperature', i * 1000, v] as [string, number, number]);

  it.each([
    {
      name: 'no window is closed before the watermark passes its end',
      msgs: [tel('d1', minute), tel('d1', [['temperature', 64_000, 99]])],
      expect: { temperature_last: 99 },
      absent: ['temperature_mean_1m', 'temperature_count_1m'],
    },
    {
      name: 'tumbling 1m closes at watermark 60 s: count, mean, std, min, max, last',
      msgs: [tel('d1', minute), tel('d1', [['temperature', 65_000, 99]])],
      expect: {
        temperature_count_1m: 60,
        temperature_mean_1m: mean(values),
        temperature_std_1m: pstd(values),
        temperature_min_1m: Math.min(...values),
        temperature_max_1m: Math.max(...values),
        temperature_last_1m: values[59],
        temperature_last: 99,
      },
      absent: [],
    },
    {
      name: 'an empty closed window has count 0 and no value statistics',
      msgs: [tel('d1', [['temperature', 1000, 5]]), tel('d1', [['temperature', 185_000, 6]])],
      expect: { temperature_count_1m: 0, temperature_mean_1m: null, temperature_min_1m: null },
      absent: [],
    },
  ])('$name', ({ msgs, expect: want, absent }) => {
    const { f } = run({}, msgs);
    for (const [k, v] of Object.entries(want)) {
      if (typeof v === 'number') expect(f[k], k).toBeCloseTo(v, 9);
      else expect(f[k], k).toBe(v);
    }
    for (const k of absent) expect(f).not.toHaveProperty(k);
  });

  it('sliding windows (size 60 s, slide 20 s) cover the panes of the latest closed window', () => {
    const rs: [string, number, number][] = [];
    for (let t = 0; t < 100_000; t += 5000) rs.push(['p', t, t / 1000]);
    const { f } = run({ windows: [{ sizeMs: 60_000, slideMs: 20_000 }], allowedLatenessMs: 0 }, [tel('d1', rs)]);
    // newest ts 95 s → watermark 95 s → closed boundary 80 s → window [20 s, 80 s)
    const inWindow = rs.filter(([, t]) => t >= 20_000 && t < 80_000).map(([, , v]) => v);
    expect(f.p_count_1m).toBe(inWindow.length);
    expect(f.p_mean_1m).toBeCloseTo(mean(inWindow), 12);
    expect(f.p_min_1m).toBe(20);
    expect(f.p_max_1m).toBe(75);
  });

  it('two windows of different sizes, and only the stats asked for', () => {
    const rs: [string, number, number][] = [];
    for (let t = 0; t <= 320_000; t += 10_000) rs.push(['x', t, 1]);
    const { f } = run(
      { windows: [{ sizeMs: 60_000 }, { sizeMs: 300_000 }], stats: ['count', 'mean'], allowedLatenessMs: 0 },
      [tel('d1', rs)],
    );
    expect(f.x_count_1m).toBe(6);
    expect(f.x_count_5m).toBe(30);
    expect(f).not.toHaveProperty('x_std_1m');
  });

  it('drops late readings from windows but counts them, and they still update last_seen and _last', () => {
    const agg = new FeatureAggregator({ allowedLatenessMs: 5000 });
    agg.ingest(
      tel('d1', [
        ['a', 10_000, 1],
        ['b', 1000, 7],
      ]),
      100,
    );
    agg.ingest(tel('d1', [['a', 70_000, 2]]), 200); // watermark 65 s: window [0, 60 s) closed
    // within lateness (>= 65 s): counted in the open window; older: late
    const res = agg.ingest(
      tel('d1', [
        ['a', 66_000, 3],
        ['a', 30_000, 100],
        ['b', 50_000, 8],
      ]),
      300,
    );
    expect(res).toMatchObject({ readings: 3, late: 2 });
    const f = agg.features('d1')!.features;
    expect(f.a_count_1m).toBe(1); // only the 10 s reading: the late 30 s one was dropped
    expect(f.a_mean_1m).toBe(1);
    expect(f.late_readings).toBe(2);
    expect(f.last_seen).toBe(300);
    expect(f.b_last).toBe(8); // b's newest reading, even though late for windows
    expect(f.a_last).toBe(2);
    expect(agg.stats()).toMatchObject({ readings: 6, lateReadings: 2 });
    agg.ingest(tel('d1', [['a', 126_000, 4]]), 400); // closes [60 s, 120 s): 70 s and 66 s readings
    const g = agg.features('d1')!.features;
    expect(g.a_count_1m).toBe(2);
    expect(g.a_mean_1m).toBe(2.5);
  });

  it('judges lateness against the watermark before the message, so a batch may be out of order', () => {
    const { f, agg } = run({ allowedLatenessMs: 0 }, [
      tel('d1', [
        ['a', 61_000, 1],
        ['a', 2000, 2],
        ['a', 121_000, 3],
      ]),
    ]);
    expect(agg.stats().lateReadings).toBe(0);
    expect(f.a_count_1m).toBe(1); // [60 s, 120 s)
  });

  it('computes a time-aware EWMA by half-life', () => {
    const { f } = run({ ewmaHalfLifeMs: 10_000 }, [
      tel('d1', [
        ['t', 0, 0],
        ['t', 10_000, 10],
        ['t', 30_000, 0],
      ]),
    ]);
    // 0 → 5 after one half-life → 5 * 0.25 after two more
    expect(f.t_ewma).toBeCloseTo(1.25, 12);
    expect(run({ ewmaHalfLifeMs: 0 }, [tel('d1', [['t', 0, 1]])]).f).not.toHaveProperty('t_ewma');
  });

  it('counts anomaly events in the trailing window and gives a per-minute rate', () => {
    const min = 60_000;
    const { f } = run({}, [anomalies('d1', [1 * min, 2 * min, 10 * min, 20 * min]), tel('d1', [['x', 21 * min, 0]])]);
    // trailing 15 min up to 21 min: 10 min and 20 min events (6 min < 1, 2 min)
    expect(f.anomaly_count_15m).toBe(2);
    expect(f.anomaly_rate_15m).toBeCloseTo(2 / 15, 12);
  });

  it('tracks model versions and online state from status and model reports; older status is ignored', () => {
    const { f, eventTime } = run({}, [
      status('d1', 5000, [
        ['anomaly', '1.0.0'],
        ['rul.model', '3'],
      ]),
      status('d1', 4000, [['anomaly', '0.9.0']], false),
      {
        v: 1,
        type: 'model-report',
        deviceId: 'd1',
        seq: ++seq,
        ts: 6000,
        model: 'anomaly',
        version: '1.1.0',
        state: 'downloaded',
      },
      {
        v: 1,
        type: 'model-report',
        deviceId: 'd1',
        seq: ++seq,
        ts: 7000,
        model: 'anomaly',
        version: '1.2.0',
        state: 'active',
      },
    ]);
    expect(f.model_version_anomaly).toBe('1.2.0');
    expect(f.model_version_rul_model).toBe('3');
    expect(f.online).toBe(1);
    expect(eventTime).toBe(7000);
  });

  it('gives AI4I sensor ids exactly their names as _last features', () => {
    const ai4i = {
      air_temperature_k: 298.1,
      process_temperature_k: 308.6,
      rotational_speed_rpm: 1551,
      torque_nm: 42.8,
      tool_wear_min: 0,
      type: 1,
    };
    const { f } = run(
      {},
      [
        tel(
          'M14860',
          Object.entries(ai4i).map(([s, v]) => [s, 1000, v] as [string, number, number]),
        ),
      ],
      'M14860',
    );
    for (const [s, v] of Object.entries(ai4i)) expect(f[`${s}_last`]).toBe(v);
  });

  it('sanitises sensor ids into feature names and bounds sensors per device', () => {
    expect(featureNamePart('temp.c/in')).toBe('temp_c_in');
    expect(featureNamePart('..')).toBeUndefined();
    const { f, agg } = run({ maxSensorsPerDevice: 2 }, [
      tel('d1', [
        ['temp.c', 1, 1],
        ['b', 1, 2],
        ['c', 1, 3],
        ['x'.repeat(60), 1, 4],
      ]),
    ]);
    expect(f.temp_c_last).toBe(1);
    expect(f.b_last).toBe(2);
    expect(f).not.toHaveProperty('c_last');
    expect(agg.stats().ignoredReadings).toBe(2);
  });

  it('continues from a seeded record: carried features, watermark at its event time, partial windows not emitted', () => {
    const agg = new FeatureAggregator({ allowedLatenessMs: 0 });
    agg.seed('d1', {
      entityId: 'd1',
      eventTime: 100_000,
      features: { t_mean_1m: 42, model_version_anomaly: '7', late_readings: 3, last_seen: 50 },
    });
    agg.ingest(tel('d1', [['t', 90_000, 1]]), 60); // older than the stored event time: late
    agg.ingest(
      tel('d1', [
        ['t', 110_000, 2],
        ['t', 130_000, 3],
      ]),
      70,
    );
    let f = agg.features('d1')!.features;
    expect(f.late_readings).toBe(4);
    expect(f.t_mean_1m).toBe(42); // [60 s, 120 s) began before this state's first reading (110 s): carried
    expect(f.model_version_anomaly).toBe('7');
    expect(f.last_seen).toBe(70);
    agg.ingest(tel('d1', [['t', 185_000, 5]]), 80); // closes [120 s, 180 s), fully seen
    f = agg.features('d1')!.features;
    expect(f.t_mean_1m).toBe(3);
    expect(f.t_count_1m).toBe(1);
  });

  it('reports touched devices once and refuses invalid window specs', () => {
    const agg = new FeatureAggregator();
    agg.ingest(tel('a', [['x', 1, 1]]), 1);
    agg.ingest(tel('b', [['x', 1, 1]]), 1);
    agg.ingest(tel('a', [['x', 2, 1]]), 1);
    expect(agg.takeDirty().sort()).toEqual(['a', 'b']);
    expect(agg.takeDirty()).toEqual([]);
    expect(() => new FeatureAggregator({ windows: [{ sizeMs: 60_000, slideMs: 7000 }] })).toThrow(
      /sizeMs a multiple of slideMs/,
    );
    expect(() => new FeatureAggregator({ windows: [{ sizeMs: 60_000 }, { sizeMs: 60_000, slideMs: 10_000 }] })).toThrow(
      /must be unique/,
    );
    expect(() => new FeatureAggregator({ stats: ['median' as 'mean'] })).toThrow(/"stats"/);
    expect(durationName(60_000)).toBe('1m');
    expect(durationName(90_000)).toBe('90s');
    expect(durationName(250)).toBe('250ms');
  });
});

describe('alert rules', () => {
  it('parse and fire edge-triggered per device and rule', () => {
    expect(parseAlertRule('temperature_mean_1m > 80')).toMatchObject({
      feature: 'temperature_mean_1m',
      op: '>',
      threshold: 80,
    });
    expect(parseAlertRule({ when: 'x<=-1.5e2', severity: 'critical' })).toMatchObject({
      op: '<=',
      threshold: -150,
      severity: 'critical',
    });
    expect(() => parseAlertRule('temperature > hot')).toThrow(/expected "<feature> <op> <number>"/);
    const ev = new AlertEvaluator(['t > 80', 'v != 0']);
    expect(ev.evaluate('d1', 1, { t: 70 })).toEqual([]);
    expect(ev.evaluate('d1', 2, { t: 81 }).map((a) => [a.rule, a.state, a.value])).toEqual([['t > 80', 'firing', 81]]);
    expect(ev.evaluate('d1', 3, { t: 90 })).toEqual([]);
    expect(ev.evaluate('d2', 3, { t: 90 })).toHaveLength(1);
    expect(ev.evaluate('d1', 4, { t: null })).toEqual([]);
    expect(ev.evaluate('d1', 5, { t: 80, v: 2 }).map((a) => [a.rule, a.state])).toEqual([
      ['t > 80', 'resolved'],
      ['v != 0', 'firing'],
    ]);
    expect(ev.firingCount).toBe(2);
  });
});

describe('decodeRecord', () => {
  const m = tel('d1', [['a', 1, 1]]);
  const b = (x: unknown): Buffer => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));
  it.each([
    { name: 'one message', data: b(m), n: 1, errors: 0 },
    { name: 'an array', data: b([m, m]), n: 2, errors: 0 },
    { name: 'NDJSON', data: b(`${JSON.stringify(m)}\n${JSON.stringify(m)}\n`), n: 2, errors: 0 },
    { name: 'an envelope', data: b({ message: m, receivedAt: 5 }), n: 1, errors: 0 },
    { name: 'an envelope of many', data: b({ messages: [m, { bad: true }] }), n: 1, errors: 1 },
    { name: 'an invalid message', data: b({ ...m, readings: [] }), n: 0, errors: 1 },
    { name: 'not JSON', data: b('hello'), n: 0, errors: 1 },
    { name: 'not UTF-8', data: Buffer.from([0xff, 0xfe]), n: 0, errors: 1 },
  ])('$name', ({ data, n, errors }) => {
    const d = decodeRecord(data);
    expect(d.messages).toHaveLength(n);
    expect(d.errors).toHaveLength(errors);
  });
});
