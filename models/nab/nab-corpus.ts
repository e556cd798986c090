/**
 * Reading the NAB corpus (data files, label windows, profiles) and writing results in NAB's layout. Parsing is pure;
 * the few functions that touch the file system say so.
 *
 * Layout read: DATA_DIR/<category>/<file>.csv with `timestamp,value`; labels `combined_windows.json`
 * ({"<category>/<file>.csv": [["start", "end"], ...]}); profiles `profiles.json` ({name: {CostMatrix: {...}}}).
 * Layout written: RESULTS_DIR/<detector>/<category>/<detector>_<file>.csv with `timestamp,value,anomaly_score,label`
 * (same rows, same order, timestamp copied from the data), plus NAB's per-profile score tables
 * RESULTS_DIR/<detector>/<detector>_<profile>_scores.csv and RESULTS_DIR/final_results.json.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { CostMatrix, ProfileResult } from './scorer.ts';

export interface NabSeries {
  /** relative path, e.g. realKnownCause/nyc_taxi.csv */
  name: string;
  /** timestamp text as in the file (copied to results) */
  stamps: string[];
  /** value text as in the file (copied to results) */
  valueText: string[];
  /** epoch ms (UTC) */
  timestamps: Float64Array;
  values: Float64Array;
}

export type NabWindows = Map<string, Array<[number, number]>>;

const TS = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

/** NAB timestamps ("2014-04-10 07:15:00" or with ".000000") as UTC epoch ms; NaN when malformed. */
export function parseNabTimestamp(text: string): number {
  const m = TS.exec(text.trim());
  if (!m) return NaN;
  const ms = m[7] ? Number(m[7].padEnd(6, '0').slice(0, 3)) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), ms);
}

export function parseNabCsv(text: string, name: string): NabSeries {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const iTs = header.indexOf('timestamp');
  const iVal = header.indexOf('value');
  if (iTs < 0 || iVal < 0) {
    throw new EdgeloopError(
      'EL_ERR_NAB_DATA_FILE',
      `${name}: header must have "timestamp" and "value" columns (has "${lines[0] ?? ''}")`,
    );
  }
  const n = lines.length - 1;
  if (n < 1) throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `${name}: no data rows`);
  const s: NabSeries = {
    name,
    stamps: new Array<string>(n),
    valueText: new Array<string>(n),
    timestamps: new Float64Array(n),
    values: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const cells = lines[i + 1]!.split(',');
    const stamp = (cells[iTs] ?? '').trim();
    const t = parseNabTimestamp(stamp);
    if (!Number.isFinite(t))
      throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `${name} line ${i + 2}: bad timestamp "${stamp}"`);
    const raw = (cells[iVal] ?? '').trim();
    const v = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(v))
      throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `${name} line ${i + 2}: value "${raw}" is not a finite number`);
    s.stamps[i] = stamp;
    s.valueText[i] = raw;
    s.timestamps[i] = t;
    s.values[i] = v;
  }
  return s;
}

/** combined_windows.json → windows in epoch ms per relative data path. */
export function parseLabels(text: string, source = 'labels'): NabWindows {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_NAB_LABELS', `${source} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new EdgeloopError(
      'EL_ERR_NAB_LABELS',
      `${source} must be an object {"<category>/<file>.csv": [[start, end], ...]}`,
    );
  }
  const out: NabWindows = new Map();
  for (const [file, wins] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(wins))
      throw new EdgeloopError('EL_ERR_NAB_LABELS', `${source}: "${file}" must map to a list of [start, end] windows`);
    const list: Array<[number, number]> = wins.map((w, i) => {
      const a = Array.isArray(w) && w.length === 2 ? parseNabTimestamp(String(w[0])) : NaN;
      const b = Array.isArray(w) && w.length === 2 ? parseNabTimestamp(String(w[1])) : NaN;
      if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) {
        throw new EdgeloopError(
          'EL_ERR_NAB_LABELS',
          `${source}: window ${i} of "${file}" must be ["YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD HH:MM:SS"] with start <= end (got ${JSON.stringify(w)})`,
        );
      }
      return [a, b];
    });
    list.sort((x, y) => x[0] - y[0]);
    out.set(normalizePath(file), list);
  }
  return out;
}

