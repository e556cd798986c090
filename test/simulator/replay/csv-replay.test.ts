import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { detectFormat, loadReplay, parseReplayCsv } from '../../../simulator/replay/csv-replay.ts';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'simulator');

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'el-replay-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('replay of real data sets', () => {
  it('reads AI4I rows (BOM, CRLF) with their failure modes as labelled ground truth', () => {
    const [s] = loadReplay(join(fixtures, 'ai4i-rows.csv'));
    expect(s!.format).toBe('ai4i');
    expect(s!.sensors).toEqual(['air_temp', 'process_temp', 'rpm', 'torque', 'tool_wear']);
    expect(s!.rows).toBe(25);
    expect(Array.from(s!.values.subarray(0, 5))).toEqual([298.2, 308.7, 1408, 46.3, 3]);
    const kinds = s!.labels.map((l) => [l.kind, l.failureMode, l.action]);
    expect(kinds).toContainEqual(['tool-wear', 'TWF', 'replace tool']);
    expect(kinds).toContainEqual(['heat-dissipation', 'HDF', 'restore cooling']);
    expect(kinds).toContainEqual(['power', 'PWF', 'correct the speed/torque set-point']);
    expect(s!.labels[0]).toMatchObject({ fromRow: 10, toRow: 10 });
  });

  it('reads NAB timestamp,value and its label windows', () => {
    const d = tmp();
    mkdirSync(join(d, 'data', 'realKnownCause'), { recursive: true });
    mkdirSync(join(d, 'labels'));
    const csv = join(d, 'data', 'realKnownCause', 'ambient_temperature_system_failure.csv');
    writeFileSync(csv, readFixture('nab-rows.csv'));
    writeFileSync(
      join(d, 'labels', 'combined_windows.json'),
      JSON.stringify({
        'realKnownCause/ambient_temperature_system_failure.csv': [
          ['2013-07-04 05:00:00.000000', '2013-07-04 08:00:00.000000'],
        ],
      }),
    );
    const [s] = loadReplay(csv);
    expect(s!.format).toBe('nab');
    expect(s!.sensors).toEqual(['value']);
    expect(s!.rows).toBe(40);
    expect(s!.values[0]).toBeCloseTo(69.88083514);
    expect(s!.labels).toEqual([{ fromRow: 5, toRow: 8, kind: 'labelled', action: null, failureMode: null }]);
  });

  it('reads SKAB-format files (;-separated, anomaly column) and every .csv of a directory', () => {
    const d = tmp();
    const head = 'datetime;Accelerometer1RMS;Current;Volume Flow RateRMS;anomaly;changepoint';
    const rows = Array.from(
      { length: 12 },
      (_, i) =>
        `2020-03-09 10:14:${String(i).padStart(2, '0')};0.02${i};1.3;32.0;${i >= 4 && i <= 6 ? '1.0' : '0.0'};0.0`,
    );
    writeFileSync(join(d, '2.csv'), [head, ...rows].join('\n'));
    writeFileSync(join(d, '10.csv'), [head, ...rows.slice(0, 3)].join('\n'));
    const all = loadReplay(d);
    expect(all.map((s) => s.name)).toEqual(['2.csv', '10.csv']);
    expect(all[0]!.format).toBe('skab');
    expect(all[0]!.sensors).toEqual(['accelerometer1rms', 'current', 'volume_flow_raterms']);
    expect(all[0]!.labels).toEqual([{ fromRow: 4, toRow: 6, kind: 'labelled', action: null, failureMode: null }]);
  });

  it('rejects unknown formats and empty files with a clear reason', () => {
    expect(detectFormat('a,b,c')).toBeUndefined();
    expect(() => parseReplayCsv('a,b,c\n1,2,3', { name: 'x.csv' })).toThrow(/x\.csv: unknown CSV format/);
    expect(() => parseReplayCsv('timestamp,value\n', { name: 'y.csv' })).toThrow(/header and at least one row/);
    expect(() => parseReplayCsv('timestamp,value\nfoo,bar\n', { name: 'z.csv' })).toThrow(/no numeric rows/);
    expect(() => loadReplay('/nonexistent/path.csv')).toThrow(/cannot read replay path/);
  });
});

import { readFileSync } from 'node:fs';
function readFixture(name: string): string {
  return readFileSync(join(fixtures, name), 'utf8');
}
