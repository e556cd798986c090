/**
 * CLI entry points of the AI4I recommender, called by cli/commands/models.ts:
 *   edgeloop models train recommender --data FILE --out DIR [--epochs N] [--seed N] [--holdout F] [--key FILE]
 *   edgeloop models eval ai4i --train FILE [--test FILE] [--out FILE.csv] [--epochs N] [--seed N] [--holdout F]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliContext } from '../../lib/cli-context.ts';
import { Progress } from '../../lib/progress.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { readPrivateKey, signManifest, writeModelDir } from '../manifest/index.ts';
import { ruleOracle, ruleOracleFailure } from './rule-oracle.ts';
import { FAILURE_MODES, TEST_SALT, parseAi4iCsv, selectRows, splitByUdi } from './ai4i-data.ts';
import type { Ai4iData } from './ai4i-data.ts';
import { rankCatalog } from './actions.ts';
import { exportRecommender } from './export-recommender.ts';
import { evaluate } from './metrics.ts';
import type { EvalReport } from './metrics.ts';
import { evaluateTrained, trainRecommender } from './train-recommender.ts';
import type { TrainRecommenderOptions } from './train-recommender.ts';

export const trainHelp = `usage: edgeloop models train recommender --data FILE --out DIR [options]

Train the AI4I maintenance recommender (TensorFlow.js), export it to ONNX with the feature engineering inside
the graph, and write DIR/model.onnx + DIR/manifest.json.

  --data FILE      AI4I 2020 CSV (UCI 601 columns; a UTF-8 BOM is fine)
  --out DIR        model directory to write
  --epochs N       training epochs (default 150)
  --seed N         seed of initialisers and shuffles (default 1)
  --holdout F      part of the rows (by UDI hash) kept out of training and reported as test (default 0.2; 0 = none)
  --key FILE       ed25519 private key (PEM) to sign the manifest (default: write it unsigned)
  --name NAME      model name (default ai4i-recommender)
  --version V      model version (default 1.0.0)
  --quiet          no progress output
`;

export const evalHelp = `usage: edgeloop models eval ai4i --train FILE [--test FILE] [--out FILE.csv] [options]

Train on --train, tune per-mode thresholds on a validation part of it, and evaluate on --test: per-mode
precision/recall/F1, macro-F1, binary failure F1, hit@1/hit@2 of the recommended action.
Without --test (or with the same file) the test rows are the --holdout part of --train (by UDI hash).
Rows of --test whose UDI also appears in --train are removed from training.

  --train FILE     AI4I CSV to train on
  --test FILE      AI4I CSV to evaluate on
  --out FILE.csv   per-row predictions: UDI,predicted_modes,top_actions,predicted_failure
  --epochs N       training epochs (default 150)
  --seed N         seed (default 1)
  --holdout F      test part when --test is not given (default 0.2)
  --json           print the report as JSON
  --quiet          no progress output
`;

function readData(path: string, cwd: string): Ai4iData {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseAi4iCsv(text, path);
}

function intArg(v: string | undefined, name: string, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function fractionArg(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!(n >= 0 && n < 1))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--${name} must be a number in [0, 1), got "${v}"`);
  return n;
}

function parse(
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  usage: string,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${(err as Error).message}\n\n${usage}`);
  }
}

function progressFor(
  ctx: CliContext,
  epochs: number,
  quiet: boolean,
): { opts: Pick<TrainRecommenderOptions, 'onEpoch'>; done: () => void } {
  const p = new Progress({ total: epochs, label: 'training', stream: ctx.stderr, silent: quiet });
  return { opts: { onEpoch: (e, loss) => p.update(e, `loss ${loss.toFixed(4)}`) }, done: () => p.finish() };
}

export async function trainRecommenderCommand(argv: string[], ctx: CliContext): Promise<number> {
  const a = parse(
    argv,
    {
      data: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      holdout: { type: 'string' },
      key: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      quiet: { type: 'boolean' },
    },
    trainHelp,
  );
  if (typeof a.data !== 'string')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--data FILE is required\n\n${trainHelp}`);
  if (typeof a.out !== 'string')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--out DIR is required\n\n${trainHelp}`);
  const epochs = intArg(a.epochs as string | undefined, 'epochs', 150, 1);
  const seed = intArg(a.seed as string | undefined, 'seed', 1, 0);
  const holdout = fractionArg(a.holdout as string | undefined, 'holdout', 0.2);
  const privateKey = typeof a.key === 'string' ? readPrivateKey(resolve(ctx.cwd, a.key)) : undefined;
  const data = readData(a.data, ctx.cwd);
  const { kept: train, held: test } =
    holdout > 0 ? splitByUdi(data, holdout, TEST_SALT) : { kept: data, held: selectRows(data, []) };

  const progress = progressFor(ctx, epochs, a.quiet === true);
  const trained = await trainRecommender(train, { epochs, seed, ...progress.opts });
  progress.done();
  try {
    const holdoutReport = test.rows > 0 ? evaluateTrained(trained, test) : undefined;
    const sample = test.rows >= 4 ? test : train;
    const exported = await exportRecommender(trained, {
      ...(typeof a.name === 'string' ? { name: a.name } : {}),
      ...(typeof a.version === 'string' ? { version: a.version } : {}),
      sampleRaw: sample.raw,
      sampleRows: sample.rows,
      ...(holdoutReport ? { holdout: holdoutReport } : {}),
      training: { dataRows: data.rows, holdout, holdoutRows: test.rows },
    });
    const manifest = privateKey ? signManifest(exported.manifest, privateKey) : exported.manifest;
    const outDir = resolve(ctx.cwd, a.out);
    const { manifestPath, modelPath } = writeModelDir(outDir, { onnx: exported.onnx, manifest });
    ctx.stdout.write(`wrote ${modelPath} and ${manifestPath}${privateKey ? '' : ' (unsigned: pass --key to sign)'}\n`);
    ctx.stdout.write(`ONNX/TensorFlow.js parity: max |diff| ${exported.parityMaxError.toExponential(2)}\n`);
    ctx.stdout.write(`validation (${trained.validationRows} rows):\n${formatReport(trained.validation)}`);
    if (holdoutReport)
      ctx.stdout.write(`holdout test (${test.rows} rows, ${holdout} by UDI hash):\n${formatReport(holdoutReport)}`);
  } finally {
    trained.dispose();
  }
  return 0;
}

export async function evalAi4iCommand(argv: string[], ctx: CliContext): Promise<number> {
  const a = parse(
    argv,
    {
      train: { type: 'string' },
      test: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      holdout: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    evalHelp,
  );
  if (typeof a.train !== 'string')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--train FILE is required\n\n${evalHelp}`);
  const epochs = intArg(a.epochs as string | undefined, 'epochs', 150, 1);
  const seed = intArg(a.seed as string | undefined, 'seed', 1, 0);
  const holdout = fractionArg(a.holdout as string | undefined, 'holdout', 0.2);
  const trainAll = readData(a.train, ctx.cwd);
  let train: Ai4iData;
  let test: Ai4iData;
  if (typeof a.test !== 'string' || resolve(ctx.cwd, a.test) === resolve(ctx.cwd, a.train)) {
    if (holdout === 0)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', '--holdout must be > 0 when --test is not a separate file');
    ({ kept: train, held: test } = splitByUdi(trainAll, holdout, TEST_SALT));
  } else {
    test = readData(a.test, ctx.cwd);
    const testUdis = new Set(test.udi);
    const keep: number[] = [];
    for (let i = 0; i < trainAll.rows; i++) if (!testUdis.has(trainAll.udi[i]!)) keep.push(i);
    train = keep.length === trainAll.rows ? trainAll : selectRows(trainAll, keep);
  }
  if (test.rows === 0) throw new EdgeloopError('EL_ERR_DATA_INVALID', 'no test rows');

  const progress = progressFor(ctx, epochs, a.quiet === true);
  const trained = await trainRecommender(train, { epochs, seed, ...progress.opts });
  progress.done();
  try {
    const probs = trained.predict(test.raw, test.rows);
    const failure = trained.predictFailure(test.raw, test.rows);
    const report = evaluate(probs, test.labels, test.rows, undefined, { probs: failure, labels: test.machineFailure });
    // the published generating rules on the same rows: the reference no model can beat by much
    const rules = ruleOracle(test.raw, test.rows);
    const oracle = evaluate(rules, test.labels, test.rows, undefined, {
      probs: ruleOracleFailure(rules, test.rows),
      labels: test.machineFailure,
    });
    if (typeof a.out === 'string') {
      const path = resolve(ctx.cwd, a.out);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, predictionsCsv(test, probs, failure));
    }
    if (a.json === true) {
      ctx.stdout.write(
        JSON.stringify(
          {
            trainRows: trained.trainRows,
            validationRows: trained.validationRows,
            thresholds: trained.thresholds,
            test: report,
            ruleOracle: oracle,
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      ctx.stdout.write(
        `trained on ${trained.trainRows} rows, thresholds tuned on ${trained.validationRows} validation rows\n`,
      );
      ctx.stdout.write(
        `tuned thresholds: ${FAILURE_MODES.map((m, j) => `${m} ${trained.thresholds[j]!.toFixed(4)}`).join(', ')}\n`,
      );
      ctx.stdout.write(`test (${test.rows} rows):\n${formatReport(report)}`);
      ctx.stdout.write(
        `rule oracle on the same rows (the dataset's generating rules; TWF = wear 200-240 min, RNF unpredictable):\n${formatReport(oracle)}`,
      );
      if (typeof a.out === 'string') ctx.stdout.write(`per-row predictions: ${resolve(ctx.cwd, a.out)}\n`);
    }
  } finally {
    trained.dispose();
  }
  return 0;
}

/**
 * `UDI,predicted_modes,top_actions,predicted_failure` (modes and the top-2 actions joined with "|"; the machine
 * failure output as 0/1).
 */
