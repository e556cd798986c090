import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { evalNabCommand } from '../../../models/nab/commands.ts';
import {
  dominantPeriod,
  edgeloopDetector,
  erfc,
  runDetector,
  windowedGaussianDetector,
} from '../../../models/nab/detectors.ts';
import { evaluateNab } from '../../../models/nab/evaluate-nab.ts';
import {
  parseLabels,
  parseNabCsv,
  parseNabTimestamp,
  parseProfiles,
  readSeries,
} from '../../../models/nab/nab-corpus.ts';
import {
  calcScoreByThreshold,
  calcSweepScore,
  probationaryLength,
  scoreAtThreshold,
} from '../../../models/nab/scorer.ts';
import { memoryCliContext } from '../../helpers/cli-context.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'nab');
const DATA = join(FIXTURE, 'data');
const FILES = ['realKnownCause/rogue_agent_key_hold.csv', 'realTraffic/speed_7578.csv'];

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-nab-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ctx = memoryCliContext;

describe('NAB corpus files', () => {
  it('parses timestamps with and without microseconds as UTC', () => {
    expect(parseNabTimestamp('2014-04-10 07:15:00.000000')).toBe(Date.UTC(2014, 3, 10, 7, 15));
    expect(parseNabTimestamp('2014-04-10 07:15:00')).toBe(Date.UTC(2014, 3, 10, 7, 15));
    expect(parseNabTimestamp('10/04/2014')).toBeNaN();
  });

  it('reads the fixture labels, profiles and data', () => {
    const labels = parseLabels(readFileSync(join(FIXTURE, 'labels', 'combined_windows.json'), 'utf8'));
    expect([...labels.keys()].sort()).toEqual(FILES);
    expect(labels.get('realTraffic/speed_7578.csv')).toHaveLength(4);
    const profiles = parseProfiles(readFileSync(join(FIXTURE, 'config', 'profiles.json'), 'utf8'));
    expect(profiles.get('standard')).toEqual({ tpWeight: 1, fpWeight: 0.11, fnWeight: 1, tnWeight: 1 });
    expect(profiles.get('reward_low_FN_rate')?.fnWeight).toBe(2);
    const s = readSeries(DATA, 'realTraffic/speed_7578.csv');
    const rows = readFileSync(join(DATA, 'realTraffic/speed_7578.csv'), 'utf8').trimEnd().split('\n').length - 1;
    expect(s.values.length).toBe(rows);
    expect(rows).toBeGreaterThan(1000);
    expect(s.stamps[0]).toBe('2015-09-08 11:39:00');
  });

  it('rejects malformed input with the file and line', () => {
    expect(() => parseNabCsv('timestamp,value\n2015-01-01 00:00:00,abc\n', 'x.csv')).toThrow(
      /x\.csv line 2: value "abc" is not a finite number/,
    );
    expect(() => parseNabCsv('time,value\n', 'y.csv')).toThrow(/header must have "timestamp" and "value"/);
    expect(() => parseLabels('{"a/b.csv": [["2015-01-02 00:00:00", "2015-01-01 00:00:00"]]}', 'l.json')).toThrow(
      /window 0 of "a\/b\.csv" must be/,
    );
    expect(() => parseLabels('nope', 'l.json')).toThrow(expect.objectContaining({ code: 'EL_ERR_NAB_LABELS' }));
    expect(() => parseProfiles('{"standard": {"CostMatrix": {"tpWeight": 1}}}', 'p.json')).toThrow(
      /profile "standard" needs a numeric CostMatrix\.fpWeight/,
    );
  });
});

