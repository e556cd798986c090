/** Model manifests: signing keys, signatures, model directories. See docs/models.md ("Manifests and signing"). */
export {
  TrustedKeyRing,
  generateSigningKey,
  keyIdOf,
  readPrivateKey,
  readPublicKey,
  toPrivateKey,
  toPublicKey,
  writeSigningKey,
} from './keys.ts';
export type { KeyInput, SigningKeyPair } from './keys.ts';
export { createSigner, manifestSigningBytes, signManifest, trustedKeySet, verifyManifest } from './sign-manifest.ts';
export type { ManifestSigner, VerifiedManifest } from './sign-manifest.ts';
export {
  MANIFEST_FILE,
  describeArtifact,
  readModelDir,
  sha256Hex,
  verifyModelDir,
  writeModelDir,
} from './model-dir.ts';
export type { VerifiedModelDir, VerifyModelDirOptions } from './model-dir.ts';
