/** `edgeloop models eval skab`: the SKAB anomaly benchmark (models/anomaly/skab-eval.ts) from the command line. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { numberFlag } from '../../lib/cli-errors.ts';
import { Progress } from '../../lib/progress.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import {
  type Opts,
  parse,
  required,
  str,
  list,
  int,
  intValue,
  num,
  nonNegative,
  activationArg,
  csvCell,
} from './models-flags.ts';

type Ctx = CliContext;

export async function evalSkab(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, {
    'data-dir': { type: 'string' },
    out: { type: 'string' },
    sensors: { type: 'string' },
    window: { type: 'string' },
    smooth: { type: 'string' },
    quantile: { type: 'string' },
    margin: { type: 'string' },
    'min-relative-std': { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'learning-rate': { type: 'string' },
    hidden: { type: 'string' },
    activation: { type: 'string' },
    seed: { type: 'string' },
    'train-rows': { type: 'string' },
    'fit-rows': { type: 'string' },
    'cross-validate': { type: 'boolean' },
    'drop-sensors': { type: 'string' },
    'cv-fit-rows': { type: 'string' },
    'cv-min-relative-std': { type: 'string' },
    'cv-drop-sensors': { type: 'string' },
    'cv-max-far': { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const dir = resolve(ctx.cwd, required(o, 'data-dir'));
  const { crossValidateSkab, evaluateSkab, skabVariants, SKAB_DEFAULTS } = await import(
    '../../models/anomaly/skab-eval.ts'
  );
  let progress: Progress | undefined;
  let pass = 0;
  const t0 = performance.now();
  const trainRows = int(o['train-rows'], '--train-rows', 400, 1);
  const scoreOpts = {
    ...(o.sensors !== undefined ? { sensors: list(str(o.sensors), '--sensors') } : {}),
    ...(o['drop-sensors'] !== undefined
      ? { dropSensors: str(o['drop-sensors']) === 'none' ? [] : list(str(o['drop-sensors']), '--drop-sensors') }
      : {}),
    window: int(o.window, '--window', SKAB_DEFAULTS.window, 1),
    normalization: { minRelativeStd: nonNegative(o['min-relative-std'], '--min-relative-std', 0.01) },
    epochs: int(o.epochs, '--epochs', SKAB_DEFAULTS.epochs, 1),
    ...(o['batch-size'] !== undefined ? { batchSize: int(o['batch-size'], '--batch-size', 32, 1) } : {}),
    ...(o['learning-rate'] !== undefined ? { learningRate: num(o['learning-rate'], '--learning-rate', 3e-3) } : {}),
    hidden:
      o.hidden === undefined
        ? [...SKAB_DEFAULTS.hidden]
        : list(str(o.hidden), '--hidden').map((h) => intValue(h, '--hidden', 1)),
    ...(o.activation !== undefined ? { activation: activationArg(o.activation) } : {}),
    seed: int(o.seed, '--seed', 1, 0),
    trainRows,
    onStart: (n: number) => {
      pass++;
      progress = new Progress({
        total: n,
        label: `eval skab${pass > 1 ? ` (pass ${pass})` : ''}: file`,
        stream: ctx.stderr,
        silent: Boolean(o.quiet),
      });
    },
    onScored: (key: string, i: number) => progress?.update(i + 1, key),
  };
  const report = await import('../../models/anomaly/skab-report.ts');
  const seconds = (): number => (performance.now() - t0) / 1000;
  let out: string[];
  let rows: Array<{ file: string; row: number; score: number; predicted: number; label: number }>;
  if (o['cross-validate'] === true) {
    const maxFar =
      o['cv-max-far'] === undefined
        ? 0.15
        : numberFlag('models', '--cv-max-far', str(o['cv-max-far']), { min: 0, max: 1 })!;
    const cv = await crossValidateSkab(dir, {
      ...scoreOpts,
      variants: skabVariants(skabVariantFlags(o, trainRows)),
      maxFar,
    });
    out = report.formatSkabCrossValidation(dir, cv, seconds());
    rows = report.crossValidationRows(cv);
  } else {
    const r = await evaluateSkab(dir, {
      ...scoreOpts,
      ...(o['fit-rows'] !== undefined ? { fitRows: int(o['fit-rows'], '--fit-rows', trainRows, 1) } : {}),
      smoothing: int(o.smooth, '--smooth', SKAB_DEFAULTS.smoothing, 1),
      threshold: {
        quantile: num(o.quantile, '--quantile', SKAB_DEFAULTS.threshold.quantile),
        margin: num(o.margin, '--margin', SKAB_DEFAULTS.threshold.margin),
      },
    });
    out = report.formatSkabResult(dir, r, seconds());
    rows = r.rows;
  }
  if (o.out !== undefined) {
    const file = resolve(ctx.cwd, str(o.out));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      [
        'file,row,score,predicted,label',
        ...rows.map((x) => `${csvCell(x.file)},${x.row},${x.score},${x.predicted},${x.label}`),
      ].join('\n') + '\n',
    );
    out.push(`wrote ${rows.length} rows to ${file}`);
  }
  ctx.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** The lists behind --cross-validate's scoring variants (skabVariants in models/anomaly/skab-eval.ts). */
function skabVariantFlags(o: Opts, trainRows: number): { fitRows: number[]; floors?: number[]; drop?: string[] } {
  return {
    fitRows:
      o['cv-fit-rows'] === undefined
        ? [trainRows]
        : list(str(o['cv-fit-rows']), '--cv-fit-rows').map((v) => intValue(v, '--cv-fit-rows', 1)),
    ...(o['cv-min-relative-std'] === undefined
      ? {}
      : {
          floors: list(str(o['cv-min-relative-std']), '--cv-min-relative-std').map(
            (v) => numberFlag('models', '--cv-min-relative-std', v, { min: 0 })!,
          ),
        }),
    ...(o['cv-drop-sensors'] === undefined ? {} : { drop: list(str(o['cv-drop-sensors']), '--cv-drop-sensors') }),
  };
}
