/**
 * `edgeloop models`: train, sign, verify, score and evaluate models. Parses and validates flags, calls the models
 * package, prints results; nothing else. `train recommender`, `eval ai4i`, `eval nab` and `eval cmapss` live
 * in models/recommender/commands.ts, models/nab/commands.ts and models/rul/commands.ts and are loaded on demand.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { flagError, usageError } from '../../lib/cli-errors.ts';
import { Progress } from '../../lib/progress.ts';
import type { ManifestInput } from '../../protocol/manifest.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import { DEFAULT_UP_DIR } from '../up-state.ts';
import {
  parse,
  required,
  str,
  list,
  int,
  intValue,
  num,
  nonNegative,
  isoDate,
  activationArg,
  separatorArg,
  csvCell,
  keyIdFromManifest,
} from './models-flags.ts';

export const help = `usage: edgeloop models <command> [options]

commands:
  train anomaly      train a window autoencoder on normal data; writes model.onnx + manifest.json
      --data PATH          CSV file or directory of CSV files (normal operation only)      (required)
      --out DIR            model directory to write                                        (required)
      --sensors A,B,...    sensor columns (default: every numeric column but time/label columns)
      --time-column NAME   time column (default: detected: timestamp, time, datetime, date, ts)
      --separator C        CSV separator (default: detected from the header: , ; tab |)
      --window N           rows per window (default 16)
      --stride N           rows between training windows (default 1)
      --epochs N           training epochs (default 60)
      --batch-size N       (default 32)
      --learning-rate X    Adam learning rate (default 0.003)
      --hidden A,B         encoder layer sizes, last = bottleneck (default 32,8)
      --activation NAME    relu | tanh | elu | sigmoid | selu | swish (default tanh)
      --seed N             seeds initialisers and shuffling (default 1); same seed + data = same files
      --quantile Q         threshold = quantile Q of training scores ... (default 0.99)
      --margin M           ... times M (default 1.5)
      --smooth K           decide on the trailing mean of K window scores (default 1): the threshold is
                           calibrated on smoothed training scores; manifest decision.smoothing tells devices
      --min-relative-std R each sensor's std is at least R x |its mean| (default 0.01; 0 = off)
      --name NAME --version V --created-at ISO   manifest fields (defaults: anomaly, 1.0.0, now)
      --key FILE           sign the manifest with this ed25519 private key (PEM)
      --quiet              no progress output
  train recommender  train the maintenance recommender (run it without options for its usage)
  sample-data        write normal-operation CSVs from the fleet simulator's signal model (to train on)
      --out DIR (required) --devices N (default 4) --seconds N (rows per device, default 3600) --seed N (1)
  keygen             create an ed25519 signing key pair: NAME.key (private, mode 600) and NAME.pub
      --out DIR (default .edgeloop/keys: git-ignored, and the directory \`edgeloop up\` trusts)
      --name NAME (default edgeloop) --force (overwrite)
  sign               sign (or re-sign) a model directory's manifest.json
      --model DIR --key PRIVATE.key  (both required)
  verify             check schema, signature, sha256, and run the test vector in ONNX Runtime
      --model DIR (required) --key PUB[,PUB...] (required unless --allow-unsigned) --allow-unsigned
  score              score every row of a CSV: the window ending at each row
      --model DIR --data FILE --out FILE.csv  (required)
      --key PUB[,PUB...]   verify the signature first (default: schema + sha256 only)
      --smooth K           trailing mean over K row scores before the threshold (default: the manifest's
                           decision.smoothing, else 1)
      --threshold X        override the manifest threshold
      --separator C --time-column NAME
  eval skab          SKAB protocol: per file, train on the first 400 rows, score the rest
      --data-dir DIR (required; read recursively: SKAB's data/ with valve1/, valve2/, other/; files keyed valve1/10.csv)
      --out FILE.csv (per row: file,row,score,predicted,label) --fit-rows N (fit on N prefix rows, calibrate on the rest)
      --cross-validate (leave-one-file-out choice of the decision rule) --cv-max-far (0.15); scoring variants to choose
      from: --cv-fit-rows 300,400 --cv-min-relative-std 0.01,0.05 --cv-drop-sensors Temperature,Thermocouple
      --sensors --drop-sensors A,B|none (Temperature,Thermocouple where present) --window (8) --smooth (30)
      --quantile (1 = max) --margin (1.25) --epochs (30) --seed (1)
      --batch-size (64) --learning-rate (0.01) --min-relative-std (0.01) --hidden (32,8) --activation (tanh) --train-rows (400, the protocol's) --quiet
  eval ai4i          AI4I 2020 evaluation of the recommender (run it without options for its usage)
  eval nab           NAB evaluation, online scoring (run it without options for its usage)
  eval cmapss        NASA C-MAPSS evaluation of the RUL model (run it without options for its usage)
`;

type Ctx = CliContext;
type Handler = (argv: string[], ctx: Ctx) => Promise<number>;

export async function run(argv: string[], ctx: Ctx): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case 'train':
      if (sub === 'anomaly') return trainAnomaly(rest, ctx);
      if (sub === 'recommender')
        return (await loadCommand('../../models/recommender/commands.ts', 'trainRecommenderCommand'))(rest, ctx);
      throw usageError(
        'models train',
        sub ? `unknown model kind ${JSON.stringify(sub)}` : 'missing model kind',
        'anomaly or recommender',
      );
    case 'eval':
      if (sub === 'skab') return (await import('./models-eval-skab.ts')).evalSkab(rest, ctx);
      if (sub === 'ai4i')
        return (await loadCommand('../../models/recommender/commands.ts', 'evalAi4iCommand'))(rest, ctx);
      if (sub === 'nab') return (await loadCommand('../../models/nab/commands.ts', 'evalNabCommand'))(rest, ctx);
      if (sub === 'cmapss') return (await loadCommand('../../models/rul/commands.ts', 'evalCmapssCommand'))(rest, ctx);
      throw usageError(
        'models eval',
        sub ? `unknown benchmark ${JSON.stringify(sub)}` : 'missing benchmark',
        'skab, ai4i, nab or cmapss',
      );
    case 'keygen':
      return keygen(argv.slice(1), ctx);
    case 'sample-data':
      return sampleData(argv.slice(1), ctx);
    case 'sign':
      return signCmd(argv.slice(1), ctx);
    case 'verify':
      return verifyCmd(argv.slice(1), ctx);
    case 'score':
      return scoreCmd(argv.slice(1), ctx);
    default:
      throw usageError(
        'models',
        cmd ? `unknown subcommand ${JSON.stringify(cmd)}` : 'missing subcommand',
        'train, eval, keygen, sign, verify or score; see edgeloop models --help',
      );
  }
}

/** Load another engineer's command module by path so this file type-checks without it. */
async function loadCommand(relPath: string, exportName: string): Promise<Handler> {
  const url = new URL(relPath, import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((cause as Error).message).includes(relPath.split('/').pop()!)) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `this command is not available in this build (${relPath.replace('../../', '')} is missing)`,
        { cause },
      );
    }
    throw cause;
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `this command is not available in this build (${relPath.replace('../../', '')} does not export ${exportName})`,
    );
  }
  return fn as Handler;
}

