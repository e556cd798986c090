/**
 * NASA C-MAPSS turbofan data (Saxena et al., PHM08) in the standard text layout: space-separated, no header,
 * 26 columns `unit cycle setting1 setting2 setting3 s1 … s21`, one row per cycle; and the RUL file (one integer
 * per line: the true remaining cycles of test unit i after its last cycle). Parsing, the piecewise-linear target,
 * windows, the unit k-fold split and the seeded truncation that turns a run-to-failure unit into a test-like one.
 * Pure: no file system here (commands.ts reads the files).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { Prng } from '../../lib/prng.ts';

/** Every sensor column of the file, in order. */
export const CMAPSS_SENSORS = Array.from({ length: 21 }, (_, i) => `s${i + 1}`);

/** The 14 sensors that carry information in FD001 (s1, s5, s6, s10, s16, s18, s19 are constant there). */
export const FD001_SENSORS = [
  's2',
  's3',
  's4',
  's7',
  's8',
  's9',
  's11',
  's12',
  's13',
  's14',
  's15',
  's17',
  's20',
  's21',
] as const;

export interface CmapssUnit {
  unit: number;
  /** cycles in file order, 1..length */
  length: number;
  /** sensor values, row-major [length, 21] (CMAPSS_SENSORS order) */
  sensors: Float64Array;
}

/** Parse a C-MAPSS train or test file; units in order of first appearance. Throws EL_ERR_RUL_DATA naming the line. */
export function parseCmapss(text: string, source: string): CmapssUnit[] {
  const units: CmapssUnit[] = [];
  let unit = -1;
  let rows: number[][] = [];
  const seen = new Set<number>();
  const flush = (): void => {
    if (unit < 0) return;
    const sensors = new Float64Array(rows.length * 21);
    rows.forEach((r, i) => sensors.set(r, i * 21));
    units.push({ unit, length: rows.length, sensors });
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `${source}:${i + 1}`;
    const cols = line.split(/\s+/);
    if (cols.length !== 26)
      throw dataError(
        `${where}: expected 26 space-separated columns (unit cycle 3 settings 21 sensors), got ${cols.length}`,
      );
    const values = cols.map(Number);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw dataError(`${where}: column ${bad + 1} is not a number ("${cols[bad]}")`);
    const [u, c] = values as [number, number];
    if (!Number.isInteger(u) || u < 1 || !Number.isInteger(c) || c < 1)
      throw dataError(`${where}: unit and cycle must be integers >= 1, got "${cols[0]}" "${cols[1]}"`);
    if (u !== unit) {
      if (seen.has(u))
        throw dataError(`${where}: unit ${u} appears again after other units (rows of a unit must be contiguous)`);
      flush();
      seen.add(u);
      unit = u;
      rows = [];
    }
    if (c !== rows.length + 1)
      throw dataError(`${where}: unit ${u} cycle ${c} follows cycle ${rows.length} (cycles must run 1, 2, 3, …)`);
    rows.push(values.slice(5));
  }
  flush();
  if (units.length === 0) throw dataError(`${source}: no data rows`);
  return units;
}

/** Parse a RUL file: one non-negative integer per non-empty line. */
export function parseRulFile(text: string, source: string): number[] {
  const out: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const v = Number(line);
    if (!/^\d+$/.test(line) || !Number.isSafeInteger(v))
      throw dataError(`${source}:${i + 1}: expected one integer >= 0 (remaining cycles), got "${line}"`);
    out.push(v);
  });
  if (out.length === 0) throw dataError(`${source}: no RUL values`);
  return out;
}

/** Column indexes (into the 21 sensors) of the named sensors. */
export function sensorIndexes(names: readonly string[]): number[] {
  return names.map((n) => {
    const i = CMAPSS_SENSORS.indexOf(n);
    if (i < 0) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `unknown C-MAPSS sensor "${n}" (known: s1 … s21)`);
    return i;
  });
}

/**
 * Piecewise-linear RUL target (Heimes 2008): constant `cap` while the engine is healthy, then falling by one per
 * cycle to 0 at failure. `cycle` is 1-based; the unit fails after `length` cycles, so RUL = length - cycle.
 */
export function piecewiseRul(cycle: number, length: number, cap: number): number {
  return Math.min(cap, length - cycle);
}

/** Root mean squared error of predicted against true RUL. */
export function rmse(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  checkSameLength(predicted, actual);
  let s = 0;
  for (let i = 0; i < predicted.length; i++) s += (predicted[i]! - actual[i]!) ** 2;
  return Math.sqrt(s / predicted.length);
}

/**
 * The PHM08 / NASA scoring function, summed over units: with d = predicted - true, exp(-d/13) - 1 for early
 * predictions (d < 0) and exp(d/10) - 1 for late ones (d >= 0): predicting failure too late costs more.
 */
export function nasaScore(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  checkSameLength(predicted, actual);
  let s = 0;
  for (let i = 0; i < predicted.length; i++) {
    const d = predicted[i]! - actual[i]!;
    s += d < 0 ? Math.exp(-d / 13) - 1 : Math.exp(d / 10) - 1;
  }
  return s;
}

