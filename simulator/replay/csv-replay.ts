/**
 * Replay of real data sets as device telemetry. Reads the three public formats edgeloop is developed on:
 *   skab  `datetime;Accelerometer1RMS;...;anomaly;changepoint` (`;`-separated, labels 0/1 per row)
 *   nab   `timestamp,value` (labels from NAB's combined_windows.json when given)
 *   ai4i  `UDI,Product ID,Type,Air temperature [K],...,Machine failure,TWF,HDF,PWF,OSF,RNF` (UTF-8 BOM)
 * and turns each file into a ReplaySeries: sensor names, one row of values per sample, and labelled stretches that
 * become ground truth when the series is played. Parsing is pure (`parseReplayCsv(text)`); `loadReplay(path)`
 * reads a file or every .csv of a directory.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { MAINTENANCE } from '../faults/data-faults.ts';

export type ReplayFormat = 'skab' | 'nab' | 'ai4i';

export interface ReplayLabel {
  /** first and last row (inclusive) of a labelled stretch */
  fromRow: number;
  toRow: number;
  kind: string;
  action: string | null;
  failureMode: string | null;
}

export interface ReplaySeries {
  name: string;
  format: ReplayFormat;
  sensors: string[];
  /** row-major values, rows × sensors.length */
  values: Float64Array;
  rows: number;
  labels: ReplayLabel[];
}

export function sensorId(column: string): string {
  return column
    .replace(/\[.*?\]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

const AI4I_COLUMNS: Record<string, string> = {
  'Air temperature [K]': 'air_temp',
  'Process temperature [K]': 'process_temp',
  'Rotational speed [rpm]': 'rpm',
  'Torque [Nm]': 'torque',
  'Tool wear [min]': 'tool_wear',
};
const AI4I_MODES: Record<string, keyof typeof MAINTENANCE> = {
  TWF: 'tool-wear',
  HDF: 'heat-dissipation',
  PWF: 'power',
  OSF: 'overstrain',
  RNF: 'random-failure',
};

export function detectFormat(headerLine: string): ReplayFormat | undefined {
  const h = headerLine.replace(/^\uFEFF/, '').trim();
  if (h.includes(';') && /anomaly/i.test(h)) return 'skab';
  if (h.includes(';')) return 'skab';
  if (/^timestamp,value$/i.test(h)) return 'nab';
  if (h.includes('Machine failure') && h.includes('Torque')) return 'ai4i';
  return undefined;
}

export interface ParseOptions {
  name?: string;
  format?: ReplayFormat | undefined;
  /** NAB label windows for this file: [start, end] timestamps as in combined_windows.json */
  nabWindows?: Array<[string, string]> | undefined;
}

export function parseReplayCsv(text: string, opts: ParseOptions = {}): ReplaySeries {
  const name = opts.name ?? 'replay';
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim().length > 0);
  if (lines.length < 2) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `${name}: expected a header and at least one row`);
  const format = opts.format ?? detectFormat(lines[0]!);
  if (!format) {
    throw new EdgeloopError(
      'EL_ERR_SIM_REPLAY',
      `${name}: unknown CSV format (header "${lines[0]!.slice(0, 80)}"); expected SKAB (;-separated), NAB (timestamp,value) or AI4I`,
    );
  }
  const sep = format === 'skab' ? ';' : ',';
  const header = lines[0]!.split(sep).map((h) => h.trim());
  let valueCols: number[];
  let sensors: string[];
  let labelOf:
    | ((cells: string[]) => { kind: string; action: string | null; failureMode: string | null } | undefined)
    | undefined;
  if (format === 'skab') {
    const skip = new Set(['datetime', 'anomaly', 'changepoint']);
    valueCols = header.map((_, i) => i).filter((i) => !skip.has(header[i]!.toLowerCase()));
    sensors = valueCols.map((i) => sensorId(header[i]!));
    const ai = header.findIndex((h) => h.toLowerCase() === 'anomaly');
    if (ai >= 0)
      labelOf = (c) => (Number(c[ai]) >= 0.5 ? { kind: 'labelled', action: null, failureMode: null } : undefined);
  } else if (format === 'nab') {
    valueCols = [1];
    sensors = ['value'];
  } else {
    valueCols = [];
    sensors = [];
    for (const [col, id] of Object.entries(AI4I_COLUMNS)) {
      const i = header.indexOf(col);
      if (i < 0) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `${name}: AI4I column "${col}" is missing`);
      valueCols.push(i);
      sensors.push(id);
    }
    const modeCols = Object.keys(AI4I_MODES)
      .map((m) => [m, header.indexOf(m)] as const)
      .filter(([, i]) => i >= 0);
    const mf = header.indexOf('Machine failure');
    labelOf = (c) => {
      const hit = modeCols.find(([, i]) => c[i] === '1');
      if (hit) {
        const kind = AI4I_MODES[hit[0]]!;
        return { kind, action: MAINTENANCE[kind].action, failureMode: hit[0] };
      }
      if (mf >= 0 && c[mf] === '1') return { kind: 'labelled', action: 'inspect', failureMode: null };
      return undefined;
    };
  }
  if (valueCols.length === 0) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `${name}: no sensor columns in the header`);
  const rowsOut: number[] = [];
  const labels: ReplayLabel[] = [];
  const tsCol = format === 'ai4i' ? -1 : 0;
  const timestamps: string[] = [];
  let open: ReplayLabel | undefined;
  let row = 0;
  for (let li = 1; li < lines.length; li++) {
    const cells = lines[li]!.split(sep);
    const vals = valueCols.map((i) => Number(cells[i]));
    if (vals.some((v) => !Number.isFinite(v))) continue; // skip malformed rows (NaN, blanks)
    rowsOut.push(...vals);
    if (tsCol >= 0) timestamps.push((cells[tsCol] ?? '').trim());
    const lab = labelOf?.(cells);
    if (lab && open && open.kind === lab.kind) open.toRow = row;
    else {
      if (open) labels.push(open);
      open = lab ? { fromRow: row, toRow: row, ...lab } : undefined;
    }
    row++;
  }
  if (open) labels.push(open);
  if (row === 0) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `${name}: no numeric rows`);
  if (format === 'nab' && opts.nabWindows) {
    for (const [a, b] of opts.nabWindows) {
      const from = timestamps.findIndex((t) => t >= a.slice(0, 19));
      let to = -1;
      for (let i = timestamps.length - 1; i >= 0; i--)
        if (timestamps[i]! <= b.slice(0, 19)) {
          to = i;
          break;
        }
      if (from >= 0 && to >= from)
        labels.push({ fromRow: from, toRow: to, kind: 'labelled', action: null, failureMode: null });
    }
  }
  return { name, format, sensors, values: Float64Array.from(rowsOut), rows: row, labels };
}

