/**
 * Builds the default recommender shipped in models/default/recommender/ (called by scripts/build-models.ts,
 * `npm run models:build`): trains on the AI4I development data (EDGELOOP_AI4I_CSV, else ../shared/data/ai4i/
 * ai4i2020-dev.csv beside the repository, else the small fixture test/fixtures/ai4i/ai4i-sample.csv with a warning),
 * keeping the 20 % UDI-hash holdout out of training and recording its metrics in the manifest; then exports, signs
 * and writes model.onnx + manifest.json. Seeded and with a fixed createdAt, so the same data and key give the same
 * files.
 */
import { buildCreatedAt } from '../manifest/export-steps.ts';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest, ManifestInput } from '../../protocol/manifest.ts';
import { signManifest, writeModelDir } from '../manifest/index.ts';
import { TEST_SALT, parseAi4iCsv, splitByUdi } from './ai4i-data.ts';
import { exportRecommender } from './export-recommender.ts';
import { evaluateTrained, trainRecommender } from './train-recommender.ts';

export const DEFAULT_RECOMMENDER_VERSION = '1.0.0';
const DEFAULT_CREATED_AT = '2026-11-25T00:00:00.000Z';

type Signer =
  | { privateKey: KeyObject }
  | { sign<T extends ManifestInput | Manifest>(m: T): T & { signature: NonNullable<Manifest['signature']> } };

export interface BuildDefaultRecommenderOptions {
  dataFile?: string;
  epochs?: number;
  seed?: number;
  createdAt?: string;
  /** progress lines (data file used, holdout metrics); library code prints nothing unless given one */
  log?: (line: string) => void;
}

export function defaultAi4iFile(): { path: string; sample: boolean } {
  const env = process.env.EDGELOOP_AI4I_CSV;
  if (env) return { path: env, sample: false };
  const root = join(import.meta.dirname, '..', '..');
  const shared = join(root, '..', 'shared', 'data', 'ai4i', 'ai4i2020-dev.csv');
  if (existsSync(shared)) return { path: shared, sample: false };
  return { path: join(root, 'test', 'fixtures', 'ai4i', 'ai4i-sample.csv'), sample: true };
}

export async function buildDefaultRecommender(
  outDir: string,
  signer: Signer,
  opts: BuildDefaultRecommenderOptions = {},
): Promise<void> {
  const log = opts.log ?? (() => {});
  const found = opts.dataFile ? { path: opts.dataFile, sample: false } : defaultAi4iFile();
  if (found.sample)
    log(
      `recommender: AI4I development data not found; training on the small fixture ${found.path} (set EDGELOOP_AI4I_CSV)`,
    );
  const data = parseAi4iCsv(readFileSync(found.path, 'utf8'), found.path);
  const { kept: train, held: test } = splitByUdi(data, 0.2, TEST_SALT);
  const trained = await trainRecommender(train, { epochs: opts.epochs ?? 150, seed: opts.seed ?? 1 });
  try {
    const holdout = evaluateTrained(trained, test);
    const exported = await exportRecommender(trained, {
      version: DEFAULT_RECOMMENDER_VERSION,
      createdAt: buildCreatedAt(opts.createdAt, DEFAULT_CREATED_AT),
      sampleRaw: test.raw,
      sampleRows: test.rows,
      holdout,
      training: {
        data: found.sample ? 'test/fixtures/ai4i/ai4i-sample.csv' : 'AI4I 2020 development part',
        dataRows: data.rows,
        holdout: 0.2,
        holdoutRows: test.rows,
      },
    });
    const manifest =
      'sign' in signer ? signer.sign(exported.manifest) : signManifest(exported.manifest, signer.privateKey);
    writeModelDir(outDir, { onnx: exported.onnx, manifest });
    log(
      `recommender: holdout macro-F1 ${holdout.macroF1.toFixed(3)} (without RNF ${holdout.macroF1NoRnf.toFixed(3)}), binary F1 ${holdout.binaryFailure.f1.toFixed(3)}, hit@1 ${holdout.hitAt1.toFixed(3)}, parity ${exported.parityMaxError.toExponential(1)}`,
    );
  } finally {
    trained.dispose();
  }
}