/** Share of units whose true RUL lies in [low, high]. */
export function intervalCoverage(low: ArrayLike<number>, high: ArrayLike<number>, actual: ArrayLike<number>): number {
  checkSameLength(low, actual);
  checkSameLength(high, actual);
  let n = 0;
  for (let i = 0; i < actual.length; i++) if (actual[i]! >= low[i]! && actual[i]! <= high[i]!) n++;
  return n / actual.length;
}

/**
 * The window of the `window` cycles ending at 1-based `endCycle`, selected sensors only, row-major (cycle, then
 * sensor), written to `out` at `offset`. A unit shorter than the window is padded at the front with its first
 * cycle (the engine before that cycle is taken to be as it was then).
 */
export function writeWindow(
  u: CmapssUnit,
  endCycle: number,
  window: number,
  columns: readonly number[],
  out: Float32Array,
  offset: number,
): void {
  if (!(endCycle >= 1 && endCycle <= u.length))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `unit ${u.unit}: cycle ${endCycle} is outside 1..${u.length}`);
  const w = columns.length;
  for (let t = 0; t < window; t++) {
    const row = Math.max(0, endCycle - window + t);
    for (let j = 0; j < w; j++) out[offset + t * w + j] = u.sensors[row * 21 + columns[j]!]!;
  }
}

export interface WindowSet {
  /** [rows, window * sensors] */
  x: Float32Array;
  /** target per window (capped RUL) */
  y: Float32Array;
  rows: number;
}

/**
 * Every training window of run-to-failure units (one per cycle from `window` on, or the last one for short units),
 * with its capped target. With `maxRul`, windows with more than `maxRul` cycles left (uncapped) are left out.
 */
export function trainingWindows(
  units: readonly CmapssUnit[],
  window: number,
  columns: readonly number[],
  cap: number,
  maxRul = Number.POSITIVE_INFINITY,
): WindowSet {
  const first = (u: CmapssUnit): number => Math.max(Math.min(window, u.length), u.length - maxRul);
  let rows = 0;
  for (const u of units) rows += u.length - first(u) + 1;
  const width = window * columns.length;
  const x = new Float32Array(rows * width);
  const y = new Float32Array(rows);
  let r = 0;
  for (const u of units) {
    for (let end = first(u); end <= u.length; end++, r++) {
      writeWindow(u, end, window, columns, x, r * width);
      y[r] = piecewiseRul(end, u.length, cap);
    }
  }
  return { x, y, rows };
}

/** The window ending at each unit's last cycle: the standard point of scoring a test unit. */
export function lastWindows(units: readonly CmapssUnit[], window: number, columns: readonly number[]): Float32Array {
  const width = window * columns.length;
  const x = new Float32Array(units.length * width);
  units.forEach((u, i) => writeWindow(u, u.length, window, columns, x, i * width));
  return x;
}

/** Assign whole units to `k` folds: a seeded shuffle of the units, then round-robin. Returns the fold of each unit. */
export function unitFolds(unitCount: number, k: number, seed: number): number[] {
  if (!Number.isInteger(k) || k < 2 || k > unitCount)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `folds must be an integer in 2..${unitCount} (the number of units), got ${k}`,
    );
  const order = new Prng(seed).shuffle(Array.from({ length: unitCount }, (_, i) => i));
  const fold = new Array<number>(unitCount);
  order.forEach((unitIndex, pos) => (fold[unitIndex] = pos % k));
  return fold;
}

export interface TruncateOptions {
  /** the cut leaves at least this many cycles (the model's window); default 30 */
  minCycles?: number;
  /** true RUL at the cut is drawn uniformly from [minRul, maxRul] (bounded by the unit's length); default 1..145 */
  minRul?: number;
  maxRul?: number;
  seed: number;
}

/**
 * Turn run-to-failure units into test-like ones: each unit is cut after a seeded random cycle, and the cycles
 * it had left become its true RUL, as in the C-MAPSS test file. The true RUL is drawn uniformly in
 * [minRul, maxRul] (default 1..145, the span of remaining lives in the published FD001 RUL file), limited so at
 * least `minCycles` cycles stay.
 */
export function truncateUnits(
  units: readonly CmapssUnit[],
  opts: TruncateOptions,
): { units: CmapssUnit[]; rul: number[] } {
  const minCycles = opts.minCycles ?? 30;
  const minRul = opts.minRul ?? 1;
  const maxRul = opts.maxRul ?? 145;
  if (!(Number.isInteger(minRul) && Number.isInteger(maxRul) && minRul >= 0 && maxRul >= minRul)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `truncation needs integers 0 <= minRul <= maxRul, got ${minRul}..${maxRul}`,
    );
  }
  const prng = new Prng(opts.seed);
  const out: CmapssUnit[] = [];
  const rul: number[] = [];
  for (const u of units) {
    const hi = Math.min(maxRul, u.length - minCycles);
    const lo = Math.min(minRul, Math.max(0, hi));
    const r = hi <= lo ? Math.max(0, hi) : lo + prng.int(hi - lo + 1);
    const keep = u.length - r;
    out.push({ unit: u.unit, length: keep, sensors: u.sensors.subarray(0, keep * 21) });
    rul.push(r);
  }
  return { units: out, rul };
}

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length || a.length === 0)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `need two non-empty series of the same length, got ${a.length} and ${b.length}`,
    );
}

function dataError(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_RUL_DATA', message);
}
