/**
 * Builds the default RUL model shipped in models/default/rul/ (called by scripts/build-models.ts,
 * `npm run models:build`): trains on the C-MAPSS FD001 training file (EDGELOOP_CMAPSS_TRAIN, else
 * ../shared/data/cmapss/train_FD001.txt beside the repository; without either the build is skipped with a
 * message), keeping one fold of whole units (fold 0 of 5, seed 1, as `eval cmapss --folds 5`) out of training,
 * cut at seeded random cycles and scored at the cut; those held-out figures go into the manifest. Then exports,
 * signs and writes model.onnx + manifest.json. Seeded and with a fixed createdAt: same data and key, same files.
 */
import { buildCreatedAt } from '../manifest/export-steps.ts';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestSigner } from '../manifest/index.ts';
import { writeModelDir } from '../manifest/index.ts';
import { lastWindows, parseCmapss, sensorIndexes, truncateUnits, unitFolds } from './cmapss-data.ts';
import { predictUnits, scorePredictions } from './evaluate-rul.ts';
import { exportRul } from './export-rul.ts';
import { trainRul } from './train-rul.ts';

export const DEFAULT_RUL_VERSION = '1.1.0';
const DEFAULT_CREATED_AT = '2026-12-03T00:00:00.000Z';
const SPLIT_SEED = 1;

export interface BuildDefaultRulOptions {
  dataFile?: string;
  createdAt?: string;
  log?: (line: string) => void;
}

export function defaultCmapssFile(): string | undefined {
  const env = process.env.EDGELOOP_CMAPSS_TRAIN;
  if (env) return env;
  const shared = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'cmapss', 'train_FD001.txt');
  return existsSync(shared) ? shared : undefined;
}

/** Returns false (and logs why) when there is no training file to build from. */
export async function buildDefaultRul(
  outDir: string,
  signer: ManifestSigner,
  opts: BuildDefaultRulOptions = {},
): Promise<boolean> {
  const log = opts.log ?? ((): void => {});
  const file = opts.dataFile ?? defaultCmapssFile();
  if (!file) {
    log('rul: skipped (no C-MAPSS training file: set EDGELOOP_CMAPSS_TRAIN to train_FD001.txt)');
    return false;
  }
  const started = performance.now();
  const units = parseCmapss(readFileSync(file, 'utf8'), file);
  const fold = unitFolds(units.length, 5, SPLIT_SEED);
  // the same cuts as crossValidate (evaluate-rul.ts) draws for this seed, so fold 0 here is fold 0 there
  const cut = truncateUnits(units, { minCycles: 30, seed: SPLIT_SEED + 7919 });
  const held = units.map((_, i) => i).filter((i) => fold[i] === 0);
  const trained = await trainRul(
    units.filter((_, i) => fold[i] !== 0),
    { seed: SPLIT_SEED, onEpoch: (e, l) => (e % 10 === 0 ? log(`rul: epoch ${e} loss ${l.toFixed(5)}`) : undefined) },
  );
  try {
    const heldUnits = held.map((i) => cut.units[i]!);
    const holdout = scorePredictions(
      predictUnits(
        trained,
        heldUnits,
        held.map((i) => cut.rul[i]!),
      ),
    );
    const sample = lastWindows(heldUnits, trained.options.window, sensorIndexes(trained.options.sensors));
    const exported = await exportRul(trained, {
      version: DEFAULT_RUL_VERSION,
      createdAt: buildCreatedAt(opts.createdAt, DEFAULT_CREATED_AT),
      sample,
      sampleRows: heldUnits.length,
      validation: {
        ...holdout,
        protocol:
          'fold 0 of 5 by unit (seed 1) held out of training; each held-out unit cut at a seeded random cycle and scored at the cut (development figures, not the FD001 test part)',
      },
      training: {
        features:
          trained.options.features === 'summary'
            ? { kind: 'summary', ...trained.options.summary, note: 'length 0 = the whole window' }
            : { kind: 'window' },
        padding: `a unit (device) with fewer than ${trained.options.window} cycles is padded at the front with its first cycle`,
        data: 'NASA C-MAPSS FD001 training file',
        units: units.length - held.length,
        heldOutUnits: held.map((i) => units[i]!.unit),
      },
    });
    writeModelDir(outDir, { onnx: exported.onnx, manifest: signer.sign(exported.manifest) });
    log(
      `rul: ${exported.onnx.byteLength} bytes ONNX; held-out fold (${holdout.units} units, cut at seeded cycles): RMSE ${holdout.rmse.toFixed(2)}, NASA score ${holdout.nasaScore.toFixed(1)}, ` +
        `p10-p90 coverage ${(holdout.coverage * 100).toFixed(0)} %; parity ${exported.parityMaxError.toExponential(1)}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    return true;
  } finally {
    trained.dispose();
  }
}