export const PROFILE_NAMES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const;

/** profiles.json → cost matrix per profile name. */
export function parseProfiles(text: string, source = 'profiles'): Map<string, CostMatrix> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_NAB_PROFILES', `${source} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new EdgeloopError('EL_ERR_NAB_PROFILES', `${source} must be an object of profiles`);
  const out = new Map<string, CostMatrix>();
  for (const [name, p] of Object.entries(raw as Record<string, unknown>)) {
    const cm = (p as { CostMatrix?: Record<string, unknown> } | null)?.CostMatrix;
    const get = (k: string): number => {
      const v = cm?.[k];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new EdgeloopError('EL_ERR_NAB_PROFILES', `${source}: profile "${name}" needs a numeric CostMatrix.${k}`);
      return v;
    };
    out.set(name, {
      tpWeight: get('tpWeight'),
      fpWeight: get('fpWeight'),
      fnWeight: get('fnWeight'),
      tnWeight: typeof cm?.tnWeight === 'number' ? cm.tnWeight : 1,
    });
  }
  if (out.size === 0) throw new EdgeloopError('EL_ERR_NAB_PROFILES', `${source} has no profile`);
  return out;
}

/** Per-row label (1 inside a window), NAB's CorpusLabel.labels. */
export function rowLabels(
  timestamps: ArrayLike<number>,
  windows: ReadonlyArray<readonly [number, number]>,
): Uint8Array {
  const out = new Uint8Array(timestamps.length);
  for (const [a, b] of windows)
    for (let i = 0; i < timestamps.length; i++) if (timestamps[i]! >= a && timestamps[i]! <= b) out[i] = 1;
  return out;
}

function normalizePath(p: string): string {
  return p.replace(/\\/g, '/').replace(/^\.\//, '');
}

/** Relative paths `<category>/<file>.csv` under a data directory, sorted (reads the file system). */
export function listDataFiles(dataDir: string): string[] {
  const out: string[] = [];
  for (const cat of readdirSync(dataDir).sort()) {
    const dir = join(dataDir, cat);
    if (cat.startsWith('.') || !statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.csv') && !f.startsWith('.')) out.push(`${cat}/${f}`);
  }
  return out;
}

export function readSeries(dataDir: string, name: string): NabSeries {
  let text: string;
  try {
    text = readFileSync(join(dataDir, name), 'utf8');
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_NAB_DATA_FILE',
      `cannot read data file ${join(dataDir, name)}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return parseNabCsv(text, name);
}

/** RESULTS_DIR/<detector>/<category>/<detector>_<file>.csv */
export function resultPath(resultsDir: string, detector: string, name: string): string {
  const slash = name.lastIndexOf('/');
  const cat = slash >= 0 ? name.slice(0, slash) : '';
  const file = slash >= 0 ? name.slice(slash + 1) : name;
  return join(resultsDir, detector, cat, `${detector}_${file}`);
}

export function formatResultCsv(series: NabSeries, scores: ArrayLike<number>, labels: ArrayLike<number>): string {
  const lines = ['timestamp,value,anomaly_score,label'];
  for (let i = 0; i < series.stamps.length; i++)
    lines.push(`${series.stamps[i]},${series.valueText[i]},${scores[i]},${labels[i]}`);
  return lines.join('\n') + '\n';
}

export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** NAB's <detector>_<profile>_scores.csv table (per file, then a Totals row). */
export function formatScoresCsv(detector: string, r: ProfileResult): string {
  const lines = ['Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count'];
  for (const f of r.files)
    lines.push([detector, r.profile, f.name, r.threshold, f.score, f.tp, f.tn, f.fp, f.fn, f.total].join(','));
  lines.push(
    ['Totals', '', '', '', r.score, r.totals.tp, r.totals.tn, r.totals.fp, r.totals.fn, r.totals.total].join(','),
  );
  return lines.join('\n') + '\n';
}
