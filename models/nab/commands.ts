/**
 * CLI entry point of the NAB evaluation, called by cli/commands/models.ts:
 *   edgeloop models eval nab --data-dir DIR --out RESULTS_DIR [--detector NAME] [--labels FILE] [--profiles FILE]
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliContext } from '../../lib/cli-context.ts';
import { Progress } from '../../lib/progress.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { DETECTORS, detectorByName } from './detectors.ts';
import { defaultLabelsFile, defaultProfilesFile, evaluateNab } from './evaluate-nab.ts';

export const evalNabHelp = `usage: edgeloop models eval nab --data-dir DIR --out RESULTS_DIR [options]

Run an online anomaly detector over NAB data files (DIR/<category>/<file>.csv), write results in NAB's layout
(RESULTS_DIR/<detector>/<category>/<detector>_<file>.csv with timestamp,value,anomaly_score,label, per-profile
score tables and final_results.json), optimise the threshold per profile over all files and print the normalised
NAB scores (null detector = 0, perfect = 100).

  --data-dir DIR     NAB data directory
  --out DIR          results directory
  --detector NAME    ${Object.keys(DETECTORS).join(' | ')} (default edgeloop)
  --labels FILE      label windows (default DIR/../labels/combined_windows.json)
  --profiles FILE    scoring profiles (default DIR/../config/profiles.json)
  --file PATH        score only this <category>/<file>.csv (repeatable)
  --json             print the result as JSON
  --quiet            no progress output
`;

export async function evalNabCommand(argv: string[], ctx: CliContext): Promise<number> {
  let a: Record<string, string | boolean | string[] | undefined>;
  try {
    a = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'data-dir': { type: 'string' },
        out: { type: 'string' },
        detector: { type: 'string' },
        labels: { type: 'string' },
        profiles: { type: 'string' },
        file: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${(err as Error).message}\n\n${evalNabHelp}`);
  }
  if (typeof a['data-dir'] !== 'string')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--data-dir DIR is required\n\n${evalNabHelp}`);
  if (typeof a.out !== 'string')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--out RESULTS_DIR is required\n\n${evalNabHelp}`);
  const dataDir = resolve(ctx.cwd, a['data-dir']);
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--data-dir ${a['data-dir']} is not a directory`);
  }
  const detectorName = typeof a.detector === 'string' ? a.detector : 'edgeloop';
  const detector = detectorByName(detectorName);
  const labelsFile = typeof a.labels === 'string' ? resolve(ctx.cwd, a.labels) : defaultLabelsFile(dataDir);
  const profilesFile = typeof a.profiles === 'string' ? resolve(ctx.cwd, a.profiles) : defaultProfilesFile(dataDir);
  const resultsDir = resolve(ctx.cwd, a.out);
  let progress: Progress | undefined;
  const result = evaluateNab({
    dataDir,
    labelsFile,
    profilesFile,
    resultsDir,
    detectorName,
    detector,
    ...(Array.isArray(a.file) ? { files: a.file } : {}),
    onFile: (done, total, name) => {
      progress ??= new Progress({ total, label: `nab ${detectorName}`, stream: ctx.stderr, silent: a.quiet === true });
      progress.update(done, name);
    },
  });
  progress?.finish();
  if (a.json === true) {
    ctx.stdout.write(
      JSON.stringify(
        {
          detector: result.detector,
          files: result.files,
          normalized: result.normalized,
          profiles: result.profiles.map((p) => ({
            profile: p.profile,
            threshold: p.threshold,
            score: p.score,
            nullScore: p.nullScore,
            perfectScore: p.perfectScore,
            normalized: p.normalized,
            windows: p.windows,
          })),
        },
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  const windows = result.profiles[0]?.windows ?? 0;
  ctx.stdout.write(
    `NAB scores of "${detectorName}" on ${result.files.length} data file(s) with ${windows} label window(s) under ${a['data-dir']}`,
  );
  ctx.stdout.write(
    result.files.length < 58
      ? ` (a subset of NAB's 58 files: not comparable one-to-one with the published full-corpus scores)\n`
      : '\n',
  );
  for (const p of result.profiles) {
    ctx.stdout.write(
      `  ${p.profile.padEnd(20)} ${p.normalized.toFixed(2).padStart(7)}   (raw ${p.score.toFixed(3)}, null ${p.nullScore}, perfect ${p.perfectScore}, threshold ${p.threshold})\n`,
    );
  }
  ctx.stdout.write(`results: ${resultsDir}/${detectorName}/\n`);
  return 0;
}
