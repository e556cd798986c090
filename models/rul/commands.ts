/**
 * CLI entry point of the C-MAPSS evaluation of the RUL model, called by cli/commands/models.ts:
 *   edgeloop models eval cmapss --train FILE (--test FILE --rul FILE | --folds K) [--out CSV] [options]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliContext } from '../../lib/cli-context.ts';
import { Progress } from '../../lib/progress.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseCmapss, parseRulFile } from './cmapss-data.ts';
import { crossValidate, evaluateOnTest, predictionsCsv } from './evaluate-rul.ts';
import type { RulEvaluation } from './evaluate-rul.ts';
import { RUL_DEFAULTS, rulOptions } from './train-rul.ts';
import type { TrainRulOptions } from './train-rul.ts';

export const evalCmapssHelp = `usage: edgeloop models eval cmapss --train FILE (--test FILE --rul FILE | --folds K) [options]

Train the RUL model on a C-MAPSS training file and score it the standard way: the prediction at each test unit's
last cycle against the true RUL, with RMSE, the NASA score (late predictions cost exp(d/10)-1, early ones
exp(-d/13)-1, summed) and the share of units whose true RUL is inside the p10-p90 interval.

  --train FILE       training file (NASA layout: unit cycle 3 settings 21 sensors, space-separated)   (required)
  --test FILE        test file (trajectories cut before failure), scored with --rul
  --rul FILE         true remaining cycles of each test unit, one per line
  --folds K          without --test: K-fold by whole units of the training file; each held-out unit is cut at a
                     seeded random cycle and scored at the cut (development figures; default 5)
  --out FILE.csv     one row per test unit: unit,predicted_rul,p10,p90,true_rul,cycles,fold
  --seed N           seeds training, the folds and the cuts (default 1)
  --epochs N         training epochs per ensemble member (default ${RUL_DEFAULTS.epochs})
  --window N         cycles per window (default ${RUL_DEFAULTS.window}; shorter units are padded at the front)
  --cap N            cap of the piecewise-linear target (default ${RUL_DEFAULTS.cap})
  --sensors A,B,...  sensor columns s1..s21 (default the 14 informative FD001 sensors)
  --json             print the scores as JSON
  --quiet            no progress output
`;

export async function evalCmapssCommand(argv: string[], ctx: CliContext): Promise<number> {
  let a: Record<string, string | boolean | undefined>;
  try {
    a = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        train: { type: 'string' },
        test: { type: 'string' },
        rul: { type: 'string' },
        folds: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        epochs: { type: 'string' },
        window: { type: 'string' },
        cap: { type: 'string' },
        sensors: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (typeof a.train !== 'string') throw usage('--train FILE is required');
  if ((a.test === undefined) !== (a.rul === undefined)) throw usage('--test and --rul go together');
  if (a.test !== undefined && a.folds !== undefined)
    throw usage('--folds is for validation on the training file; leave it out with --test');
  const seed = intFlag(a.seed, '--seed', 1, 0);
  const training: TrainRulOptions = {
    seed,
    epochs: intFlag(a.epochs, '--epochs', RUL_DEFAULTS.epochs, 1),
    window: intFlag(a.window, '--window', RUL_DEFAULTS.window, 1),
    cap: intFlag(a.cap, '--cap', RUL_DEFAULTS.cap, 1),
    ...(typeof a.sensors === 'string'
      ? {
          sensors: a.sensors
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
        }
      : {}),
  };
  const members = rulOptions(training).members; // every option checked before a file is read
  const folds = intFlag(a.folds, '--folds', 5, 2);
  const read = (flag: string, path: string): string => {
    try {
      return readFileSync(resolve(ctx.cwd, path), 'utf8');
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${flag} ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  const train = parseCmapss(read('--train', a.train), a.train);
  const progress = new Progress({
    total: (a.test === undefined ? folds : 1) * training.epochs! * members,
    label: 'cmapss rul',
    stream: ctx.stderr,
    silent: a.quiet === true,
  });
  let done = 0;
  const onEpoch = (): void => progress.update(++done);
  let result: RulEvaluation;
  let what: string;
  if (typeof a.test === 'string' && typeof a.rul === 'string') {
    const test = parseCmapss(read('--test', a.test), a.test);
    const rul = parseRulFile(read('--rul', a.rul), a.rul);
    result = await evaluateOnTest(train, test, rul, { ...training, onEpoch });
    what = `test file ${a.test} (${test.length} units), trained on ${train.length} units of ${a.train}`;
  } else {
    if (folds > train.length) throw usage(`--folds ${folds} is more than the ${train.length} units of ${a.train}`);
    result = await crossValidate(train, { folds, splitSeed: seed, training: { ...training, onEpoch } });
    what = `${folds}-fold validation by unit on ${a.train} (${train.length} units cut at seeded random cycles; development figures, not a test-file score)`;
  }
  progress.finish();
  if (typeof a.out === 'string') {
    const out = resolve(ctx.cwd, a.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, predictionsCsv(result.predictions));
  }
  const s = result.scores;
  if (a.json === true) {
    ctx.stdout.write(
      JSON.stringify({ protocol: a.test === undefined ? `${folds}-fold` : 'test', ...s }, null, 2) + '\n',
    );
    return 0;
  }
  ctx.stdout.write(`RUL model on ${what}\n`);
  ctx.stdout.write(`  units            ${s.units}\n`);
  ctx.stdout.write(`  RMSE             ${s.rmse.toFixed(2)} cycles\n`);
  ctx.stdout.write(`  NASA score       ${s.nasaScore.toFixed(1)}\n`);
  ctx.stdout.write(
    `  p10-p90 coverage ${(s.coverage * 100).toFixed(1)} % (nominal 80 %), mean width ${s.meanIntervalWidth.toFixed(1)} cycles\n`,
  );
  if (typeof a.out === 'string') ctx.stdout.write(`per-unit predictions: ${a.out}\n`);
  return 0;
}

function intFlag(v: string | boolean | undefined, flag: string, def: number, min: number): number {
  if (v === undefined) return def;
  const s = String(v).trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min)
    throw usage(`${flag} must be an integer >= ${min}, got "${String(v)}"`);
  return n;
}

function usage(message: string): EdgeloopError {
  return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${message}\n\n${evalCmapssHelp}`);
}