// ---------------------------------------------------------------------------------------------------------------

async function trainAnomaly(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, {
    data: { type: 'string' },
    out: { type: 'string' },
    sensors: { type: 'string' },
    'time-column': { type: 'string' },
    separator: { type: 'string' },
    window: { type: 'string' },
    stride: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'learning-rate': { type: 'string' },
    hidden: { type: 'string' },
    activation: { type: 'string' },
    seed: { type: 'string' },
    quantile: { type: 'string' },
    margin: { type: 'string' },
    smooth: { type: 'string' },
    'min-relative-std': { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    'created-at': { type: 'string' },
    key: { type: 'string' },
    opset: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const data = resolve(ctx.cwd, required(o, 'data'));
  const out = resolve(ctx.cwd, required(o, 'out'));
  // every flag is checked before any file is read or any training starts
  const epochs = int(o.epochs, '--epochs', 60, 1);
  const createdAt = o['created-at'] === undefined ? undefined : isoDate(str(o['created-at']), '--created-at');
  const options = {
    window: int(o.window, '--window', 16, 1),
    stride: int(o.stride, '--stride', 1, 1),
    epochs,
    batchSize: int(o['batch-size'], '--batch-size', 32, 1),
    learningRate: num(o['learning-rate'], '--learning-rate', 3e-3),
    hidden: o.hidden === undefined ? [32, 8] : list(str(o.hidden), '--hidden').map((h) => intValue(h, '--hidden', 1)),
    activation: activationArg(o.activation),
    seed: int(o.seed, '--seed', 1, 0),
    threshold: { quantile: num(o.quantile, '--quantile', 0.99), margin: num(o.margin, '--margin', 1.5) },
    smoothing: int(o.smooth, '--smooth', 1, 1),
    normalization: { minRelativeStd: nonNegative(o['min-relative-std'], '--min-relative-std', 0.01) },
    opset: int(o.opset, '--opset', 13, 13),
    ...(o.name !== undefined ? { name: str(o.name) } : {}),
    ...(o.version !== undefined ? { version: str(o.version) } : {}),
    ...(createdAt !== undefined ? { createdAt } : {}),
  };
  const { loadSensorTables } = await import('../../models/anomaly/sensor-table.ts');
  const { trainAnomalyModel } = await import('../../models/anomaly/train-anomaly.ts');
  const { checkRule } = await import('../../models/anomaly/threshold.ts');
  const { signManifest, readPrivateKey, writeModelDir } = await import('../../models/manifest/index.ts');
  checkRule(options.threshold);
  const key = o.key ? readPrivateKey(resolve(ctx.cwd, str(o.key))) : undefined;
  const tables = loadSensorTables(data, {
    ...(o.sensors !== undefined ? { sensors: list(str(o.sensors), '--sensors') } : {}),
    ...(o['time-column'] !== undefined ? { timeColumn: str(o['time-column']) } : {}),
    ...(o.separator !== undefined ? { separator: separatorArg(str(o.separator)) } : {}),
  });
  const progress = new Progress({
    total: epochs,
    label: 'train anomaly: epoch',
    stream: ctx.stderr,
    silent: Boolean(o.quiet),
  });
  const trained = await trainAnomalyModel(tables, {
    ...options,
    onEpoch: (epoch, loss) => progress.update(epoch, `loss ${loss.toFixed(6)}`),
  });
  progress.finish(`loss ${trained.losses[trained.losses.length - 1]!.toFixed(6)}`);
  const manifest = key ? signManifest(trained.manifest, key) : trained.manifest;
  const { modelPath, manifestPath } = writeModelDir(out, { onnx: trained.onnx, manifest });
  const m = trained.manifest;
  const w = m.inputs.kind === 'window' ? m.inputs : undefined;
  ctx.stdout.write(
    [
      `trained ${m.name} ${m.version} on ${tables.length} file(s), ${String(m.training?.windows)} windows of ${w?.window.length} rows x ${w?.sensors.length} sensors (${w?.sensors.join(', ')})`,
      `final loss ${trained.losses[trained.losses.length - 1]!.toFixed(6)}; threshold ${m.threshold} (${m.thresholdRule})`,
      `wrote ${modelPath} (${trained.onnx.byteLength} bytes) and ${manifestPath}`,
      key
        ? `signed with key ${keyIdFromManifest(manifest)}`
        : 'unsigned: sign it with `edgeloop models sign --model DIR --key KEY` before deploying',
    ].join('\n') + '\n',
  );
  return 0;
}

async function sampleData(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, {
    out: { type: 'string' },
    devices: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
  });
  const dir = resolve(ctx.cwd, required(o, 'out'));
  const { normalCsv } = await import('../../simulator/normal-csv.ts');
  const files = normalCsv({
    devices: int(o.devices, '--devices', 4, 1),
    seconds: int(o.seconds, '--seconds', 3600, 16),
    seed: int(o.seed, '--seed', 1, 0),
  });
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f.name), f.csv);
  ctx.stdout.write(`wrote ${files.length} files of normal operation to ${dir}\n`);
  return 0;
}

