/**
 * Cross-validated parameter choice of the `edgeloop` NAB detector over a corpus (reads the data; the scoring is
 * cross-validate.ts):
 *   tsx models/nab/tune-nab.ts --data-dir DIR [--grid wide|neighbours|fixed] [--out REPORT.json] [--log FILE]
 *                              [--min-threshold 0.25]
 *
 * Every candidate of the grid (nabGrid) is run once per file (raw surprises cached per raw-stage setting), then scored by
 * leave-one-category-out, 5-fold-by-file and leave-one-file-out cross-validation, and in-sample (chosen on all
 * files) for comparison. Prints one line per figure; the report holds the per-fold choices and per-file scores.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AdaptiveDetectorOptions } from './adaptive-detector.ts';
import { rawSurprises, scoresFromRaw } from './adaptive-detector.ts';
import type { CvFold, CvProfileResult } from './cross-validate.ts';
import { crossValidate, fitAll, kFoldByFile, leaveOneCategoryOut } from './cross-validate.ts';
import { defaultLabelsFile, defaultProfilesFile } from './evaluate-nab.ts';
import { listDataFiles, parseLabels, parseProfiles, readSeries } from './nab-corpus.ts';
import { probationaryLength } from './scorer.ts';

export const NAB_GRIDS = ['wide', 'neighbours', 'fixed'] as const;
export type NabGridName = (typeof NAB_GRIDS)[number];

/**
 * Candidate settings (learnRows is set per file from NAB's probationary length):
 * - `wide`: 144, coarse on purpose, over the raw stage's scale and history and the later stages' averaging, spatial
 *   check, alarm level and silence;
 * - `neighbours`: the defaults and their neighbours on the two axes that move the wide grid's choice most
 *   (`zHalf` 8 / 12 / 16 × `suppressFactor` 0.1 / 0.2 / 0.3), 9;
 * - `fixed`: the defaults alone (only the threshold is chosen per fold).
 */
export function nabGrid(name: NabGridName = 'wide'): Array<Omit<AdaptiveDetectorOptions, 'learnRows'>> {
  if (name === 'fixed') return [{}];
  if (name === 'neighbours')
    return [8, 12, 16].flatMap((zHalf) => [0.1, 0.2, 0.3].map((f) => ({ zHalf, suppressFactor: f })));
  if (name !== 'wide')
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `unknown grid "${String(name)}" (known: ${NAB_GRIDS.join(', ')})`,
    );
  const out: Array<Omit<AdaptiveDetectorOptions, 'learnRows'>> = [];
  for (const zHalf of [6, 12, 24])
    for (const historyRows of [undefined, 1500])
      for (const shortRows of [3, 5])
        for (const spatialTolerance of [0, 0.1])
          for (const alarmLevel of [0.5, 0.6])
            for (const suppressFactor of [0.2, 0.3, 0.5])
              out.push({
                zHalf,
                ...(historyRows === undefined ? {} : { historyRows }),
                shortRows,
                spatialTolerance,
                alarmLevel,
                suppressFactor,
              });
  return out;
}

const RAW_KEYS = [
  'historyRows',
  'smoothRows',
  'zHalf',
  'minSeasonalCorrelation',
  'minSeasonalRise',
  'minWeeklyCorrelation',
] as const;

function main(argv: string[]): void {
  const a = parseArgs({
    args: argv,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      out: { type: 'string' },
      log: { type: 'string' },
      'min-threshold': { type: 'string' },
      grid: { type: 'string' },
    },
  }).values;
  if (typeof a['data-dir'] !== 'string')
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      'usage: tune-nab.ts --data-dir DIR [--grid wide|neighbours|fixed] [--out REPORT.json] [--log FILE]',
    );
  const dataDir = resolve(a['data-dir']);
  const minThreshold = a['min-threshold'] === undefined ? 0.25 : Number(a['min-threshold']);
  if (!(minThreshold > 0 && minThreshold <= 1))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--min-threshold must be in (0, 1], got ${a['min-threshold']}`);
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
    if (a.log) appendFileSync(a.log, `${new Date().toISOString()} ${line}\n`);
  };
  const read = (path: string, code: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (cause) {
      throw new EdgeloopError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  const labels = parseLabels(read(defaultLabelsFile(dataDir), 'EL_ERR_NAB_LABELS'), defaultLabelsFile(dataDir));
  const profiles = parseProfiles(
    read(defaultProfilesFile(dataDir), 'EL_ERR_NAB_PROFILES'),
    defaultProfilesFile(dataDir),
  );
  const names = listDataFiles(dataDir).filter((n) => labels.has(n));
  const series = names.map((n) => readSeries(dataDir, n));
  const files = series.map((s) => ({ name: s.name, timestamps: s.timestamps, windows: labels.get(s.name)! }));
  const gridName = (a.grid ?? 'wide') as NabGridName;
  const grid = nabGrid(gridName);
  const rawCache = new Map<string, Float64Array[]>();
  let computed = 0;
  const t0 = Date.now();
  const scoresOf = (c: number, f: number): Float64Array => {
    const s = series[f]!;
    const opts: AdaptiveDetectorOptions = { ...grid[c]!, learnRows: Math.floor(probationaryLength(s.values.length)) };
    const rawKey = `${f}|${RAW_KEYS.map((k) => String(opts[k])).join(',')}`;
    let raw = rawCache.get(rawKey);
    if (!raw) {
      raw = rawSurprises(s.values, opts, s.timestamps);
      rawCache.set(rawKey, raw);
    }
    if (++computed % 200 === 0)
      log(`scored ${computed} candidate-file pairs (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    return scoresFromRaw(s.values, raw, opts);
  };
  log(`${names.length} files, grid ${gridName}: ${grid.length} candidates, thresholds >= ${minThreshold}`);
  // One cache of candidate scores for every procedure: crossValidate asks each (candidate, file) pair once.
  const memo = new Map<number, Float64Array>();
  const cached = (c: number, f: number): Float64Array => {
    const k = c * names.length + f;
    let v = memo.get(k);
    if (!v) {
      v = scoresOf(c, f);
      memo.set(k, v);
    }
    return v;
  };
  const common = { files, candidates: grid.length, scoresOf: cached, profiles, minThreshold };
  const procedures: Array<[string, CvFold[] | null]> = [
    ['in-sample (chosen on all files)', null],
    ['leave-one-category-out', leaveOneCategoryOut(names)],
    ['5-fold by file', kFoldByFile(names, Math.min(5, names.length))],
    ['leave-one-file-out', names.map((n) => ({ heldOut: [n] }))],
  ];
  const report: Record<string, unknown> = { files: names, gridName, grid, minThreshold };
  for (const [label, folds] of procedures) {
    const r: CvProfileResult[] = folds ? crossValidate({ ...common, folds }) : fitAll(common);
    log(`${label.padEnd(32)} ${r.map((p) => `${p.profile} ${p.normalized.toFixed(2)}`).join('  ')}`);
    for (const p of r) {
      const chosen = [...new Set(p.folds.map((f) => f.candidate))].map((c) => JSON.stringify(grid[c]));
      log(`  ${p.profile}: chosen ${chosen.join(' | ')}`);
    }
    report[label] = r;
  }
  if (a.out) writeFileSync(a.out, JSON.stringify(report, null, 2) + '\n');
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tune-nab: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
