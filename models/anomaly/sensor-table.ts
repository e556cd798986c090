/**
 * Multi-sensor tables from CSV: a time column (detected or given), N numeric sensor columns (by default every
 * column with a number among its first 100 values, except the time and label columns; or a chosen list), and
 * optionally a 0/1 label column (evaluation only). Bad data stops with an error naming the file, line and column.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { readCsvFile } from './csv-table.ts';

/** Header names taken as the time column when none is given (case-insensitive). */
export const TIME_COLUMN_NAMES = ['timestamp', 'time', 'datetime', 'date', 'ts', 'date_time', 'time_stamp'];
/** Columns never picked as sensors automatically: labels of public benchmarks. */
export const LABEL_COLUMN_NAMES = ['anomaly', 'changepoint', 'label', 'labels', 'is_anomaly', 'target', 'class'];

export interface SensorTable {
  file: string;
  sensors: string[];
  /** name of the time column, if any */
  timeColumn: string | undefined;
  /** raw time cell per row (empty array without a time column) */
  times: string[];
  /** row-major [rows, sensors.length] */
  values: Float64Array;
  rows: number;
  /** 1-based line in the file per row */
  lines: number[];
  /** 0/1 per row when a label column was asked for */
  labels: Uint8Array | undefined;
}

export interface LoadSensorTableOptions {
  /** sensor columns in this order; default: every numeric column except the time and label columns */
  sensors?: string[];
  /** time column name; false: none; default: detected by name or by a first column of dates */
  timeColumn?: string | false;
  /** CSV separator; default detected from the header */
  separator?: string;
  /** 0/1 label column to read (evaluation); must exist when given */
  labelColumn?: string;
}

export function loadSensorTable(file: string, opts: LoadSensorTableOptions = {}): SensorTable {
  const csv = readCsvFile(file, opts.separator === undefined ? {} : { separator: opts.separator });
  const { header, rows } = csv;
  const colIndex = (name: string, what: string): number => {
    const i = header.indexOf(name);
    if (i < 0) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${file}: ${what} column "${name}" not found (columns: ${header.join(', ')}; separator ${JSON.stringify(csv.separator)})`,
      );
    }
    return i;
  };

  let timeIdx = -1;
  if (typeof opts.timeColumn === 'string') timeIdx = colIndex(opts.timeColumn, 'time');
  else if (opts.timeColumn !== false) {
    timeIdx = header.findIndex((h) => TIME_COLUMN_NAMES.includes(h.toLowerCase()));
    if (timeIdx < 0 && rows.length > 0) {
      const first = rows[0]![0]!.trim();
      if (first !== '' && !isNumeric(first) && !Number.isNaN(Date.parse(first))) timeIdx = 0;
    }
  }
  const labelIdx = opts.labelColumn === undefined ? -1 : colIndex(opts.labelColumn, 'label');

  let sensors: string[];
  if (opts.sensors) {
    if (opts.sensors.length === 0) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'the sensor list is empty');
    const dup = opts.sensors.find((s, i) => opts.sensors!.indexOf(s) !== i);
    if (dup) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `sensor "${dup}" is listed twice`);
    sensors = opts.sensors;
    for (const s of sensors) {
      const i = colIndex(s, 'sensor');
      if (i === timeIdx)
        throw new EdgeloopError('EL_ERR_DATA_INVALID', `${file}: column "${s}" is the time column, not a sensor`);
    }
  } else {
    sensors = header.filter((h, i) => {
      if (i === timeIdx || i === labelIdx || LABEL_COLUMN_NAMES.includes(h.toLowerCase())) return false;
      // a column is a sensor when any of its first 100 values is a number; a stray "NaN" or "n/a" in a numeric
      // column then stops with an error naming it instead of silently dropping the sensor
      return rows.slice(0, 100).some((r) => isNumeric(r[i]!.trim()));
    });
    if (sensors.length === 0) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${file}: no numeric sensor columns found (columns: ${header.join(', ')}; separator ${JSON.stringify(csv.separator)})`,
      );
    }
  }
  const idx = sensors.map((s) => header.indexOf(s));
  const values = new Float64Array(rows.length * sensors.length);
  const labels = labelIdx >= 0 ? new Uint8Array(rows.length) : undefined;
  const times: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let j = 0; j < idx.length; j++) {
      const cell = row[idx[j]!]!.trim();
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `${file} line ${csv.lines[r]}, column "${sensors[j]}": ${cell === '' ? 'empty value' : JSON.stringify(cell)} is not a finite number`,
          {
            details: { file, line: csv.lines[r], column: sensors[j] },
          },
        );
      }
      values[r * idx.length + j] = v;
    }
    if (timeIdx >= 0) times.push(row[timeIdx]!);
    if (labels) {
      const cell = row[labelIdx]!.trim();
      const v = Number(cell);
      if (v !== 0 && v !== 1) {
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `${file} line ${csv.lines[r]}, column "${opts.labelColumn}": label ${JSON.stringify(cell)} is not 0 or 1`,
        );
      }
      labels[r] = v;
    }
  }
  return {
    file,
    sensors,
    timeColumn: timeIdx >= 0 ? header[timeIdx] : undefined,
    times,
    values,
    rows: rows.length,
    lines: csv.lines,
    labels,
  };
}

/**
 * The CSV files a data path names: the file itself, or every *.csv in the directory (with `recursive`, in its
 * subdirectories too), sorted by path relative to it (numerically where names are numbers: `valve1/2.csv` before
 * `valve1/10.csv`).
 */
export function listCsvFiles(path: string, opts: { recursive?: boolean } = {}): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_DATA_INVALID', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  if (!st.isDirectory()) return [path];
  const found: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(path, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory() && opts.recursive) walk(r);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.csv')) found.push(r);
    }
  };
  walk('');
  if (found.length === 0)
    throw new EdgeloopError(
      'EL_ERR_DATA_INVALID',
      `${path}: no .csv files in the directory${opts.recursive ? ' or its subdirectories' : ''}`,
    );
  return found.sort(compareNames).map((r) => join(path, r));
}

/**
 * One CSV file, or every *.csv in a directory (listCsvFiles). With several files and no sensor list, the sensors
 * of the first file are required in every other file.
 */
export function loadSensorTables(
  path: string,
  opts: LoadSensorTableOptions & { recursive?: boolean } = {},
): SensorTable[] {
  const { recursive, ...tableOpts } = opts;
  return loadSensorTableFiles(listCsvFiles(path, { recursive: recursive ?? false }), tableOpts);
}

/** Tables of the given files; the sensors of the first are required in the others when no sensor list is given. */
export function loadSensorTableFiles(files: readonly string[], opts: LoadSensorTableOptions = {}): SensorTable[] {
  if (files.length === 0) throw new EdgeloopError('EL_ERR_DATA_INVALID', 'no data files');
  const first = loadSensorTable(files[0]!, opts);
  const rest = files.slice(1).map((f) => loadSensorTable(f, { ...opts, sensors: first.sensors }));
  return [first, ...rest];
}

/** A copy of rows [start, end) of a table (for train/test splits). */
export function sliceTable(t: SensorTable, start: number, end: number): SensorTable {
  const s = t.sensors.length;
  return {
    ...t,
    times: t.times.slice(start, end),
    values: t.values.slice(start * s, end * s),
    rows: Math.max(0, Math.min(end, t.rows) - start),
    lines: t.lines.slice(start, end),
    labels: t.labels?.slice(start, end),
  };
}

export function compareNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function isNumeric(s: string): boolean {
  return s !== '' && Number.isFinite(Number(s));
}