/** where keygen writes without --out (relative to the working directory; `edgeloop up` trusts it) */
export const DEFAULT_KEY_DIR = join(DEFAULT_UP_DIR, 'keys');

async function keygen(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, { out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' } });
  const { writeSigningKey, generateSigningKey } = await import('../../models/manifest/index.ts');
  // by default next to the rest of the local state: .edgeloop/ is git-ignored, so the private key cannot be committed
  // by accident, and `edgeloop up` trusts every *.pub in .edgeloop/keys
  const r = writeSigningKey(
    resolve(ctx.cwd, o.out === undefined ? DEFAULT_KEY_DIR : str(o.out)),
    str(o.name ?? 'edgeloop'),
    generateSigningKey(),
    Boolean(o.force),
  );
  ctx.stdout.write(
    `key ${r.keyId}\nprivate key ${r.privatePath} (mode 600: keep it secret, outside git)\npublic key  ${r.publicPath} (give this to agents and the registry)\n`,
  );
  return 0;
}

async function signCmd(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, { model: { type: 'string' }, key: { type: 'string' } });
  const dir = resolve(ctx.cwd, required(o, 'model'));
  const { readModelDir, readPrivateKey, signManifest, writeModelDir } = await import('../../models/manifest/index.ts');
  const { readFileSync } = await import('node:fs');
  const key = readPrivateKey(resolve(ctx.cwd, required(o, 'key')));
  // refuse to sign a manifest whose model file does not match it: signing vouches for the pair
  const { onnx } = readModelDir(dir);
  const raw = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const signed = signManifest(raw as ManifestInput, key);
  writeModelDir(dir, { onnx, manifest: signed });
  ctx.stdout.write(`signed ${resolve(dir, 'manifest.json')} with key ${signed.signature.keyId}\n`);
  return 0;
}

