import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadSensorTable, loadSensorTables, sliceTable } from '../../../models/anomaly/sensor-table.ts';

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-table-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('loadSensorTable', () => {
  it('detects the SKAB layout: ";" separator, datetime column, label columns left out of the sensors', () => {
    const f = join(tmp(), 's.csv');
    writeFileSync(
      f,
      '\ufeffdatetime;Current;Volume Flow RateRMS;anomaly;changepoint\n2020-03-09 10:14:33;1.33;32.0;0.0;0.0\n2020-03-09 10:14:34;1.35;31.0;1.0;1.0\n',
    );
    const t = loadSensorTable(f, { labelColumn: 'anomaly' });
    expect(t.timeColumn).toBe('datetime');
    expect(t.sensors).toEqual(['Current', 'Volume Flow RateRMS']);
    expect(Array.from(t.values)).toEqual([1.33, 32, 1.35, 31]);
    expect(Array.from(t.labels!)).toEqual([0, 1]);
    expect(t.times).toEqual(['2020-03-09 10:14:33', '2020-03-09 10:14:34']);
    expect(t.lines).toEqual([2, 3]);
  });

  it('finds an unnamed date column, skips text columns, honours a chosen sensor order and no time column', () => {
    const f = join(tmp(), 'd.csv');
    writeFileSync(f, 'when,device,b,a\n2026-01-01T00:00:00Z,pump-1,1,2\n2026-01-01T00:00:01Z,pump-1,3,4\n');
    const t = loadSensorTable(f);
    expect(t.timeColumn).toBe('when');
    expect(t.sensors).toEqual(['b', 'a']);
    const chosen = loadSensorTable(f, { sensors: ['a', 'b'], timeColumn: false });
    expect(chosen.timeColumn).toBeUndefined();
    expect(Array.from(chosen.values)).toEqual([2, 1, 4, 3]);
    expect(() => loadSensorTable(f, { sensors: ['a', 'a'] })).toThrow('sensor "a" is listed twice');
    expect(() => loadSensorTable(f, { sensors: ['when'] })).toThrow('column "when" is the time column, not a sensor');
    expect(() => loadSensorTable(f, { labelColumn: 'anomaly' })).toThrow('label column "anomaly" not found');
    expect(() => loadSensorTable(f, { timeColumn: 'ts' })).toThrow('time column "ts" not found');
  });

  it('names bad labels and empty cells by line and column', () => {
    const d = tmp();
    writeFileSync(join(d, 'l.csv'), 'ts,x,anomaly\n1,1,0\n2,2,yes\n');
    expect(() => loadSensorTable(join(d, 'l.csv'), { labelColumn: 'anomaly', timeColumn: 'ts' })).toThrow(
      'l.csv line 3, column "anomaly": label "yes" is not 0 or 1',
    );
    writeFileSync(join(d, 'e.csv'), 'ts,x,y\n1,1,2\n2,,3\n');
    expect(() => loadSensorTable(join(d, 'e.csv'))).toThrow(
      'e.csv line 3, column "x": empty value is not a finite number',
    );
    writeFileSync(join(d, 't.csv'), 'ts,name\n1,a\n');
    expect(() => loadSensorTable(join(d, 't.csv'))).toThrow('no numeric sensor columns found');
  });

  it("reads a directory in natural order with the first file's sensors, and slices rows", () => {
    const d = tmp();
    mkdirSync(join(d, 'sub'));
    for (const n of ['10', '2', '1']) writeFileSync(join(d, `${n}.csv`), `ts,x,y\n0,${n},1\n1,${n},2\n`);
    writeFileSync(join(d, 'notes.txt'), 'not data');
    const ts = loadSensorTables(d);
    expect(ts.map((t) => t.file.split('/').pop())).toEqual(['1.csv', '2.csv', '10.csv']);
    const s = sliceTable(ts[2]!, 1, 5);
    expect(s.rows).toBe(1);
    expect(Array.from(s.values)).toEqual([10, 2]);
    writeFileSync(join(d, '3.csv'), 'ts,x\n0,1\n');
    expect(() => loadSensorTables(d)).toThrow('3.csv: sensor column "y" not found');
    expect(() => loadSensorTables(join(d, 'sub'))).toThrow('no .csv files in the directory');
  });
});
