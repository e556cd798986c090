/**
 * The drift part end to end: a System with driftPart over a real SQLite file and a prom-client Registry, fed the
 * way the wiring feeds it (feature records, status and events messages), checked with an injected clock.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { System } from '../../../lib/parts.ts';
import { Prng } from '../../../lib/prng.ts';
import { driftPart, type DriftPartConfigInput } from '../../../cloud/drift/drift-part.ts';
import type { DriftEvent } from '../../../cloud/drift/drift-store.ts';
import { buildReference, withManifestBaseline } from '../../../cloud/drift/reference.ts';
import { SqliteDriftStore } from '../../../cloud/drift/sqlite-drift-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(extra: Partial<DriftPartConfigInput> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-drift-'));
  dirs.push(dir);
  const prng = new Prng(11);
  const ref = withManifestBaseline(
    buildReference(
      {
        temperature: Array.from({ length: 2000 }, () => 20 + 2 * prng.normal()),
        vibration: Array.from({ length: 2000 }, () => prng.normal()),
      },
      { output: { scores: Array.from({ length: 2000 }, () => Math.abs(prng.normal())) } },
    ),
    { name: 'anomaly', version: '1.0.0', metrics: { trainingFlagRate: 0.01 } },
  );
  const refFile = join(dir, 'reference.json');
  writeFileSync(refFile, JSON.stringify(ref));
  const config: DriftPartConfigInput = {
    dbPath: join(dir, 'drift.db'),
    references: [refFile],
    policy: { minSamples: 100, detectK: 2, window: 3, cooldownMs: 0 },
    ...extra,
  };
  return { dir, prng, config };
}

function start(config: DriftPartConfigInput, clock: ManualClock, registry: Registry, events: DriftEvent[]) {
  const system = new System({
    parts: [driftPart],
    context: {
      config: { drift: config },
      metrics: registry,
      clock,
      deviceInfo: (id: string) => ({ site: id.startsWith('a') ? 'plant-a' : 'plant-b' }),
      onDriftEvent: (e: DriftEvent) => events.push(e),
    },
  });
  onTestFinished(() => system.close());
  return system;
}

describe('driftPart', () => {
  it('detects input drift on one device, keeps the evidence in SQLite, exports gauges, and clears with hysteresis', async () => {
    const { prng, config } = setup();
    const clock = new ManualClock(1_000_000);
    const registry = new Registry();
    const events: DriftEvent[] = [];
    const system = start(config, clock, registry, events);
    await system.start();
    const drift = system.get(driftPart);
    const status = {
      v: 1 as const,
      type: 'status' as const,
      seq: 1,
      ts: 0,
      online: true,
      models: [{ name: 'anomaly', version: '1.0.0' }],
    };
    for (const id of ['a1', 'a2', 'b1']) drift.observeStatus({ ...status, deviceId: id });
    const feed = (shift: Record<string, number>) => {
      for (let i = 0; i < 100; i++) {
        for (const id of ['a1', 'a2', 'b1']) {
          drift.observeFeatures({
            deviceId: id,
            features: { temperature: 20 + 2 * prng.normal() + (shift[id] ?? 0) * 2, vibration: prng.normal() },
          });
        }
      }
    };
    // two checks with device a2's temperature shifted by 1 σ: detected on the second (2 of 3)
    for (let k = 0; k < 2; k++) {
      feed({ a2: 1 });
      clock.advance(60_000); // the part's own timer runs the check
      await drift.check();
    }
    const detected = events.filter((e) => e.type === 'drift.detected');
    expect(detected.map((e) => `${e.subject.kind}:${e.subject.id}:${e.monitor}`)).toContain('device:a2:input');
    expect(detected.some((e) => e.subject.id === 'a1' || e.subject.id === 'b1')).toBe(false);
    const e = detected.find((x) => x.subject.id === 'a2')!;
    const temp = e.evidence.tests.find((t) => t.feature === 'temperature')!;
    expect(temp).toMatchObject({ statistic: 'wasserstein', n: 100, nRef: 2000, drifted: true });
    expect(temp.value).toBeGreaterThan(temp.threshold);
    expect(temp.histogram!.reference.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(e.evidence.model).toEqual({ name: 'anomaly', version: '1.0.0' });

    const st = await drift.status({ device: 'a2' });
    expect(st.subjects.find((s) => s.subject.kind === 'device')!.monitors.input!.state).toBe('drift');
    // the device's cohorts come with it: its site and its model version, each checked on the pooled values
    expect(st.subjects.map((s) => `${s.subject.kind}:${s.subject.id}`)).toEqual([
      'device:a2',
      'model:anomaly@1.0.0',
      'site:plant-a',
    ]);
    expect(st.subjects.find((s) => s.subject.kind === 'site')!.monitors.input!.last.n).toBe(200);
    expect(st.events[0]).toMatchObject({ type: 'drift.detected', subject: { kind: 'device', id: 'a2' } });
    const text = await registry.metrics();
    expect(text).toContain('edgeloop_drift_active{kind="device",subject="a2",monitor="input"} 1');
    expect(text).toMatch(/edgeloop_drift_events_total\{type="drift.detected",monitor="input"\} [1-9]/);

    // back to normal: a full clean window (3 checks) clears it
    for (let k = 0; k < 3; k++) {
      feed({});
      await drift.check();
    }
    expect(
      events.filter((x) => x.type === 'drift.cleared' && x.subject.id === 'a2' && x.monitor === 'input'),
    ).toHaveLength(1);
    expect((await drift.status()).drifting).toBe(0);
    await system.close();
    expect(clock.pendingTimers).toBe(0);
    expect(await registry.metrics()).not.toContain('edgeloop_drift');
    await expect(drift.check()).rejects.toMatchObject({ code: 'EL_ERR_CLOSED' });

    // a restarted process takes the monitors' states from the store
    const again = start(config, clock, new Registry(), []);
    await again.start();
    const restored = await again.get(driftPart).status({ device: 'a2' });
    expect(restored.subjects[0]!.monitors.input).toMatchObject({ state: 'ok', subject: { kind: 'device', id: 'a2' } });
    expect(restored.events.map((x) => x.type)).toEqual(['drift.cleared', 'drift.detected']);
    await again.close();

    // the store kept both events and the state, for the CLI and a restarted process
    const store = new SqliteDriftStore({ path: config.dbPath! });
    await store.start();
    onTestFinished(() => store.close());
    const stored = await store.events({ subject: { kind: 'device', id: 'a2' } });
    expect(stored.map((x) => x.type)).toEqual(['drift.cleared', 'drift.detected']);
    expect(stored[1]!.evidence.tests.find((t) => t.feature === 'temperature')!.drifted).toBe(true);
    expect(
      (await store.records({ subject: { kind: 'device', id: 'a2' } })).map((r) => `${r.monitor}:${r.state}`),
    ).toContain('input:ok');
  });

  it('data quality (stuck sensor, missing values) and output drift (anomaly rate), per device', async () => {
    const { prng, config } = setup();
    const clock = new ManualClock(0);
    const events: DriftEvent[] = [];
    const system = start(config, clock, new Registry(), events);
    await system.start();
    const drift = system.get(driftPart);
    let windows = 0;
    let anomalies = 0;
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 100; i++) {
        drift.observeFeatures({ deviceId: 'stuck', features: { temperature: 21.5, vibration: prng.normal() } });
        drift.observeFeatures({
          deviceId: 'holes',
          features: { temperature: i % 3 === 0 ? null : 20 + 2 * prng.normal(), vibration: prng.normal() },
        });
      }
      windows += 500;
      anomalies += 50; // 10 % against a validation rate of 1 %
      drift.observeStatus({
        v: 1,
        type: 'status',
        deviceId: 'noisy',
        seq: k,
        ts: 0,
        online: true,
        inference: { windows, anomalies, anomalyRate: 0.1, p50Ms: 1, p95Ms: 1, p99Ms: 1 },
      });
      drift.observeStatus({
        v: 1,
        type: 'status',
        deviceId: 'noisy',
        seq: k,
        ts: 0,
        online: true,
        inference: { windows, anomalies, anomalyRate: 0.1, p50Ms: 1, p95Ms: 1, p99Ms: 1 },
      });
      clock.advance(60_000);
      await drift.check();
    }
    const got = events.filter((e) => e.type === 'drift.detected').map((e) => `${e.subject.id}:${e.monitor}`);
    expect(got).toEqual(expect.arrayContaining(['stuck:quality', 'holes:quality']));
    const stuck = events.find((e) => e.subject.id === 'stuck' && e.monitor === 'quality')!;
    expect(stuck.evidence.tests.filter((t) => t.drifted).map((t) => t.feature)).toEqual(['temperature:stuck']);
    const holes = events.find((e) => e.subject.id === 'holes' && e.monitor === 'quality')!;
    expect(holes.evidence.tests.find((t) => t.feature === 'temperature:missing')).toMatchObject({
      statistic: 'binomial',
      drifted: true,
    });
    // the first status only sets the counters' origin; the second brings 500 windows with 50 anomalies
    await drift.check();
    const status = await drift.status({ device: 'noisy' });
    const out = status.subjects[0]!.monitors.output!;
    expect(out.last.tests[0]).toMatchObject({
      feature: 'anomaly_rate',
      statistic: 'binomial',
      value: 0.1,
      threshold: 0.01,
      drifted: true,
    });
  });

  it('a device that goes quiet: the record rate against its learned baseline, checked once its window is old', async () => {
    const { prng, config } = setup({ maxWindowMs: 120_000 });
    const clock = new ManualClock(0);
    const events: DriftEvent[] = [];
    const system = start(config, clock, new Registry(), events);
    await system.start();
    const drift = system.get(driftPart);
    // three full windows of 100 records a minute set the baseline
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 100; i++)
        drift.observeFeatures({
          deviceId: 'quiet',
          features: { temperature: 20 + 2 * prng.normal(), vibration: prng.normal() },
        });
      clock.advance(60_000);
      await drift.check();
    }
    expect(events).toEqual([]);
    // then 5 records in two minutes, twice: each old window is checked although short, and the second detects
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 5; i++)
        drift.observeFeatures({
          deviceId: 'quiet',
          features: { temperature: 20 + 2 * prng.normal(), vibration: prng.normal() },
        });
      clock.advance(120_000);
      await drift.check();
    }
    expect(events.map((e) => `${e.type}:${e.subject.id}:${e.monitor}`)).toEqual(['drift.detected:quiet:quality']);
    const rate = events[0]!.evidence.tests.find((t) => t.feature === 'record_rate')!;
    expect(rate).toMatchObject({ statistic: 'poisson', n: 200, value: 2.5, threshold: 100, drifted: true });
  });

  it('refuses a bad configuration or reference before starting, naming the field', async () => {
    const { dir, config } = setup();
    const bad = new System({ parts: [driftPart], context: { config: { drift: { ...config, alpha: 2 } } } });
    await expect(bad.start()).rejects.toMatchObject({
      code: 'EL_ERR_DRIFT_CONFIG',
      message: expect.stringContaining('drift.alpha'),
    });
    const badRef = join(dir, 'bad.json');
    writeFileSync(
      badRef,
      JSON.stringify({
        schema: 'edgeloop.drift-reference/1',
        createdAt: 'x',
        features: { t: { count: 2, values: [2, 1], mean: 1.5, std: 0.5, missingRate: 0 } },
      }),
    );
    const s2 = new System({ parts: [driftPart], context: { config: { drift: { ...config, references: [badRef] } } } });
    await expect(s2.start()).rejects.toMatchObject({
      message: expect.stringContaining('features.t.values must be sorted ascending'),
    });
    // no drift section: the part does not apply
    expect(new System({ parts: [driftPart], context: { config: {} } }).names).toEqual([]);
  });
});
