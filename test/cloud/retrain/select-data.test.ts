import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectTrainingData } from '../../../cloud/retrain/select-data.ts';
import { holdoutCut, splitSegments } from '../../../cloud/retrain/training-data.ts';
import { SENSORS, STEP_MS, T0, writeArchive } from './fixture.ts';

describe('selectTrainingData on a real raw archive', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'el-retrain-select-'));
  const archiveDir = join(dataDir, 'archive');
  beforeAll(async () => {
    await writeArchive(dataDir, {
      devices: [
        { id: 'd1', site: 'north' },
        { id: 'd2', site: 'north' },
        { id: 'd3', site: 'south' },
      ],
      steps: 600,
      events: [{ deviceId: 'd1', step: 300 }],
    });
    return () => rmSync(dataDir, { recursive: true, force: true });
  });

  it('selects the range, the cohort of a site, and excludes the steps around an event', async () => {
    const sel = await selectTrainingData({
      archiveDir,
      sensors: SENSORS,
      from: T0 + 100 * STEP_MS,
      to: T0 + 500 * STEP_MS,
      cohort: { kind: 'site', id: 'north' },
      window: 8,
    });
    expect(sel.devices.map((d) => d.deviceId).sort()).toEqual(['d1', 'd2']);
    for (const d of sel.devices) {
      expect(d.ts.length).toBe(400);
      expect(d.ts[0]).toBe(T0 + 100 * STEP_MS);
      expect(d.ts.at(-1)).toBe(T0 + 499 * STEP_MS);
      expect(d.values.length).toBe(800);
    }
    expect(sel.events).toBe(1);
    // the guard is one window at the median step: 8 s either side of the event
    expect(sel.excluded.get('d1')).toEqual([{ from: T0 + 292 * STEP_MS, to: T0 + 308 * STEP_MS }]);
    expect(sel.excluded.has('d2')).toBe(false);

    const split = splitSegments(sel.devices, {
      sensors: 2,
      window: 8,
      cut: holdoutCut(sel.devices, 0.25),
      excluded: sel.excluded,
    });
    expect(split.excludedSteps).toBe(17);
    const d1 = split.train.filter((s) => s.deviceId === 'd1');
    // cut around the event: no training segment of d1 holds a step within the guard
    expect(d1.map((s) => [s.from, s.to])).toEqual([
      [T0 + 100 * STEP_MS, T0 + 291 * STEP_MS],
      [T0 + 309 * STEP_MS, T0 + 399 * STEP_MS],
    ]);
    // the hold-out is the last quarter in time, for each device
    expect(split.holdout.map((s) => [s.deviceId, s.from, s.rows])).toEqual([
      ['d1', T0 + 400 * STEP_MS, 100],
      ['d2', T0 + 400 * STEP_MS, 100],
    ]);
  });

  it('takes one device, labels, and refuses an empty cohort', async () => {
    const sel = await selectTrainingData({
      archiveDir,
      sensors: SENSORS,
      from: T0,
      to: T0 + 600 * STEP_MS,
      cohort: { kind: 'device', id: 'd3' },
      window: 8,
      labels: [{ from: T0 + 10 * STEP_MS, to: T0 + 19 * STEP_MS }],
    });
    expect(sel.devices.map((d) => d.deviceId)).toEqual(['d3']);
    expect(sel.excluded.get('d3')).toEqual([{ from: T0 + 10 * STEP_MS, to: T0 + 19 * STEP_MS }]);
    await expect(
      selectTrainingData({
        archiveDir,
        sensors: SENSORS,
        from: T0,
        to: T0 + 1000,
        cohort: { kind: 'site', id: 'nowhere' },
        window: 8,
      }),
    ).rejects.toMatchObject({ code: 'EL_ERR_RETRAIN_NO_DATA' });
    await expect(
      selectTrainingData({ archiveDir: join(dataDir, 'none'), sensors: SENSORS, from: T0, to: T0 + 1, window: 8 }),
    ).rejects.toMatchObject({ code: 'EL_ERR_RETRAIN_NO_DATA' });
  });
});