export interface LoadReplayOptions {
  format?: ReplayFormat | undefined;
  /** NAB: path of labels/combined_windows.json; looked up next to the data by default */
  nabLabels?: string | undefined;
}

/** Load one CSV file, or every .csv file of a directory (sorted by name). */
export function loadReplay(path: string, opts: LoadReplayOptions = {}): ReplaySeries[] {
  let files: string[];
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => f.endsWith('.csv'))
          .sort(naturalCompare)
          .map((f) => join(path, f))
      : [path];
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_SIM_REPLAY', `cannot read replay path ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (files.length === 0) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `no .csv files in ${path}`);
  return files.map((f) => {
    const text = readFileSync(f, 'utf8');
    const firstLine = text.slice(0, text.indexOf('\n') >>> 0);
    const format = opts.format ?? detectFormat(firstLine);
    return parseReplayCsv(text, {
      name: basename(f),
      format,
      nabWindows: format === 'nab' ? nabWindowsFor(f, opts.nabLabels) : undefined,
    });
  });
}

function nabWindowsFor(file: string, labelsPath: string | undefined): Array<[string, string]> | undefined {
  const candidates = labelsPath ? [labelsPath] : [join(dirname(file), '..', '..', 'labels', 'combined_windows.json')];
  for (const c of candidates) {
    try {
      const all = JSON.parse(readFileSync(c, 'utf8')) as Record<string, Array<[string, string]>>;
      const key = `${basename(dirname(file))}/${basename(file)}`;
      if (all[key]) return all[key];
    } catch {
      if (labelsPath) throw new EdgeloopError('EL_ERR_SIM_REPLAY', `cannot read NAB labels ${labelsPath}`);
    }
  }
  return undefined;
}

function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