async function verifyCmd(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, { model: { type: 'string' }, key: { type: 'string' }, 'allow-unsigned': { type: 'boolean' } });
  const dir = resolve(ctx.cwd, required(o, 'model'));
  const { readPublicKey, verifyModelDir } = await import('../../models/manifest/index.ts');
  const { OrtModelRunner, checkTestVector } = await import('../../models/runtime/ort-model-runner.ts');
  if (o.key === undefined && !o['allow-unsigned']) {
    throw flagError(
      'models',
      '--key',
      'missing',
      '--key PUBLIC.pub, or --allow-unsigned to skip the signature check of an unsigned manifest',
    );
  }
  const keys = o.key === undefined ? [] : list(str(o.key), '--key').map((k) => readPublicKey(resolve(ctx.cwd, k)));
  const v = verifyModelDir(dir, { trustedKeys: keys, requireSignature: !o['allow-unsigned'] });
  const runner = await OrtModelRunner.forManifest(v.onnx, v.manifest);
  let maxError: number;
  try {
    ({ maxError } = await checkTestVector(runner, v.manifest));
  } finally {
    await runner.close();
  }
  ctx.stdout.write(
    `ok ${v.manifest.name} ${v.manifest.version}: ${v.keyId ? `signature by ${v.keyId}` : 'UNSIGNED (accepted by --allow-unsigned)'}, sha256 ${v.manifest.artifact.sha256.slice(0, 16)}... matches, test vector max error ${maxError.toExponential(2)} <= ${v.manifest.testVector.tolerance}\n`,
  );
  return 0;
}

async function scoreCmd(argv: string[], ctx: Ctx): Promise<number> {
  const o = parse(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    key: { type: 'string' },
    smooth: { type: 'string' },
    threshold: { type: 'string' },
    separator: { type: 'string' },
    'time-column': { type: 'string' },
  });
  const dir = resolve(ctx.cwd, required(o, 'model'));
  const data = resolve(ctx.cwd, required(o, 'data'));
  const outFile = resolve(ctx.cwd, required(o, 'out'));
  const smoothArg = o.smooth === undefined ? undefined : int(o.smooth, '--smooth', 1, 1);
  const { readModelDir, readPublicKey, verifyModelDir } = await import('../../models/manifest/index.ts');
  const { OrtModelRunner } = await import('../../models/runtime/ort-model-runner.ts');
  const { loadSensorTable } = await import('../../models/anomaly/sensor-table.ts');
  const { scoreTableRows } = await import('../../models/anomaly/anomaly-scorer.ts');
  const { smoothScores } = await import('../../models/anomaly/threshold.ts');
  const v =
    o.key === undefined
      ? readModelDir(dir)
      : verifyModelDir(dir, { trustedKeys: list(str(o.key), '--key').map((k) => readPublicKey(resolve(ctx.cwd, k))) });
  if (o.key === undefined) ctx.stderr.write('note: signature not checked (no --key); schema and sha256 checked\n');
  const m = v.manifest;
  if (m.inputs.kind !== 'window')
    throw new EdgeloopError('EL_ERR_MODEL_INPUT', `${dir}: a ${m.kind} model; score takes window anomaly models`);
  const threshold = num(o.threshold, '--threshold', m.threshold);
  // the decision rule the model was calibrated with, unless overridden
  const smooth = smoothArg ?? m.decision?.smoothing ?? 1;
  const table = loadSensorTable(data, {
    sensors: m.inputs.sensors,
    ...(o['time-column'] !== undefined ? { timeColumn: str(o['time-column']) } : {}),
    ...(o.separator !== undefined ? { separator: separatorArg(str(o.separator)) } : {}),
  });
  const runner = await OrtModelRunner.forManifest(v.onnx, m);
  let scores: ArrayLike<number>;
  try {
    const raw = await scoreTableRows(runner, m, table);
    scores = smooth > 1 ? smoothScores(raw, smooth) : raw;
  } finally {
    await runner.close();
  }
  const timeHeader = table.timeColumn ? `,${csvCell(table.timeColumn)}` : '';
  const lines = [`row${timeHeader},score,anomaly`];
  let flagged = 0;
  for (let r = 0; r < table.rows; r++) {
    const s = scores[r]!;
    const flag = s > threshold ? 1 : 0;
    flagged += flag;
    lines.push(
      `${r}${table.timeColumn ? `,${csvCell(table.times[r]!)}` : ''},${Number.isNaN(s) ? '' : s},${Number.isNaN(s) ? '' : flag}`,
    );
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, lines.join('\n') + '\n');
  const window = m.inputs.window.length;
  ctx.stdout.write(
    `scored ${Math.max(0, table.rows - window + 1)} of ${table.rows} rows (the first ${window - 1} have no full window) with ${m.name} ${m.version}; ${flagged} flagged (score > ${threshold}${smooth > 1 ? `, trailing mean over ${smooth}` : ''}); wrote ${outFile}\n`,
  );
  return 0;
}