describe('detectors', () => {
  it("the edgeloop detector is online: a row's score never depends on later rows", () => {
    const s = readSeries(DATA, 'realTraffic/speed_7578.csv');
    const full = runDetector(edgeloopDetector(), s.timestamps, s.values);
    // Changing the future must not change the past: perturb the second half and compare the first half.
    const half = Math.floor(s.values.length / 2);
    const changed = Float64Array.from(s.values, (v, i) => (i >= half ? v * 3 + 100 : v));
    const again = runDetector(edgeloopDetector(), s.timestamps, changed);
    expect(Array.from(again.subarray(0, half))).toEqual(Array.from(full.subarray(0, half)));
    // Silent during the probationary period, scores in [0, 1], and it does fire.
    const p = probationaryLength(s.values.length);
    expect(Array.from(full.subarray(0, p)).every((x) => x === 0)).toBe(true);
    expect(full.every((x) => x >= 0 && x <= 1)).toBe(true);
    expect(Math.max(...full)).toBeGreaterThan(0.55);
  });

  it('raises one alarm for a level shift, then stays quiet for suppressRows', () => {
    const n = 1000;
    const values = Array.from({ length: n }, (_, i) => Math.sin(i / 3) + (i >= 600 ? 25 : 0));
    const ts = values.map((_, i) => i * 60_000);
    const scores = runDetector(edgeloopDetector({ suppressRows: 100 }), ts, values);
    const alarms = [...scores].map((s, i) => [s, i] as const).filter(([s]) => s >= 0.55);
    expect(alarms[0]![1]).toBe(600);
    expect(scores.subarray(601, 701).every((x) => x === 0)).toBe(true);
  });

  it('rejects unknown or bad detector options', () => {
    expect(() => edgeloopDetector({ alarm: 0.5 } as never)).toThrow(/unknown edgeloop detector option "alarm"/);
    expect(() => edgeloopDetector({ historyRows: 10.5 })).toThrow(/historyRows must be a positive integer/);
  });

  it('finds the period of a seasonal series', () => {
    const x = Array.from(
      { length: 600 },
      (_, i) => Math.sin((2 * Math.PI * i) / 48) + 0.3 * Math.sin((2 * Math.PI * i) / 12),
    );
    expect(dominantPeriod(x, 300).lag).toBe(48);
  });

  it("windowed Gaussian reproduces NAB's tail probability", () => {
    expect(erfc(0)).toBe(1);
    // Python math.erfc values
    expect(erfc(1)).toBeCloseTo(0.15729920705028513, 15);
    expect(erfc(2.5) / 0.0004069520174449589).toBeCloseTo(1, 13);
    expect(erfc(6) / 2.1519736712498916e-17).toBeCloseTo(1, 13);
    expect(erfc(-1)).toBeCloseTo(2 - 0.15729920705028513, 15);
    const d = windowedGaussianDetector()({ rows: 4 });
    expect(d.handleRecord(0, 1)).toBe(0); // nothing learned yet
    d.handleRecord(1, 3); // window [1, 3]: mean 2, std 1
    // value 4 is 2 std above: 1 - Q(2) = 1 - 0.02275
    expect(d.handleRecord(2, 4)).toBeCloseTo(1 - 0.0227501319, 6);
  });
});

describe("reproduces NAB's published results", () => {
  it("windowedGaussian on rogue_agent_key_hold at threshold 1.0: NAB's results/windowedGaussian row", () => {
    // numenta/NAB results/windowedGaussian/windowedGaussian_standard_scores.csv:
    // realKnownCause/rogue_agent_key_hold.csv,1.0,-2.44,0,1406,4,190,1882
    const name = 'realKnownCause/rogue_agent_key_hold.csv';
    const s = readSeries(DATA, name);
    const labels = parseLabels(readFileSync(join(FIXTURE, 'labels', 'combined_windows.json'), 'utf8'));
    const cost = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 };
    const scores = runDetector(windowedGaussianDetector(), s.timestamps, s.values);
    const rows = calcScoreByThreshold(calcSweepScore(s.timestamps, scores, labels.get(name)!, name, cost), cost);
    const r = scoreAtThreshold(rows, 1.0);
    expect(r.score).toBeCloseTo(-2.44, 12);
    expect([r.tp, r.tn, r.fp, r.fn]).toEqual([0, 1406, 4, 190]);
  });
});

