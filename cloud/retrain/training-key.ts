/**
 * The cloud's training key: the ed25519 key that signs the manifests of models the cloud trains itself. It lives
 * in the cloud's data directory (`<dataDir>/retrain/keys/training.key`, mode 0600, and `training.pub`), is created
 * on first use and is never part of the repository. Agents and the registry trust it once `training.pub` is in
 * their trusted keys (docs/retrain.md, "Trusting the training key").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { keyIdOf, readPrivateKey, writeSigningKey } from '../../models/manifest/index.ts';

export const TRAINING_KEY_NAME = 'training';

export interface TrainingKey {
  privateKey: KeyObject;
  keyId: string;
  publicPath: string;
  created: boolean;
}

export function trainingKeyPaths(keyDir: string): { privatePath: string; publicPath: string } {
  return {
    privatePath: join(keyDir, `${TRAINING_KEY_NAME}.key`),
    publicPath: join(keyDir, `${TRAINING_KEY_NAME}.pub`),
  };
}

/** The training key of `keyDir`, created when there is none. */
export function loadTrainingKey(keyDir: string): TrainingKey {
  const { privatePath, publicPath } = trainingKeyPaths(keyDir);
  let created = false;
  if (!existsSync(privatePath)) {
    writeSigningKey(keyDir, TRAINING_KEY_NAME);
    created = true;
  }
  const privateKey = readPrivateKey(privatePath);
  return { privateKey, keyId: keyIdOf(privateKey), publicPath, created };
}
