/**
 * Run a detector over a NAB corpus, write NAB-layout results, optimise the threshold per profile and normalise:
 * NAB's detect → optimize → score → normalize in one call.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { DetectorFactory } from './detectors.ts';
import { runDetector } from './detectors.ts';
import {
  formatResultCsv,
  formatScoresCsv,
  listDataFiles,
  parseLabels,
  parseProfiles,
  readSeries,
  resultPath,
  rowLabels,
  writeFileAtomic,
} from './nab-corpus.ts';
import { scoreProfile } from './scorer.ts';
import type { ProfileResult, ScoredFile } from './scorer.ts';

export interface EvaluateNabOptions {
  dataDir: string;
  /** combined_windows.json; default <dataDir>/../labels/combined_windows.json */
  labelsFile?: string;
  /** profiles.json; default <dataDir>/../config/profiles.json */
  profilesFile?: string;
  /** write results here (NAB layout); omit to only score */
  resultsDir?: string;
  detectorName: string;
  detector: DetectorFactory;
  /** only these relative data paths; default every labelled file found under dataDir */
  files?: string[];
  onFile?: (done: number, total: number, name: string) => void;
}

export interface NabEvaluation {
  detector: string;
  files: string[];
  profiles: ProfileResult[];
  /** profile name → normalised score */
  normalized: Record<string, number>;
}

export function defaultLabelsFile(dataDir: string): string {
  return join(dataDir, '..', 'labels', 'combined_windows.json');
}

export function defaultProfilesFile(dataDir: string): string {
  return join(dataDir, '..', 'config', 'profiles.json');
}

export function evaluateNab(o: EvaluateNabOptions): NabEvaluation {
  if (!existsSync(o.dataDir))
    throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `data directory ${o.dataDir} does not exist`);
  const labelsFile = o.labelsFile ?? defaultLabelsFile(o.dataDir);
  const profilesFile = o.profilesFile ?? defaultProfilesFile(o.dataDir);
  const labels = parseLabels(readText(labelsFile, 'EL_ERR_NAB_LABELS', 'labels file'), labelsFile);
  const profiles = parseProfiles(readText(profilesFile, 'EL_ERR_NAB_PROFILES', 'profiles file'), profilesFile);
  let files: string[];
  if (o.files) {
    files = o.files;
    for (const f of files) {
      if (!labels.has(f))
        throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `data file "${f}" has no entry in ${labelsFile}`);
    }
  } else {
    const found = listDataFiles(o.dataDir);
    const unknown = found.filter((f) => !labels.has(f));
    if (unknown.length > 0) {
      throw new EdgeloopError(
        'EL_ERR_NAB_DATA_FILE',
        `data file(s) without an entry in ${labelsFile}: ${unknown.join(', ')}`,
      );
    }
    files = found;
  }
  if (files.length === 0)
    throw new EdgeloopError('EL_ERR_NAB_DATA_FILE', `no <category>/<file>.csv data files under ${o.dataDir}`);

  const scored: ScoredFile[] = [];
  files.forEach((name, k) => {
    const series = readSeries(o.dataDir, name);
    const windows = labels.get(name)!;
    const scores = runDetector(o.detector, series.timestamps, series.values);
    if (o.resultsDir) {
      writeFileAtomic(
        resultPath(o.resultsDir, o.detectorName, name),
        formatResultCsv(series, scores, rowLabels(series.timestamps, windows)),
      );
    }
    scored.push({ name, timestamps: series.timestamps, anomalyScores: scores, windows });
    o.onFile?.(k + 1, files.length, name);
  });

  const results: ProfileResult[] = [];
  for (const [profile, cost] of profiles) results.push(scoreProfile(scored, profile, cost));
  if (o.resultsDir) {
    for (const r of results)
      writeFileAtomic(
        join(o.resultsDir, o.detectorName, `${o.detectorName}_${r.profile}_scores.csv`),
        formatScoresCsv(o.detectorName, r),
      );
    // Like NAB's updateFinalResults: keep other detectors' entries.
    const finalPath = join(o.resultsDir, 'final_results.json');
    let final: Record<string, Record<string, number>> = {};
    try {
      final = JSON.parse(readFileSync(finalPath, 'utf8')) as Record<string, Record<string, number>>;
    } catch {
      /* first detector in this results directory */
    }
    final[o.detectorName] = Object.fromEntries(results.map((r) => [r.profile, r.normalized]));
    writeFileAtomic(finalPath, JSON.stringify(final, null, 2) + '\n');
  }
  return {
    detector: o.detectorName,
    files,
    profiles: results,
    normalized: Object.fromEntries(results.map((r) => [r.profile, r.normalized])),
  };
}

function readText(path: string, code: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgeloopError(code, `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}