export function predictionsCsv(d: Ai4iData, probs: Float32Array, failure: Float32Array): string {
  const k = FAILURE_MODES.length;
  const lines = ['UDI,predicted_modes,top_actions,predicted_failure'];
  for (let i = 0; i < d.rows; i++) {
    const modes = FAILURE_MODES.filter((_, j) => probs[i * k + j]! >= 0.5);
    const top = rankCatalog(probs, i * k)
      .slice(0, 2)
      .map((x) => x.id);
    lines.push(`${d.udi[i]},${modes.join('|')},${top.join('|')},${failure[i]! >= 0.5 ? 1 : 0}`);
  }
  return lines.join('\n') + '\n';
}

export function formatReport(r: EvalReport): string {
  const pct = (x: number): string => x.toFixed(3);
  const lines = ['  mode  support  precision  recall  f1'];
  for (const [m, v] of Object.entries(r.perMode)) {
    lines.push(
      `  ${m.padEnd(4)}  ${String(v.support).padStart(7)}  ${pct(v.precision).padStart(9)}  ${pct(v.recall).padStart(6)}  ${pct(v.f1)}`,
    );
  }
  lines.push(`  macro-F1 (5 modes) ${pct(r.macroF1)}; without RNF ${pct(r.macroF1NoRnf)}`);
  lines.push(
    `  binary machine failure: precision ${pct(r.binaryFailure.precision)} recall ${pct(r.binaryFailure.recall)} F1 ${pct(r.binaryFailure.f1)} (support ${r.binaryFailure.support})`,
  );
  lines.push(
    `  any mode predicted vs. any mode present: precision ${pct(r.anyModeFailure.precision)} recall ${pct(r.anyModeFailure.recall)} F1 ${pct(r.anyModeFailure.f1)} (support ${r.anyModeFailure.support})`,
  );
  lines.push(`  action hit@1 ${pct(r.hitAt1)} hit@2 ${pct(r.hitAt2)} over ${r.rowsWithMode} rows with a failure mode`);
  return lines.join('\n') + '\n';
}