describe('evaluateNab and the CLI', () => {
  it("writes NAB's results layout and scores the fixture", () => {
    const out = tmp();
    const r = evaluateNab({ dataDir: DATA, resultsDir: out, detectorName: 'edgeloop', detector: edgeloopDetector() });
    expect(r.files).toEqual(FILES);
    for (const f of FILES) {
      const [cat, name] = f.split('/');
      const path = join(out, 'edgeloop', cat!, `edgeloop_${name}`);
      const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
      const data = readFileSync(join(DATA, f), 'utf8').trimEnd().split('\n');
      expect(lines[0]).toBe('timestamp,value,anomaly_score,label');
      expect(lines.length).toBe(data.length);
      // same rows, same order, timestamp and value copied
      for (let i = 1; i < data.length; i += 97)
        expect(lines[i]!.split(',').slice(0, 2).join(',')).toBe(data[i]!.trim());
      const labelled = lines.slice(1).filter((l) => l.endsWith(',1')).length;
      expect(labelled).toBeGreaterThan(0);
    }
    expect(existsSync(join(out, 'edgeloop', 'edgeloop_standard_scores.csv'))).toBe(true);
    const table = readFileSync(join(out, 'edgeloop', 'edgeloop_standard_scores.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(table[0]).toBe('Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count');
    expect(table.at(-1)).toMatch(/^Totals,/);
    expect(Object.keys(r.normalized).sort()).toEqual(['reward_low_FN_rate', 'reward_low_FP_rate', 'standard']);
    for (const p of r.profiles) {
      expect(p.windows).toBe(6);
      expect(p.normalized).toBeGreaterThan(0); // better than never alarming
      expect(p.normalized).toBeLessThanOrEqual(100);
    }
    const final = JSON.parse(readFileSync(join(out, 'final_results.json'), 'utf8')) as Record<
      string,
      Record<string, number>
    >;
    expect(final.edgeloop!.standard).toBeCloseTo(r.normalized.standard!, 12);
  });

  it('CLI happy path prints the three normalised scores and says it is a subset', async () => {
    const dir = tmp();
    const c = ctx(dir);
    expect(await evalNabCommand(['--data-dir', DATA, '--out', 'res', '--quiet'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/on 2 data file\(s\) with 6 label window\(s\)/);
    expect(c.out()).toMatch(/subset of NAB's 58 files/);
    for (const p of ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'])
      expect(c.out()).toMatch(new RegExp(`${p} +-?\\d+\\.\\d\\d`));
    expect(existsSync(join(dir, 'res', 'edgeloop', 'realTraffic', 'edgeloop_speed_7578.csv'))).toBe(true);
    const j = ctx(dir);
    expect(
      await evalNabCommand(['--data-dir', DATA, '--out', 'res', '--detector', 'null', '--json', '--quiet'], j.ctx),
    ).toBe(0);
    expect((JSON.parse(j.out()) as { normalized: Record<string, number> }).normalized).toEqual({
      standard: 0,
      reward_low_FP_rate: 0,
      reward_low_FN_rate: 0,
    });
    const final = JSON.parse(readFileSync(join(dir, 'res', 'final_results.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(final).sort()).toEqual(['edgeloop', 'null']);
  });

  it('CLI bad input: missing labels file, unknown data file, unknown detector, missing flags', async () => {
    const dir = tmp();
    const c = ctx(dir);
    await expect(evalNabCommand(['--data-dir', DATA, '--out', 'r', '--labels', 'missing.json'], c.ctx)).rejects.toThrow(
      expect.objectContaining({
        code: 'EL_ERR_NAB_LABELS',
        message: expect.stringMatching(/cannot read labels file .*missing\.json/),
      }),
    );
    await expect(
      evalNabCommand(['--data-dir', DATA, '--out', 'r', '--file', 'realTraffic/nope.csv'], c.ctx),
    ).rejects.toThrow(
      expect.objectContaining({
        code: 'EL_ERR_NAB_DATA_FILE',
        message: expect.stringMatching(/"realTraffic\/nope\.csv" has no entry/),
      }),
    );
    // a data file that the labels do not know
    const data = join(dir, 'nab', 'data');
    cpSync(FIXTURE, join(dir, 'nab'), { recursive: true });
    writeFileSync(join(data, 'realTraffic', 'extra.csv'), 'timestamp,value\n2015-01-01 00:00:00,1\n');
    await expect(evalNabCommand(['--data-dir', data, '--out', 'r'], c.ctx)).rejects.toThrow(
      /without an entry in .*: realTraffic\/extra\.csv/,
    );
    await expect(evalNabCommand(['--data-dir', DATA, '--out', 'r', '--detector', 'htm'], c.ctx)).rejects.toThrow(
      expect.objectContaining({
        code: 'EL_ERR_NAB_DETECTOR',
        message: expect.stringMatching(/unknown detector "htm" \(known: edgeloop, robustZ, windowedGaussian, null\)/),
      }),
    );
    await expect(evalNabCommand(['--out', 'r'], c.ctx)).rejects.toThrow(/--data-dir DIR is required/);
    await expect(evalNabCommand(['--data-dir', join(dir, 'nothing'), '--out', 'r'], c.ctx)).rejects.toThrow(
      /is not a directory/,
    );
  });
});
