/**
 * ModelVerifier: what the updater trusts. A desired manifest's signature is checked against the trusted keys before
 * anything is downloaded; a model directory's sha256 and signature are checked on disk before it is activated. The
 * test vector runs in the fresh session of ModelHost.activate().
 */
import type { KeyObject } from 'node:crypto';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest, type Manifest } from '../../protocol/manifest.ts';
import type { ModelDesiredMessage } from '../../protocol/messages.ts';
import { verifyManifest, verifyModelDir, type VerifiedModelDir } from '../../models/manifest/index.ts';

export interface ModelVerifierOptions {
  /** keyId → public key; a TrustedKeyRing re-reads its key directories when a manifest names an unknown key */
  trustedKeys: Map<string, KeyObject>;
  /** refuse unsigned manifests (false still checks signed ones) */
  requireSignature: boolean;
}

export class ModelVerifier {
  readonly #o: ModelVerifierOptions;

  constructor(opts: ModelVerifierOptions) {
    this.#o = opts;
  }

  /** The manifest a desired-model message carries, its signature checked, naming the model and version of the message. */
  desiredManifest(name: string, desired: ModelDesiredMessage): Manifest {
    const source = `desired manifest of ${name}@${desired.version}`;
    const unsignedOk =
      !this.#o.requireSignature && (desired.manifest as { signature?: unknown }).signature === undefined;
    const manifest = unsignedOk
      ? parseManifest(desired.manifest, source)
      : verifyManifest(desired.manifest, this.#o.trustedKeys, source).manifest;
    if (manifest.name !== name || manifest.version !== desired.version) {
      throw new EdgeloopError(
        'EL_ERR_UPDATE_REJECTED',
        `desired ${name}@${desired.version} carries the manifest of ${manifest.name}@${manifest.version}`,
      );
    }
    return manifest;
  }

  /** sha256 + signature of a model directory on disk; throws when it does not verify (or does not exist). */
  modelDir(dir: string): VerifiedModelDir {
    return verifyModelDir(dir, { trustedKeys: this.#o.trustedKeys, requireSignature: this.#o.requireSignature });
  }
}
